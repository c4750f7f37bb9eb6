"""The one on-device result format (Android and iOS), its table and its plots.

A result is a JSON list of metric records (ExecuTorch minibench's shape). Every record has
"metric", "value", "unit" and the run's identity: "schema" (SCHEMA), "platform" (android|ios),
"model", "runtime", "delegate" (the delegate/execution provider that actually ran, as the runtime
reported it), "accelerator" (what the run asked for: cpu, gpu, npu on Android; the Core ML compute
units on iOS), "delegated_fraction" (share of graph nodes inside delegate partitions, from the
export's manifest; null where the runtime partitions at load time and says nothing), "precision", "modalities", "threads", "duration_s", "block_s", "screen",
"flags", "device".

Metrics: cold_start_ms (am start -W -S TotalTime), load_ms, first_inference_ms, p50_ms, p90_ms,
p99_ms, trimmed_mean_ms, mean_ms, inferences, pss_change_mb, pss_peak_mb, thermal_status_max,
thermal_headroom_max, energy_mj_per_inference (with uncertainty_mj, source, energy: the per-block
detail). Raw data, value null and "samples": latency_samples (ms), blocks ([{kind, start_ms,
end_ms, inferences}] in boot-time ms), thermal_samples ([{t_ms, status, headroom, pss_kb}]),
power_samples ({source, rails: {name: [[t_ms, µWs]]}}), battery_samples ([{t_ms, current_ua,
voltage_mv}], with "plugged"). The report recomputes latency statistics and energy from the raw
data with the same definitions (sdk.bench.latency_stats, trimmed_mean, sdk.energy) and flags a
mismatch.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sdk.bench import StatsError, latency_stats
from sdk.energy import energy_from_sources

SCHEMA = "emoedge.bench/2"
TRIM = 0.1
THERMAL = "PowerManager.THERMAL_STATUS_* (0 none, 1 light, 2 moderate, 3 severe, 4 critical, 5 emergency, 6 shutdown)"


class DeviceError(RuntimeError):
    """Something about adb, the device, the app or a result file that the user must fix; the message says what."""


def trimmed_mean(samples, proportion: float = TRIM) -> float:
    """Mean after dropping floor(proportion * n) samples from each end of the sorted samples
    (scipy.stats.trim_mean's definition; the Kotlin core's LatencyStats.trimmedMeanMs)."""
    x = sorted(float(v) for v in samples)
    if not x:
        raise StatsError("no latency samples; run at least one iteration", "no_samples")
    cut = int(math.floor(proportion * len(x)))
    kept = x[cut:len(x) - cut]
    return sum(kept) / len(kept)


def load_records(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DeviceError(f"{path}: cannot read a benchmark result ({err})") from err
    if isinstance(data, dict) and "error" in data:
        raise DeviceError(f"{path}: the benchmark failed on the device: {data['error']}")
    if not isinstance(data, list) or not all(isinstance(r, dict) and "metric" in r for r in data):
        raise DeviceError(f"{path}: not a list of metric records (python -m sdk.device bench or convert-xctest "
                          "writes them)")
    return data


def _key(r: dict) -> tuple:
    return (r.get("platform", "android"), r.get("model"), r.get("runtime"), r.get("delegate"), r.get("precision"),
            ",".join(r.get("modalities", [])), r.get("run_id"))


def summarize(records: list[dict]) -> list[dict]:
    """One row per run: its metrics, raw data and the host's recomputation checks."""
    rows: dict[tuple, dict] = {}
    for r in records:
        key = _key(r)
        row = rows.setdefault(key, {"platform": key[0], "model": key[1], "runtime": key[2], "delegate": key[3],
                                    "precision": key[4], "modalities": key[5], "device": r.get("device", {}),
                                    "delegated_fraction": r.get("delegated_fraction"), "screen": r.get("screen"),
                                    "flags": [], "checks": [], "power": {}})
        for flag in r.get("flags", []):
            if flag not in row["flags"]:
                row["flags"].append(flag)
        metric = r["metric"]
        if metric == "latency_samples":
            row["samples_ms"] = r.get("samples") or []
        elif metric == "blocks":
            row["blocks"] = r.get("samples") or []
        elif metric == "thermal_samples":
            row["thermal"] = r.get("samples") or []
        elif metric == "power_samples":
            row["power"][r["samples"]["source"]] = r["samples"]["rails"]
        elif metric == "battery_samples":
            row["battery"], row["plugged"] = r.get("samples") or [], bool(r.get("plugged"))
        elif metric == "energy_mj_per_inference":
            row.update(energy_mj=r.get("value"), energy_uncertainty_mj=r.get("uncertainty_mj"),
                       energy_source=r.get("source"), energy_notes=r.get("energy_notes", []))
        else:
            row[metric] = r.get("value")
    for row in rows.values():
        _check(row)
    return list(rows.values())


