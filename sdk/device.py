"""On-device benchmark through adb: push an artifact, run the Android demo's BenchmarkActivity, pull the result.

    python -m sdk.device bench --model dist/mosi/executorch/model_fp32.pte [--serial SERIAL]
        [--iterations 200] [--warmup 20] [--modalities audio,video,text] [--threads 1] [--out DIR]
    python -m sdk.device report results.json [--out DIR]

`bench` needs `adb` on PATH, one connected device (or --serial) and the demo app installed
(android_demo/README.md, "Run it on your phone"). It pushes the artifact and its manifest to
/data/local/tmp/emoedge/, starts the activity headless with the same extras as
`adb shell am start ... --es model ... --ei iterations ... --ei warmup ... --es modalities ...`,
waits for the result file, pulls it and renders it like `report`.

`report` renders a saved result (the JSON list of metric records the app writes, see
android_demo/core BenchmarkReport.kt): a Markdown table (stdout and OUT.md) and a plot
(OUT.png). Latency statistics and energy are recomputed from the raw samples in the file
with the same definitions as the app (sdk.bench.latency_stats, sdk.energy), and a
mismatch is reported.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sdk.bench import latency_stats
from sdk.energy import EnergyError, energy_per_inference

PACKAGE = "ai.emoedge.demo"
ACTIVITY = f"{PACKAGE}/.BenchmarkActivity"
REMOTE_DIR = "/data/local/tmp/emoedge"
REMOTE_RESULT = f"/sdcard/Android/data/{PACKAGE}/files/bench/result.json"


class DeviceError(RuntimeError):
    """Something about adb, the device or the app that the user must fix; the message says what."""


# ------------------------------------------------------------------ adb plumbing
def adb_path() -> str:
    path = shutil.which("adb")
    if path is None:
        raise DeviceError("adb not found on PATH; install Android platform-tools "
                          "(https://developer.android.com/tools/releases/platform-tools) and add it to PATH")
    return path


def adb(args: list[str], serial: str | None = None, timeout: float = 120, check: bool = True) -> str:
    command = [adb_path(), *(["-s", serial] if serial else []), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise DeviceError(f"`{' '.join(command)}` timed out after {timeout:.0f} s") from err
    if check and done.returncode != 0:
        raise DeviceError(f"`{' '.join(command)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def pick_device(serial: str | None) -> str:
    """The serial to use: --serial if connected, else the only device; clear errors otherwise."""
    lines = adb(["devices"]).splitlines()
    devices = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 2:
            devices[parts[0]] = parts[1]
    ready = [s for s, state in devices.items() if state == "device"]
    if serial:
        if serial not in devices:
            raise DeviceError(f"device {serial} is not connected; connected: {sorted(devices) or 'none'}")
        if devices[serial] != "device":
            raise DeviceError(f"device {serial} is {devices[serial]}: unlock it and accept the USB debugging prompt")
        return serial
    if not ready:
        extra = f" ({', '.join(f'{s}: {st}' for s, st in devices.items())})" if devices else ""
        raise DeviceError(f"no device connected{extra}; plug in a phone with USB debugging on and check `adb devices`")
    if len(ready) > 1:
        raise DeviceError(f"several devices connected ({', '.join(ready)}); choose one with --serial")
    return ready[0]


def bench(model: Path, serial: str | None, iterations: int, warmup: int, modalities: str | None, threads: int,
          allow_charging: bool, timeout: float = 900) -> list[dict]:
    model = Path(model)
    manifest = model.with_name(model.name + ".json")
    if not model.is_file() or not manifest.is_file():
        raise DeviceError(f"{model}: artifact or its manifest {manifest.name} not found; export with `python -m export`")
    serial = pick_device(serial)
    if PACKAGE not in adb(["shell", "pm", "list", "packages", PACKAGE], serial, check=False):
        raise DeviceError(f"the demo app ({PACKAGE}) is not installed on {serial}; build and install it "
                          "(android_demo/README.md: `./gradlew :app:installRelease`)")
    adb(["shell", "mkdir", "-p", REMOTE_DIR], serial)
    adb(["push", str(model), f"{REMOTE_DIR}/{model.name}"], serial, timeout=300)
    adb(["push", str(manifest), f"{REMOTE_DIR}/{manifest.name}"], serial)
    adb(["shell", "rm", "-f", REMOTE_RESULT], serial, check=False)
    extras = ["--es", "model", f"{REMOTE_DIR}/{model.name}", "--ei", "iterations", str(iterations),
              "--ei", "warmup", str(warmup), "--ei", "threads", str(threads)]
    if modalities:
        extras += ["--es", "modalities", modalities]
    if allow_charging:
        extras += ["--ez", "allow_charging", "true"]
    adb(["shell", "am", "start", "-W", "-n", ACTIVITY, *extras], serial)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = adb(["shell", "cat", REMOTE_RESULT], serial, check=False)
        if text.strip():
            try:
                result = json.loads(text)
            except json.JSONDecodeError:
                time.sleep(1)  # written atomically; a partial read means the rename is racing us
                continue
            if isinstance(result, dict) and "error" in result:
                raise DeviceError(f"the benchmark on {serial} failed: {result['error']}")
            return result
        time.sleep(2)
    raise DeviceError(f"no result after {timeout:.0f} s; see `adb -s {serial} logcat -s EmoedgeBench`")


# ------------------------------------------------------------------ rendering
def load_records(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DeviceError(f"{path}: cannot read a benchmark result ({err})") from err
    if isinstance(data, dict) and "error" in data:
        raise DeviceError(f"{path}: the benchmark failed on the device: {data['error']}")
    if not isinstance(data, list) or not all(isinstance(r, dict) and "metric" in r for r in data):
        raise DeviceError(f"{path}: not a list of metric records from the Android BenchmarkActivity")
    return data


def summarize(records: list[dict]) -> list[dict]:
    """One row per (model, runtime, precision, modalities): metrics, device, flags, and the recomputed checks."""
    rows: dict[tuple, dict] = {}
    for r in records:
        key = (r.get("model"), r.get("runtime"), r.get("precision"), ",".join(r.get("modalities", [])))
        row = rows.setdefault(key, {"model": key[0], "runtime": key[1], "precision": key[2], "modalities": key[3],
                                    "iterations": r.get("iterations"), "device": r.get("device", {}),
                                    "flags": list(r.get("flags", [])), "checks": []})
        if r["metric"] == "latency_samples":
            row["samples_ms"] = r.get("samples", [])
        elif r["metric"] == "battery_samples":
            row["battery"] = r.get("samples", {})
        else:
            row[r["metric"]] = r.get("value")
    for row in rows.values():
        if row.get("samples_ms"):
            stats = latency_stats(row["samples_ms"])
            for q in ("p50_ms", "p90_ms", "p99_ms"):
                if row.get(q) is not None and abs(stats[q] - row[q]) > 1e-6 * max(1.0, abs(stats[q])):
                    row["checks"].append(f"{q}: device {row[q]:.4f} vs host {stats[q]:.4f}")
        battery = row.get("battery") or {}
        if row.get("energy_mj_per_inference") is not None and battery.get("run") and battery.get("idle"):
            try:
                host = energy_per_inference(battery["run"], battery["idle"], row["iterations"])["joules_per_inference"]
                if abs(host * 1e3 - row["energy_mj_per_inference"]) > 1e-6 * max(1.0, abs(host * 1e3)):
                    row["checks"].append(f"energy: device {row['energy_mj_per_inference']:.4f} mJ vs host {host * 1e3:.4f}")
            except EnergyError as err:
                row["checks"].append(f"energy samples: {err}")
    return list(rows.values())


def format_markdown(rows: list[dict]) -> str:
    def f(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    devices = {json.dumps(r["device"], sort_keys=True) for r in rows}
    lines = []
    for d in sorted(devices):
        info = json.loads(d)
        lines.append("Device: " + ", ".join(f"{k} {v}" for k, v in info.items() if v is not None))
    lines += ["", "| Model | Runtime | Precision | Modalities | load ms | first ms | p50 ms | p90 ms | p99 ms | "
              "PSS MB | mJ / inference | thermal before→after | flags |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flags = "; ".join(r["flags"] + [f"⚠ {c}" for c in r["checks"]]) or "—"
        thermal = f"{r.get('thermal_status_before', '—')}→{r.get('thermal_status_after', '—')}"
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['modalities']} | {f(r.get('load_ms'), 0)} | "
                     f"{f(r.get('first_inference_ms'))} | {f(r.get('p50_ms'), 3)} | {f(r.get('p90_ms'), 3)} | "
                     f"{f(r.get('p99_ms'), 3)} | {f(r.get('pss_mb'), 1)} | {f(r.get('energy_mj_per_inference'), 3)} | "
                     f"{thermal} | {flags} |")
    lines += ["", "p50/p90/p99: steady-state inferences after warm-up (linear interpolation between ranks). "
              "Energy: battery current × voltage during the run minus an idle baseline of the same length. "
              "Thermal: PowerManager.THERMAL_STATUS_* (0 none … 6 shutdown)."]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("p50_ms") is not None]
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(rows), 1) + 1.5))
    labels = [f"{r['runtime']} {r['precision']} ({r['modalities']})" for r in rows]
    y = list(range(len(rows)))
    p50 = [r["p50_ms"] for r in rows]
    p90 = [r.get("p90_ms") or r["p50_ms"] for r in rows]
    p99 = [r.get("p99_ms") or r["p50_ms"] for r in rows]
    ax.barh(y, p50, color="#3b7dd8", label="p50")
    ax.errorbar(p50, y, xerr=[[0] * len(rows), [b - a for a, b in zip(p50, p90)]], fmt="none", ecolor="black",
                capsize=3, label="p90")
    ax.scatter(p99, y, marker="|", color="red", s=120, label="p99")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per inference on the device")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(records: list[dict], out: Path) -> str:
    rows = summarize(records)
    markdown = format_markdown(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown + "\n")
    plot(rows, out.with_suffix(".png"))
    return markdown


# ------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.device", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="run the benchmark on a connected phone")
    b.add_argument("--model", type=Path, required=True, help="an exported artifact with its manifest beside it")
    b.add_argument("--serial", help="device serial (`adb devices`); needed when several are connected")
    b.add_argument("--iterations", type=int, default=200)
    b.add_argument("--warmup", type=int, default=20)
    b.add_argument("--modalities", help="comma-separated modalities present (default: all)")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--allow-charging", action="store_true", help="run while charging (energy is then not reported)")
    b.add_argument("--out", type=Path, default=Path("runs/device"), help="directory for result.json/.md/.png")
    r = sub.add_parser("report", help="render a saved result")
    r.add_argument("result", type=Path)
    r.add_argument("--out", type=Path, help="directory for the .md/.png (default: beside the result)")
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            if args.iterations < 1 or args.warmup < 0 or args.threads < 1:
                parser.error("--iterations and --threads must be >= 1, --warmup >= 0")
            records = bench(args.model, args.serial, args.iterations, args.warmup, args.modalities, args.threads,
                            args.allow_charging)
            from export.manifest import write_json_atomic

            out = args.out / "result.json"
            write_json_atomic(out, records)
        else:
            records = load_records(args.result)
            out = (args.out / args.result.name) if args.out else args.result
        print(render(records, out))
        print(f"\nwrote {out.with_suffix('.md')}, {out.with_suffix('.png')}" + (f", {out}" if args.command == "bench" else ""))
        return 0
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
