"""On-device benchmark through adb: a fresh app process per run, fixed-duration run/idle blocks, energy.

    python -m sdk.device bench --model dist/x/model_fp32.pte [--model dist/x/model.tflite ...]
        [--serial SERIAL] [--duration 30] [--block 5] [--warmup 20] [--repeat 1]
        [--modalities audio,video,text] [--threads 1] [--energy auto|none] [--out DIR]
    python -m sdk.device report result.json [more.json ...] [--out DIR]
    python -m sdk.device convert-xctest xcodebuild.log --out ios_result.json

`bench` needs `adb` on PATH, one device (or --serial) and the demo app installed (android_demo/README.md).
Per model and repeat (the protocol of ExecuTorch's minibench, plus blocks, energy and thermal state):

1. push the artifact and its manifest to /data/local/tmp/emoedge/;
2. start a Perfetto trace of the `android.power` data source (power rails, battery counters);
3. `adb shell am start -W -S` BenchmarkActivity: -S kills any running app process first, so every
   run is a cold start; `am start`'s TotalTime is the cold-start time;
4. the app loads the model (timed; the artifact is not hashed on this path), runs one first inference
   (timed), a warm-up, then `duration` seconds of inference in run blocks of `block` seconds, each
   between idle blocks of the same length (idle, run, idle, ..., run, idle), with the screen kept on
   and recorded; it samples PSS, thermal status, PowerManager.getThermalHeadroom, the power monitors
   (API 35+) and BatteryManager on a side thread; it writes one result file;
5. the host stops the trace, pulls both, computes energy per inference from the best source
   (sdk.energy.energy_from_sources: in-app power rails, Perfetto rails, then the battery gauge only
   when unplugged) and writes result.json (a JSON list of metric records, sdk/device_report.py).

Before the first run a plugged-in phone (USB counts) must offer a power-rail source: API 35+
(in-app power monitors) or rails in a 2 s Perfetto probe; otherwise bench stops with an error
saying how to measure (unplug and use wireless adb: `adb pair`, `adb connect`), or `--energy none`.

`report` prints the table and draws the plots of saved results; `convert-xctest` turns the iOS
benchmark's xcodebuild output into the same result format.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sdk.device_report import (SCHEMA, DeviceError, convert_xctest, load_records, render)
from sdk.energy import energy_from_sources
from sdk.power_trace import REMOTE_TRACE, TraceError, read_power_trace, trace_config

PACKAGE = "ai.emoedge.demo"
ACTIVITY = f"{PACKAGE}/.BenchmarkActivity"
REMOTE_DIR = "/data/local/tmp/emoedge"
REMOTE_RESULT = f"/sdcard/Android/data/{PACKAGE}/files/bench/result.json"
REMOTE_CONFIG = f"{REMOTE_DIR}/power.pbtxt"
POWER_MONITOR_API = 35  # SystemHealthManager.getPowerMonitorReadings

__all__ = ["DeviceError", "bench", "pick_device", "main", "load_records", "render"]


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
    devices = {}
    for line in adb(["devices"]).splitlines()[1:]:
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
        if any(state == "unauthorized" for state in devices.values()):
            raise DeviceError("no device connected (" + ", ".join(f"{s}: {st}" for s, st in devices.items()) +
                              "); unlock the phone and accept the USB debugging prompt, then check `adb devices`")
        extra = f" ({', '.join(f'{s}: {st}' for s, st in devices.items())})" if devices else ""
        raise DeviceError(f"no device connected{extra}; plug in a phone with USB debugging on (or `adb connect` it "
                          "over Wi-Fi) and check `adb devices`")
    if len(ready) > 1:
        raise DeviceError(f"several devices connected ({', '.join(ready)}); choose one with --serial")
    return ready[0]


def device_state(serial: str) -> dict:
    """API level, whether a charger/USB powers the phone, and the screen state, from getprop/dumpsys."""
    sdk_text = adb(["shell", "getprop", "ro.build.version.sdk"], serial, check=False).strip()
    battery = adb(["shell", "dumpsys", "battery"], serial, check=False)
    powered = [kind for kind in ("AC", "USB", "Wireless", "Dock")
               if re.search(rf"^\s*{kind} powered:\s*true", battery, re.M)]
    power = adb(["shell", "dumpsys", "power"], serial, check=False)
    wake = re.search(r"mWakefulness=(\w+)", power)
    return {"sdk_int": int(sdk_text) if sdk_text.isdigit() else None, "plugged": powered,
            "wakefulness": wake.group(1) if wake else None}


# ------------------------------------------------------------------ Perfetto
def start_power_trace(serial: str, duration_ms: int) -> str | None:
    """Start `perfetto --background` with the android.power config; its PID, or None if perfetto is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "power.pbtxt"
        config.write_text(trace_config(duration_ms))
        adb(["push", str(config), REMOTE_CONFIG], serial)
    adb(["shell", "rm", "-f", REMOTE_TRACE], serial, check=False)
    # Perfetto reads the config from stdin: SELinux keeps it from opening files in /data/local/tmp on Android <= 11.
    out = adb(["shell", f"cat {REMOTE_CONFIG} | perfetto --background --txt -c - -o {REMOTE_TRACE}"], serial,
              check=False).strip()
    pid = out.splitlines()[-1].strip() if out else ""
    return pid if pid.isdigit() else None