def _check(row: dict) -> None:
    def differs(a, b):
        return a is not None and b is not None and abs(a - b) > 1e-6 * max(1.0, abs(b))

    if row.get("samples_ms"):
        stats = latency_stats(row["samples_ms"])
        stats["trimmed_mean_ms"] = trimmed_mean(row["samples_ms"])
        for q in ("p50_ms", "p90_ms", "p99_ms", "trimmed_mean_ms"):
            if differs(row.get(q), stats[q]):
                row["checks"].append(f"{q}: device {row[q]:.4f} vs host {stats[q]:.4f}")
            row.setdefault(q, stats[q])
    if row.get("blocks") and (row["power"] or row.get("battery")):
        energy, _ = energy_from_sources(row["blocks"], row["power"], row.get("battery"), row.get("plugged", False))
        if energy is None and row.get("energy_mj") is not None:
            row["checks"].append("energy: no source recomputes the reported value")
        elif energy is not None:
            if energy["source"] != row.get("energy_source") or differs(row.get("energy_mj"), energy["mj_per_inference"]):
                row["checks"].append(f"energy: reported {row.get('energy_mj')} mJ ({row.get('energy_source')}) vs "
                                     f"host {energy['mj_per_inference']:.4f} mJ ({energy['source']})")
    for note in row.get("energy_notes", []):
        if note not in row["flags"]:
            row["flags"].append(note)