def stop_power_trace(serial: str, pid: str, local: Path, timeout: float = 30) -> dict | None:
    """SIGTERM ends the trace cleanly (perfetto writes the buffer out); pull it and read the power packets."""
    adb(["shell", "kill", "-TERM", pid], serial, check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = subprocess.run([adb_path(), "-s", serial, "shell", "kill", "-0", pid], capture_output=True)
        if alive.returncode != 0:
            break
        time.sleep(0.5)
    try:
        adb(["pull", REMOTE_TRACE, str(local)], serial, timeout=120)
        return read_power_trace(local)
    except (DeviceError, TraceError, OSError) as err:
        return {"error": f"Perfetto trace not read: {err}"}


def probe_rails(serial: str, seconds: float = 2.0) -> bool:
    """A short Perfetto trace: does this phone's power HAL report any rail?"""
    pid = start_power_trace(serial, int(seconds * 1000) + 1000)
    if pid is None:
        return False
    time.sleep(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        trace = stop_power_trace(serial, pid, Path(tmp) / "probe.pftrace")
    return bool(trace and trace.get("rails"))


# ------------------------------------------------------------------ the protocol
def wait_result(serial: str, timeout: float) -> list[dict]:
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
        time.sleep(1)
    raise DeviceError(f"no result after {timeout:.0f} s; see `adb -s {serial} logcat -s EmoedgeBench`")


def cold_start_ms(am_output: str) -> float | None:
    match = re.search(r"^TotalTime:\s*(\d+)", am_output, re.M)
    return float(match.group(1)) if match else None


def host_records(app: list[dict], cold_ms: float | None, trace: dict | None, state: dict,
                 manifest: dict, energy_wanted: bool) -> list[dict]:
    """The app's records, plus what only the host knows: cold start, Perfetto rails, the chosen energy."""
    base = {k: v for k, v in app[0].items() if k not in ("metric", "value", "unit", "samples")}
    delegation = (manifest.get("notes") or {}).get("delegation") or {}
    if base.get("delegated_fraction") is None:  # an app that records null (ONNX, LiteRT) or nothing (older apps)
        base["delegated_fraction"] = delegation.get("delegated_fraction")
    base["host"] = {"plugged": state["plugged"], "wakefulness": state["wakefulness"], "sdk_int": state["sdk_int"]}
    by_metric = {r["metric"]: r for r in app}
    out = []
    for record in app:
        if record["metric"] != "energy_mj_per_inference":
            record = dict(record, host=base["host"])
            if record.get("delegated_fraction") is None:
                record["delegated_fraction"] = base["delegated_fraction"]
            out.append(record)
    out.append({"metric": "cold_start_ms", "value": cold_ms, "unit": "ms (am start -W -S TotalTime)", **base})
    trace_notes = [trace["error"]] if trace and "error" in trace else []
    if trace and "error" in trace:
        trace = None
    if trace is not None:
        out.append({"metric": "power_samples", "value": None, "unit": "t_ms/µWs cumulative", **base,
                    "samples": {"source": "perfetto_rails", "rails": trace["rails"]}})
        if trace["battery"] and "battery_samples" not in by_metric:
            out.append({"metric": "battery_samples", "value": None, "unit": "t_ms/current_ua/voltage_mv", **base,
                        "samples": trace["battery"], "plugged": bool(state["plugged"])})
    blocks = (by_metric.get("blocks") or {}).get("samples") or []
    power = {r["samples"]["source"]: r["samples"]["rails"] for r in out if r["metric"] == "power_samples"}
    battery_record = next((r for r in out if r["metric"] == "battery_samples"), None)
    plugged = bool(state["plugged"]) or bool(battery_record and battery_record.get("plugged"))
    energy, notes = (energy_from_sources(blocks, power, battery_record and battery_record["samples"], plugged)
                     if energy_wanted and blocks else (None, ["energy not requested (--energy none)"]))
    notes = trace_notes + notes
    app_energy = by_metric.get("energy_mj_per_inference", {})
    out.append({"metric": "energy_mj_per_inference", "value": energy and energy["mj_per_inference"], "unit": "mJ",
                **base, "uncertainty_mj": energy and energy["uncertainty_mj"], "source": energy and energy["source"],
                "energy": energy, "energy_notes": notes, "app_value": app_energy.get("value"),
                "app_source": app_energy.get("source")})
    return out


def bench(models: list[Path], serial: str | None = None, duration_s: float = 30, block_s: float = 5,
          warmup: int = 20, modalities: str | None = None, threads: int = 1, energy: str = "auto",
          repeat: int = 1, timeout: float | None = None, work: Path | None = None,
          accelerator: str | None = None) -> list[dict]:
    """Run BenchmarkActivity once per model and repeat; `accelerator` (cpu, gpu, npu; default: what the
    artifact is built for) is passed to the app, which picks the delegate or execution provider from it
    and the manifest (core AcceleratorPlan) and records what ran."""
    models = [Path(m) for m in models]
    manifests = []
    for model in models:
        manifest = model.with_name(model.name + ".json")
        if not model.is_file() or not manifest.is_file():
            raise DeviceError(f"{model}: artifact or its manifest {manifest.name} not found; export with `python -m export`")
        try:
            manifests.append(json.loads(manifest.read_text()))
        except json.JSONDecodeError as err:
            raise DeviceError(f"{manifest}: not JSON ({err}); export the model again") from err
    if not (duration_s > 0 and 0 < block_s <= duration_s):
        raise DeviceError(f"--duration {duration_s} and --block {block_s}: need 0 < block <= duration")
    serial = pick_device(serial)
    if PACKAGE not in adb(["shell", "pm", "list", "packages", PACKAGE], serial, check=False):
        raise DeviceError(f"the demo app ({PACKAGE}) is not installed on {serial}; build and install it "
                          "(android_demo/README.md: `./gradlew :app:installRelease`)")
    state = device_state(serial)
    wanted = energy != "none"
    if wanted and state["plugged"] and (state["sdk_int"] or 0) < POWER_MONITOR_API and not probe_rails(serial):
        raise DeviceError(
            f"{serial} is charging ({', '.join(state['plugged'])} powered) and has no power-rail source (API "
            f"{state['sdk_int']} < {POWER_MONITOR_API} has no in-app power monitors, and a Perfetto android.power "
            "trace shows no rails): battery current is meaningless while plugged in. Measure energy over wireless "
            "adb with the cable out (`adb pair HOST:PORT`, `adb connect HOST:PORT`, then --serial HOST:PORT), "
            "or pass --energy none for latency, memory and thermal only")
    blocks = max(1, round(duration_s / block_s))
    run_seconds = warmup * 0.5 + (2 * blocks + 1) * block_s + 60
    timeout = timeout or run_seconds + 120
    work = Path(work or tempfile.mkdtemp(prefix="emoedge-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    records = []
    adb(["shell", "mkdir", "-p", REMOTE_DIR], serial)
    for model, manifest in zip(models, manifests):
        adb(["push", str(model), f"{REMOTE_DIR}/{model.name}"], serial, timeout=300)
        adb(["push", str(model.with_name(model.name + ".json")), f"{REMOTE_DIR}/{model.name}.json"], serial)
        for r in range(repeat):
            adb(["shell", "rm", "-f", REMOTE_RESULT], serial, check=False)
            pid = start_power_trace(serial, int(timeout * 1000)) if wanted else None
            extras = ["--es", "model", f"{REMOTE_DIR}/{model.name}", "--ei", "duration_s", str(int(duration_s)),
                      "--ei", "block_s", str(int(block_s)), "--ei", "warmup", str(warmup), "--ei", "threads",
                      str(threads), "--ez", "energy", str(wanted).lower()]
            if modalities:
                extras += ["--es", "modalities", modalities]
            if accelerator:
                extras += ["--es", "accelerator", accelerator]
            try:
                started = adb(["shell", "am", "start", "-W", "-S", "-n", ACTIVITY, *extras], serial)
                if "Error" in started:
                    raise DeviceError(f"`am start` failed on {serial}: {started.strip()}")
                app = wait_result(serial, timeout)
            finally:
                trace = stop_power_trace(serial, pid, work / f"{model.name}.{r}.pftrace") if pid else None
            if not isinstance(app, list) or not app or not all(isinstance(x, dict) and "metric" in x for x in app):
                raise DeviceError(f"the app on {serial} wrote no metric records; update the app "
                                  "(android_demo/README.md) so its result schema is " + SCHEMA)
            out = host_records(app, cold_start_ms(started), trace, state, manifest, wanted)
            energy_record = out[-1]
            if wanted and energy_record["value"] is None and state["plugged"]:
                raise DeviceError(f"{serial} is charging and no power-rail source produced readings over the run: "
                                  + "; ".join(energy_record["energy_notes"]) + ". Measure over wireless adb with the "
                                  "cable out (`adb pair`, `adb connect`), or pass --energy none")
            records += out
    return records


# ------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.device", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="run the benchmark on a connected phone")
    b.add_argument("--model", type=Path, action="append", required=True,
                   help="an exported artifact with its manifest beside it (repeat to compare backends)")
    b.add_argument("--serial", help="device serial (`adb devices`); needed when several are connected")
    b.add_argument("--duration", type=int, default=30, help="seconds of timed inference (default 30)")
    b.add_argument("--block", type=int, default=5, help="seconds per run block, each between idle blocks (default 5)")
    b.add_argument("--warmup", type=int, default=20)
    b.add_argument("--repeat", type=int, default=1, help="fresh-process runs per model (default 1)")
    b.add_argument("--modalities", help="comma-separated modalities present (default: all)")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--accelerator", choices=("cpu", "gpu", "npu"),
                   help="what the app asks its runtime for (android_demo/README.md); default: the artifact's own")
    b.add_argument("--energy", choices=("auto", "none"), default="auto",
                   help="auto: best source (rails in the app, rails in Perfetto, battery gauge if unplugged)")
    b.add_argument("--out", type=Path, default=Path("runs/device"), help="directory for result.json/.md/.png")
    r = sub.add_parser("report", help="print the table and draw the plots of saved results")
    r.add_argument("result", type=Path, nargs="+")
    r.add_argument("--out", type=Path, help="directory for the .md/.png (default: beside the first result)")
    x = sub.add_parser("convert-xctest", help="the iOS benchmark's xcodebuild output as a result file")
    x.add_argument("log", type=Path)
    x.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from sdk.atomic import write_json

    try:
        if args.command == "bench":
            if args.warmup < 0 or args.threads < 1 or args.repeat < 1:
                parser.error("--threads and --repeat must be >= 1, --warmup >= 0")
            records = bench(args.model, args.serial, args.duration, args.block, args.warmup, args.modalities,
                            args.threads, args.energy, args.repeat, work=args.out / "traces",
                            accelerator=args.accelerator)
            out = args.out / "result.json"
            write_json(out, records)
        elif args.command == "convert-xctest":
            records = convert_xctest(args.log.read_text(errors="replace"), str(args.log))
            write_json(args.out, records)
            print(f"wrote {args.out} ({len(records)} records)")
            return 0
        else:
            records = [rec for path in args.result for rec in load_records(path)]
            first = args.result[0]
            out = (args.out / first.name) if args.out else first
        markdown, written = render(records, out)
        print(markdown)
        print("\nwrote " + ", ".join(map(str, written)) + (f", {out}" if args.command == "bench" else ""))
        return 0
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