def _f(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def format_markdown(rows: list[dict]) -> str:
    lines = []
    for d in sorted({json.dumps(r["device"], sort_keys=True) for r in rows}):
        lines.append("Device: " + ", ".join(f"{k} {v}" for k, v in json.loads(d).items() if v is not None))
    lines += ["", "| Platform | Model | Runtime | Delegate (share) | Precision | Modalities | cold start ms | load ms | "
              "first ms | p50 ms | p90 ms | p99 ms | trimmed mean ms | inferences | PSS Δ / peak MB | "
              "mJ / inference | energy source | thermal max / headroom max | screen | flags |",
              "|" + "---|" * 20]
    for r in rows:
        delegate = r["delegate"] or "—"
        if r.get("delegated_fraction") is not None:
            delegate += f" ({100 * r['delegated_fraction']:.0f} %)"
        energy = "—" if r.get("energy_mj") is None else (
            f"{r['energy_mj']:.3f}" + ("" if r.get("energy_uncertainty_mj") is None
                                       else f" ± {r['energy_uncertainty_mj']:.3f}"))
        screen = r.get("screen")
        screen = "—" if not screen else ", ".join(f"{k} {v}" for k, v in screen.items())
        flags = "; ".join(r["flags"] + [f"⚠ {c}" for c in r["checks"]]) or "—"
        lines.append(
            f"| {r['platform']} | {r['model']} | {r['runtime']} | {delegate} | {r['precision']} | {r['modalities']} | "
            f"{_f(r.get('cold_start_ms'), 0)} | {_f(r.get('load_ms'), 0)} | {_f(r.get('first_inference_ms'))} | "
            f"{_f(r.get('p50_ms'), 3)} | {_f(r.get('p90_ms'), 3)} | {_f(r.get('p99_ms'), 3)} | "
            f"{_f(r.get('trimmed_mean_ms'), 3)} | {r.get('inferences') if r.get('inferences') is not None else '—'} | "
            f"{_f(r.get('pss_change_mb'), 1)} / {_f(r.get('pss_peak_mb'), 1)} | {energy} | "
            f"{r.get('energy_source') or '—'} | {_f(r.get('thermal_status_max'), 0)} / "
            f"{_f(r.get('thermal_headroom_max'), 2)} | {screen} | {flags} |")
    lines += ["", f"Latency: steady-state inferences in the run blocks; p50/p90/p99 by linear interpolation between "
              f"ranks; trimmed mean drops {int(TRIM * 100)} % at each end. Energy: (run − idle) / inferences per run "
              "block, idle = the neighbouring idle blocks of the same length; ± is the standard error over blocks. "
              f"Thermal: {THERMAL}; headroom: PowerManager.getThermalHeadroom (1.0 = throttling)."]
    return "\n".join(lines)


def _label(r: dict) -> str:
    return f"{r['runtime']}/{r['delegate'] or '?'} {r['precision']} ({r['platform']})"


def plot(rows: list[dict], stem: Path) -> list[Path]:
    """Three figures beside `stem`: _latency.png, _energy.png, _thermal.png (only those with data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdk.atomic import save_figure

    def finish(fig, suffix: str) -> Path:
        """Lay out, save STEM_<suffix>.png atomically, close the figure."""
        fig.tight_layout()
        path = stem.with_name(f"{stem.name}_{suffix}.png")
        save_figure(fig, path, dpi=120)
        plt.close(fig)
        return path

    written = []
    with_samples = [r for r in rows if r.get("samples_ms")]
    if with_samples:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(with_samples) + 1.8))
        ax.boxplot([r["samples_ms"] for r in with_samples], orientation="horizontal", whis=(1, 99), showfliers=True,
                   flierprops={"markersize": 2})
        ax.set_yticks(range(1, len(with_samples) + 1), [_label(r) for r in with_samples])
        ax.set_xlabel("ms per inference (box p25–p75, whiskers p1–p99)")
        ax.set_title("Latency distribution per backend")
        written.append(finish(fig, "latency"))
    with_energy = [r for r in rows if r.get("energy_mj") is not None]
    if with_energy:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(with_energy) + 1.8))
        y = range(len(with_energy))
        ax.barh(y, [r["energy_mj"] for r in with_energy], color="#3b7dd8",
                xerr=[r.get("energy_uncertainty_mj") or 0 for r in with_energy], capsize=4)
        ax.set_yticks(y, [f"{_label(r)}\n[{r['energy_source']}]" for r in with_energy], fontsize=8)
        ax.set_xlabel("mJ per inference (run − idle); error bar: standard error over run blocks")
        ax.set_title("Energy per inference")
        written.append(finish(fig, "energy"))
    with_thermal = [r for r in rows if r.get("thermal")]
    if with_thermal:
        fig, (status_ax, headroom_ax) = plt.subplots(2, 1, sharex=True, figsize=(7, 4.5))
        for r in with_thermal:
            t0 = r["thermal"][0]["t_ms"]
            t = [(s["t_ms"] - t0) / 1000 for s in r["thermal"]]
            status_ax.step(t, [s.get("status") for s in r["thermal"]], where="post", label=_label(r))
            headroom_ax.plot(t, [s.get("headroom") if s.get("headroom") is not None else float("nan")
                                 for s in r["thermal"]], label=_label(r))
            for b in r.get("blocks", []):
                if b["kind"] == "run":
                    headroom_ax.axvspan((b["start_ms"] - t0) / 1000, (b["end_ms"] - t0) / 1000, color="0.9")
        status_ax.set_ylabel("thermal status")
        headroom_ax.set_ylabel("thermal headroom")
        headroom_ax.set_xlabel("s since the first sample (grey: run blocks)")
        status_ax.legend(fontsize=7, loc="upper left")
        status_ax.set_title("Temperature over the run")
        written.append(finish(fig, "thermal"))
    return written


def render(records: list[dict], out: Path) -> tuple[str, list[Path]]:
    """The Markdown table (also written to OUT.md) and the plots; returns (table, files written)."""
    from sdk.atomic import write_text

    rows = summarize(records)
    markdown = format_markdown(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    write_text(md, markdown + "\n")
    return markdown, [md, *plot(rows, out.with_suffix(""))]


# ------------------------------------------------------------------ iOS
MEASURED = re.compile(r"Test Case '-\[\S+ (\w+)\]' measured \[([^\]]+)\] average: ([0-9.]+), "
                      r"relative standard deviation: ([0-9.]+)%, values: \[([^\]]*)\]")


def _json_objects(text: str):
    """Top-level JSON objects printed in a log (the benchmark prints each BenchmarkReport)."""
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
            yield obj
            i = text.find("{", end)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)


def convert_xctest(log: str, name: str = "log") -> list[dict]:
    """xcodebuild test output of ios_demo's ArtifactBenchmarkTests -> the result format.

    Each BenchmarkReport JSON the test prints becomes one run (load, first inference, percentiles,
    peak memory, thermal state; raw samples are not in the iOS report, so nothing is recomputed), and
    XCTest's `measured [...]` lines (XCTClockMetric, XCTMemoryMetric, XCTCPUMetric) become records of
    their own with every value. Energy: an iPhone app cannot read power (flagged)."""
    records = []
    for obj in _json_objects(log):
        if not (isinstance(obj, dict) and "backend" in obj and "latency" in obj):
            continue
        device = obj.get("device", {})
        base = {"schema": SCHEMA, "platform": "ios", "model": obj.get("artifact"), "runtime": obj.get("format"),
                "delegate": obj.get("delegate") or obj.get("backend"), "accelerator": obj.get("compute_units"),
                "delegated_fraction": obj.get("delegated_fraction"), "precision": obj.get("precision"),
                "modalities": [], "warmup": obj.get("warmup_runs"), "screen": None,
                "flags": ["energy: not readable by an iPhone app (use Xcode's Energy gauge or an external monitor)"],
                "device": {"model": device.get("model"), "system": f"{device.get('system_name', '')} "
                                                                   f"{device.get('system_version', '')}".strip()}}
        latency = obj["latency"]
        for metric, value, unit in (
                ("load_ms", obj.get("load_ms"), "ms"), ("first_inference_ms", obj.get("first_ms"), "ms"),
                ("p50_ms", latency.get("p50_ms"), "ms"), ("p90_ms", latency.get("p90_ms"), "ms"),
                ("p99_ms", latency.get("p99_ms"), "ms"), ("mean_ms", latency.get("mean_ms"), "ms"),
                ("inferences", latency.get("count"), "count"), ("pss_peak_mb", obj.get("peak_memory_mb"), "MB"),
                ("thermal_state", obj.get("thermal_state"), "ProcessInfo.ThermalState"),
                ("energy_mj_per_inference", obj.get("millijoules_per_inference"), "mJ")):
            records.append({"metric": metric, "value": value, "unit": unit, **base})
    for test, what, average, rsd, values in MEASURED.findall(log):
        records.append({"metric": f"xctest {what}", "value": float(average), "unit": what, "schema": SCHEMA,
                        "platform": "ios", "model": test, "runtime": "xctest", "delegate": None, "precision": None,
                        "modalities": [], "flags": [f"relative standard deviation {rsd} %"], "device": {},
                        "samples": [float(v) for v in values.split(",") if v.strip()]})
    if not records:
        raise DeviceError(f"{name}: no BenchmarkReport JSON and no XCTest `measured [...]` line; pass the output of "
                          "`xcodebuild test ... -only-testing:EmoEdgeBenchmarks` (ios_demo/README.md)")
    return records
