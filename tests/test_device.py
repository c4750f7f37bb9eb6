"""sdk.device end to end against a stand-in phone: tests/fake_adb.py on PATH (answers from files the test writes)
and a synthetic Perfetto trace written with the trace protobufs the `perfetto` package ships. The energy numbers
below are the ones the test put into the trace, recovered by the real parsing and block arithmetic; no
on-device number comes from here (no phone on this machine)."""
from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from sdk import device, device_report
from sdk.bench import latency_stats
from sdk.energy import LONG_MIN, EnergyError, battery_series, block_energy, energy_from_sources, rails_series
from sdk.power_trace import read_power_trace, trace_config, write_synthetic_trace

ROOT = Path(__file__).resolve().parent.parent
BOOT0 = 100_000.0  # boot-time ms at the first idle block
BLOCK_S = 5
RUN_BLOCKS = 4
IDLE_W = {"S4M_VDD_CPUCORE": 0.30, "S2S_VDD_G3D": 0.10, "S10M_VDD_TPU": 0.05}
EXTRA_W = [2.0, 2.2, 1.9, 2.1]  # extra CPU power of each run block above idle
INFERENCES = [1000, 1020, 990, 1010]


def blocks(inferences=INFERENCES) -> list[dict]:
    out, t = [], BOOT0
    for i in range(RUN_BLOCKS):
        out.append({"kind": "idle", "start_ms": t, "end_ms": t + BLOCK_S * 1000, "inferences": 0})
        t += BLOCK_S * 1000
        out.append({"kind": "run", "start_ms": t, "end_ms": t + BLOCK_S * 1000, "inferences": inferences[i]})
        t += BLOCK_S * 1000
    out.append({"kind": "idle", "start_ms": t, "end_ms": t + BLOCK_S * 1000, "inferences": 0})
    return out


def rail_power(rail: str, t_ms: float) -> float:
    power = IDLE_W[rail]
    for i, b in enumerate(b for b in blocks() if b["kind"] == "run"):
        if rail == "S4M_VDD_CPUCORE" and b["start_ms"] <= t_ms < b["end_ms"]:
            power += EXTRA_W[i]
    return power


def synthetic_rails(step_ms: float = 250) -> dict[str, list[tuple[float, float]]]:
    """Cumulative µWs per rail every step_ms from 2 s before the first block to 2 s after the last."""
    start, end = BOOT0 - 2000, blocks()[-1]["end_ms"] + 2000
    times = np.arange(start, end + step_ms, step_ms)
    rails = {}
    for rail in IDLE_W:
        energy, points = 0.0, [(float(times[0]), 0.0)]
        for t0, t1 in zip(times, times[1:]):
            energy += rail_power(rail, t0) * (t1 - t0) / 1000 * 1e6
            points.append((float(t1), energy))
        rails[rail] = points
    return rails


def expected_mj(inferences=INFERENCES) -> tuple[float, float]:
    per_inference = np.array([w * BLOCK_S / n for w, n in zip(EXTRA_W, inferences)]) * 1e3
    return float(per_inference.mean()), float(per_inference.std(ddof=1) / math.sqrt(len(per_inference)))


def battery_samples(current_ua=-450_000.0, voltage_mv=3900.0, run_extra_ua=-500_000.0) -> list[dict]:
    runs = [b for b in blocks() if b["kind"] == "run"]
    out = []
    for t in np.arange(BOOT0 - 1000, blocks()[-1]["end_ms"] + 1000, 500.0):
        running = any(b["start_ms"] <= t < b["end_ms"] for b in runs)
        out.append({"t_ms": float(t), "current_ua": current_ua + (run_extra_ua if running else 0.0),
                    "voltage_mv": voltage_mv})
    return out


def app_result(model="model_fp32.pte", runtime="executorch", delegate="xnnpack", power_monitor=None,
               battery=None, plugged=False, inferences=INFERENCES, latency_ms=3.0) -> list[dict]:
    """What BenchmarkActivity writes (android_demo/core BenchmarkReport.kt, schema emoedge.bench/2)."""
    rng = np.random.default_rng(0)
    samples = (latency_ms + rng.gamma(2.0, 0.1 * latency_ms, size=sum(inferences))).round(4).tolist()
    base = {"schema": device_report.SCHEMA, "platform": "android", "model": model, "runtime": runtime,
            "delegate": delegate, "precision": "fp32", "modalities": ["audio", "video", "text"], "threads": 1,
            "duration_s": BLOCK_S * RUN_BLOCKS, "block_s": BLOCK_S, "warmup": 20,
            "screen": {"interactive": True, "brightness": 102, "keep_on": True}, "flags": [],
            "device": {"manufacturer": "Fake", "model": "Phone 1", "sdk_int": 34}}
    thermal = [{"t_ms": BOOT0 + 1000 * i, "status": 0 if i < 25 else 1, "headroom": 0.40 + 0.01 * i,
                "pss_kb": 61_000 + 20 * i} for i in range(46)]
    metrics = [("load_ms", 41.5, "ms"), ("first_inference_ms", 9.25, "ms"),
               ("inferences", sum(inferences), "count"), ("pss_change_mb", 12.5, "MB"), ("pss_peak_mb", 60.4, "MB"),
               ("thermal_status_max", 1, "status"), ("thermal_headroom_max", 0.85, "headroom")]
    stats = latency_stats(samples)
    metrics += [(q, stats[q], "ms") for q in ("p50_ms", "p90_ms", "p99_ms", "mean_ms")]
    metrics.append(("trimmed_mean_ms", device_report.trimmed_mean(samples), "ms"))
    out = [{"metric": m, "value": v, "unit": u, **base} for m, v, u in metrics]
    out.append({"metric": "latency_samples", "value": None, "unit": "ms", "samples": samples, **base})
    out.append({"metric": "blocks", "value": None, "unit": "boot-time ms", "samples": blocks(inferences), **base})
    out.append({"metric": "thermal_samples", "value": None, "unit": "t_ms/status/headroom/pss_kb",
                "samples": thermal, **base})
    if power_monitor:
        out.append({"metric": "power_samples", "value": None, "unit": "t_ms/µWs", **base,
                    "samples": {"source": "power_monitor", "rails": power_monitor}})
    if battery:
        out.append({"metric": "battery_samples", "value": None, "unit": "t_ms/current_ua/voltage_mv",
                    "samples": battery, "plugged": plugged, **base})
    return out


# ------------------------------------------------------------------ energy arithmetic and units
def test_block_energy_recovers_the_power_put_into_the_rails():
    energy = block_energy(blocks(), rails_series(synthetic_rails(), "perfetto_rails"))
    mean, stderr = expected_mj()
    assert energy["mj_per_inference"] == pytest.approx(mean, rel=1e-9)
    assert energy["uncertainty_mj"] == pytest.approx(stderr, rel=1e-9)
    assert energy["idle_power_w"] == pytest.approx(sum(IDLE_W.values()), rel=1e-9)
    assert energy["run_blocks"] == RUN_BLOCKS and energy["inferences"] == sum(INFERENCES)


def test_battery_units_and_signs():
    plain, notes = battery_series(battery_samples(), plugged=False)
    assert notes == []
    ma, notes = battery_series(battery_samples(-450.0, 3900.0, -500.0), plugged=False)
    assert any("mA" in n for n in notes)
    uv, notes = battery_series(battery_samples(voltage_mv=3_900_000.0), plugged=False)
    assert any("µV" in n for n in notes)
    flipped, notes = battery_series(battery_samples(450_000.0, run_extra_ua=500_000.0), plugged=False)
    assert any("inverts the sign" in n for n in notes)
    for series in (ma, uv, flipped):
        assert block_energy(blocks(), series)["mj_per_inference"] == pytest.approx(
            block_energy(blocks(), plain)["mj_per_inference"], rel=1e-9)
    # 0.5 A x 3.9 V extra for 5 s over n inferences; the trapezoid over 500 ms samples smears each block edge
    # over half a sample period (0.25 s of 5 s on each side: about 10 % low), as a real gauge's period does.
    assert block_energy(blocks(), plain)["mj_per_inference"] == pytest.approx(
        np.mean([0.5 * 3.9 * BLOCK_S / n * 1e3 for n in INFERENCES]), rel=0.15)
    unsupported = [dict(s, current_ua=float(LONG_MIN)) for s in battery_samples()]
    with pytest.raises(EnergyError, match="unsupported") as err:
        battery_series(unsupported, plugged=False)
    assert err.value.kind == "unsupported"
    with pytest.raises(EnergyError, match="plugged in") as err:
        battery_series(battery_samples(), plugged=True)
    assert err.value.kind == "charging"
    with pytest.raises(EnergyError, match="outside 2,500..5,500 mV"):
        battery_series(battery_samples(voltage_mv=1200.0), plugged=False)


def test_sources_in_priority_order():
    rails = {k: [[t, e] for t, e in v] for k, v in synthetic_rails().items()}
    doubled = {k: [[t, 2 * e] for t, e in v] for k, v in rails.items()}
    energy, _ = energy_from_sources(blocks(), {"power_monitor": doubled, "perfetto_rails": rails}, battery_samples())
    assert energy["source"] == "power_monitor" and energy["mj_per_inference"] == pytest.approx(2 * expected_mj()[0])
    energy, _ = energy_from_sources(blocks(), {"perfetto_rails": rails}, battery_samples())
    assert energy["source"] == "perfetto_rails"
    energy, notes = energy_from_sources(blocks(), {}, battery_samples(), plugged=True)
    assert energy is None and any("plugged in" in n for n in notes)
    short = {k: v[:10] for k, v in rails.items()}  # readings that stop before the blocks: next source
    energy, notes = energy_from_sources(blocks(), {"perfetto_rails": short}, battery_samples())
    assert energy["source"] == "battery_manager" and "perfetto_rails not used" in notes[0]


def test_power_trace_round_trip(tmp_path):
    rails = synthetic_rails()
    write_synthetic_trace(tmp_path / "t.pftrace", rails, battery_samples()[:5])
    trace = read_power_trace(tmp_path / "t.pftrace")
    assert sorted(trace["rails"]) == sorted(rails)
    for name, points in rails.items():
        assert np.allclose(trace["rails"][name], points, atol=0.5)
    assert trace["battery"][0] == {"t_ms": BOOT0 - 1000, "current_ua": -450_000.0, "voltage_mv": 3900.0}
    # the config sdk.device sends to `perfetto --txt -c -` is a valid TraceConfig for the shipped protos
    from google.protobuf import text_format
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2

    config = text_format.Parse(trace_config(60_000), perfetto_trace_pb2.TraceConfig())
    power = config.data_sources[0].config
    assert power.name == "android.power" and power.android_power_config.collect_power_rails
    assert power.android_power_config.battery_poll_ms == 250 and config.duration_ms == 60_000
    with pytest.raises(ValueError, match="poll_ms must be >= 100"):
        trace_config(1000, poll_ms=10)
    (tmp_path / "bad").write_bytes(b"\xff\xff\xff not a trace")
    with pytest.raises(Exception, match="not a Perfetto trace"):
        read_power_trace(tmp_path / "bad")


def test_perfetto_trace_processor_would_download_its_shell():
    """Why sdk.power_trace reads the protobufs itself: TraceProcessor fetches trace_processor_shell at run time."""
    import perfetto.trace_processor.platform as platform

    assert platform.SHELL_URL.startswith("https://")


# ------------------------------------------------------------------ the fake phone
@pytest.fixture
def phone(tmp_path, monkeypatch):
    state = tmp_path / "phone"
    state.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "adb"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fake_adb.py"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_STATE", str(state))
    (state / "devices").write_text("List of devices attached\nAAA\tdevice\n\n")
    (state / "packages").write_text("package:ai.emoedge.demo\n")
    return state


def artifact(tmp_path: Path, name="model_fp32.pte", fraction=0.97) -> Path:
    model = tmp_path / name
    model.write_bytes(b"pte")
    (tmp_path / f"{name}.json").write_text(json.dumps({"notes": {"delegation": {"delegated_fraction": fraction}}}))
    return model


def test_bench_end_to_end_with_perfetto_rails_while_plugged_in(phone, tmp_path, capsys):
    """USB-powered phone, API 34 (no in-app power monitors): the 2 s Perfetto probe finds rails, the run goes on,
    and energy comes from the rails in the trace."""
    (phone / "sdk").write_text("34")
    (phone / "battery").write_text("  AC powered: false\n  USB powered: true\n")
    write_synthetic_trace(phone / "trace.pftrace", synthetic_rails())
    (phone / "app_result.json").write_text(json.dumps(app_result()))
    gpu_inferences = [2 * n for n in INFERENCES]
    (phone / "app_result.model_fp32.tflite.json").write_text(json.dumps(app_result(
        "model_fp32.tflite", "litert", "gpu", inferences=gpu_inferences, latency_ms=1.5)))
    out = tmp_path / "out"
    assert device.main(["bench", "--model", str(artifact(tmp_path)), "--model",
                        str(artifact(tmp_path, "model_fp32.tflite", 1.0)), "--duration", "20", "--block", "5",
                        "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    print(printed)
    calls = (phone / "calls").read_text()
    assert ("shell am start -W -S -n ai.emoedge.demo/.BenchmarkActivity --es model /data/local/tmp/emoedge/"
            "model_fp32.pte --ei duration_s 20 --ei block_s 5 --ei warmup 20 --ei threads 1 --ez energy true") in calls
    assert calls.count("perfetto --background --txt -c -") == 3  # the probe, then one per run
    assert calls.count("am start -W -S") == 2  # a fresh process per run
    records = device_report.load_records(out / "result.json")
    by_metric = {r["metric"]: r for r in records if r["model"] == "model_fp32.pte"}
    mean, stderr = expected_mj()
    energy = by_metric["energy_mj_per_inference"]
    assert energy["source"] == "perfetto_rails"
    assert energy["value"] == pytest.approx(mean, rel=1e-6) and energy["uncertainty_mj"] == pytest.approx(stderr, rel=1e-6)
    assert by_metric["cold_start_ms"]["value"] == 812
    assert energy["host"]["plugged"] == ["USB"]
    rows = device_report.summarize(records)
    assert [r["checks"] for r in rows] == [[], []] and rows[0]["delegated_fraction"] == 0.97
    assert rows[1]["energy_mj"] == pytest.approx(expected_mj(gpu_inferences)[0], rel=1e-6)
    assert "| android | model_fp32.tflite | litert | gpu (100 %) | fp32 |" in printed
    assert f"{mean:.3f} ± {stderr:.3f} | perfetto_rails" in printed
    assert "| android | model_fp32.pte | executorch | xnnpack (97 %) | fp32 | audio,video,text | 812 | 42 | 9.25 |" \
        in printed
    for suffix in ("latency", "energy", "thermal"):
        assert (out / f"result_{suffix}.png").stat().st_size > 5000
    # report re-renders the saved result without a mismatch; tampering with a number is flagged
    assert device.main(["report", str(out / "result.json"), "--out", str(tmp_path / "again")]) == 0
    assert "⚠" not in capsys.readouterr().out
    energy = next(r for r in records if r["metric"] == "energy_mj_per_inference")
    energy["value"] *= 1.1
    for r in records:
        if r["metric"] == "p90_ms" and r["model"] == "model_fp32.pte":
            r["value"] += 1
    (tmp_path / "tampered.json").write_text(json.dumps(records))
    assert device.main(["report", str(tmp_path / "tampered.json")]) == 0
    printed = capsys.readouterr().out
    assert "⚠ p90_ms: device" in printed and "⚠ energy: reported" in printed


def test_in_app_power_monitors_come_first(phone, tmp_path):
    (phone / "sdk").write_text("35")
    (phone / "battery").write_text("  USB powered: true\n")
    rails = synthetic_rails()
    monitors = {k: [[t, 2 * e] for t, e in v] for k, v in rails.items()}
    write_synthetic_trace(phone / "trace.pftrace", rails)
    (phone / "app_result.json").write_text(json.dumps(app_result(power_monitor=monitors)))
    records = device.bench([artifact(tmp_path)], duration_s=20, block_s=5, work=tmp_path / "w")
    energy = next(r for r in records if r["metric"] == "energy_mj_per_inference")
    assert energy["source"] == "power_monitor" and energy["value"] == pytest.approx(2 * expected_mj()[0], rel=1e-6)
    assert "perfetto --background" in (phone / "calls").read_text()  # the trace still runs (kept in the result)
    assert {r["samples"]["source"] for r in records if r["metric"] == "power_samples"} == {"power_monitor",
                                                                                           "perfetto_rails"}


def test_unplugged_over_wireless_adb_falls_back_to_the_battery_gauge(phone, tmp_path):
    (phone / "devices").write_text("List of devices attached\n192.168.1.20:5555\tdevice\n\n")
    (phone / "no_perfetto").write_text("1")
    (phone / "app_result.json").write_text(json.dumps(app_result(battery=battery_samples(-450.0, 3900.0, -500.0))))
    records = device.bench([artifact(tmp_path)], duration_s=20, block_s=5, work=tmp_path / "w")
    energy = next(r for r in records if r["metric"] == "energy_mj_per_inference")
    assert energy["source"] == "battery_manager" and energy["value"] > 0
    assert any("mA" in n for n in energy["energy_notes"])
    assert "mA" in device_report.format_markdown(device_report.summarize(records))


def test_the_accelerator_reaches_the_app_and_results_record_what_ran(phone, tmp_path):
    """`--accelerator gpu` becomes `--es accelerator gpu` on `am start` (issue 18). The app's accelerator,
    delegate and share of the graph stay in every record; an app record with a null share (LiteRT's GPU
    partitions on the phone) is filled from the manifest's notes.delegation only where export wrote one."""
    (phone / "app_result.json").write_text(json.dumps(
        [dict(r, accelerator="gpu", delegated_fraction=None) for r in app_result(delegate="VulkanBackend")]))
    records = device.bench([artifact(tmp_path, "model_fp32_vulkan.pte", fraction=0.9989)], duration_s=20,
                           block_s=5, energy="none", work=tmp_path / "w", accelerator="gpu")
    assert "--es accelerator gpu" in (phone / "calls").read_text()
    assert {r["accelerator"] for r in records} == {"gpu"}
    assert {r["delegated_fraction"] for r in records} == {0.9989}
    assert "| VulkanBackend (100 %) |" in device_report.format_markdown(device_report.summarize(records))
    (phone / "app_result.json").write_text(json.dumps(
        [dict(r, accelerator="npu", delegated_fraction=None) for r in app_result(model="model_fp32.tflite",
                                                                                 runtime="litert",
                                                                                 delegate="litert-npu")]))
    model = tmp_path / "model_fp32.tflite"
    model.write_bytes(b"tflite")
    (tmp_path / "model_fp32.tflite.json").write_text(json.dumps({"notes": {}}))
    records = device.bench([model], duration_s=20, block_s=5, energy="none", work=tmp_path / "w2", accelerator="npu")
    assert {r["delegated_fraction"] for r in records} == {None}
    assert "| litert-npu |" in device_report.format_markdown(device_report.summarize(records))


# ------------------------------------------------------------------ one test per error message
def test_missing_adb_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert device.main(["bench", "--model", str(artifact(tmp_path))]) == 2
    assert "adb not found on PATH" in capsys.readouterr().err


@pytest.mark.parametrize("devices, serial, message", [
    ("List of devices attached\n\n", None, "no device connected; plug in a phone"),
    ("List of devices attached\nAAA\tunauthorized\n\n", None, "accept the USB debugging prompt"),
    ("List of devices attached\nAAA\tdevice\nBBB\tdevice\n\n", None, "several devices connected (AAA, BBB); choose"),
    ("List of devices attached\nAAA\tdevice\n\n", "CCC", "device CCC is not connected"),
    ("List of devices attached\nAAA\tunauthorized\n\n", "AAA", "device AAA is unauthorized"),
], ids=["no device", "unauthorized", "several devices", "unknown serial", "serial unauthorized"])
def test_device_selection_errors(phone, tmp_path, capsys, devices, serial, message):
    (phone / "devices").write_text(devices)
    argv = ["bench", "--model", str(artifact(tmp_path))] + (["--serial", serial] if serial else [])
    assert device.main(argv) == 2
    assert message in capsys.readouterr().err


def test_app_missing(phone, tmp_path, capsys):
    (phone / "packages").write_text("")
    assert device.main(["bench", "--model", str(artifact(tmp_path))]) == 2
    assert "demo app (ai.emoedge.demo) is not installed on AAA" in capsys.readouterr().err


def test_charging_with_no_rail_source_stops_before_the_run(phone, tmp_path, capsys):
    (phone / "sdk").write_text("33")
    (phone / "battery").write_text("  AC powered: false\n  USB powered: true\n")
    write_synthetic_trace(phone / "trace.pftrace", {}, battery_samples())  # battery counters, no rails
    (phone / "app_result.json").write_text(json.dumps(app_result()))
    assert device.main(["bench", "--model", str(artifact(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "is charging (USB powered) and has no power-rail source" in err and "adb connect" in err
    assert "am start" not in (phone / "calls").read_text()
    # --energy none measures the rest
    assert device.main(["bench", "--model", str(artifact(tmp_path)), "--energy", "none", "--out",
                        str(tmp_path / "o")]) == 0


def test_charging_api35_without_monitor_readings_is_refused_after_the_run(phone, tmp_path):
    (phone / "sdk").write_text("35")
    (phone / "battery").write_text("  USB powered: true\n")
    (phone / "no_perfetto").write_text("1")
    (phone / "app_result.json").write_text(json.dumps(app_result(battery=battery_samples(), plugged=True)))
    with pytest.raises(device.DeviceError, match="charging and no power-rail source produced readings"):
        device.bench([artifact(tmp_path)], duration_s=20, block_s=5, work=tmp_path / "w")


def test_the_app_reports_an_error(phone, tmp_path):
    (phone / "app_result.json").write_text('{"error": "IllegalArgumentException: unknown modalities [x]"}')
    with pytest.raises(device.DeviceError, match="failed: IllegalArgumentException: unknown modalities"):
        device.bench([artifact(tmp_path)], energy="none", work=tmp_path / "w")


def test_activity_missing_from_an_old_app(phone, tmp_path):
    with pytest.raises(device.DeviceError, match="am start. failed on AAA: .*does not exist"):
        device.bench([artifact(tmp_path)], energy="none", work=tmp_path / "w")


def test_bench_needs_the_manifest_beside_the_artifact(tmp_path):
    model = tmp_path / "x.pte"
    model.write_bytes(b"x")
    with pytest.raises(device.DeviceError, match="manifest"):
        device.bench([model])


def test_report_refuses_what_is_not_a_result(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"error": "IllegalStateException: boom"}')
    assert device.main(["report", str(bad)]) == 2
    assert "boom" in capsys.readouterr().err
    bad.write_text("[1, 2]")
    with pytest.raises(device.DeviceError, match="metric records"):
        device.load_records(bad)


# ------------------------------------------------------------------ iOS into the same format
XCODEBUILD_LOG = """Test Suite 'EmoEdgeBenchmarks' started
{
  "artifact" : "model_fp32.pte",
  "backend" : "ExecuTorch (XNNPACK)",
  "device" : { "model" : "iPhone15,2", "system_name" : "iOS", "system_version" : "18.1" },
  "first_ms" : 7.5,
  "format" : "executorch",
  "latency" : { "count" : 200, "max_ms" : 4.1, "mean_ms" : 2.6, "min_ms" : 2.2, "p50_ms" : 2.5, "p90_ms" : 3.0,
                "p99_ms" : 3.9 },
  "load_ms" : 30.25,
  "millijoules_per_inference" : null,
  "peak_memory_mb" : 48.5,
  "precision" : "fp32",
  "sha256" : "ab",
  "thermal_state" : "nominal",
  "warmup_runs" : 10
}
Test Case '-[EmoEdgeBenchmarks.ArtifactBenchmarkTests testDefaultArtifactClockAndMemory]' measured [Clock Monotonic \
Time, s] average: 0.131, relative standard deviation: 2.100%, values: [0.130, 0.128, 0.135], \
performanceMetricID:com.apple.dt.XCTMetric_Clock.time.monotonic
"""


def test_xctest_output_converts_to_the_result_format(tmp_path, capsys):
    log = tmp_path / "bench.log"
    log.write_text(XCODEBUILD_LOG)
    assert device.main(["convert-xctest", str(log), "--out", str(tmp_path / "ios.json")]) == 0
    assert device.main(["report", str(tmp_path / "ios.json")]) == 0
    printed = capsys.readouterr().out
    assert "| ios | model_fp32.pte | executorch | ExecuTorch (XNNPACK) | fp32 |" in printed and "| 2.500 | 3.000 |" in printed
    records = device_report.load_records(tmp_path / "ios.json")
    clock = next(r for r in records if r["metric"].startswith("xctest Clock"))
    assert clock["samples"] == [0.130, 0.128, 0.135] and clock["value"] == 0.131
    log.write_text("** TEST SUCCEEDED **\n")
    assert device.main(["convert-xctest", str(log), "--out", str(tmp_path / "none.json")]) == 2


def test_trimmed_mean_definition():
    assert device_report.trimmed_mean([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]) == pytest.approx(5.5)  # drops 1 and 100
    assert device_report.trimmed_mean([3.0]) == 3.0


# ------------------------------------------------------------------ accelerators
def test_the_qnn_route_says_the_qualcomm_sdk_is_not_installed(monkeypatch, tmp_path, capsys):
    from export.__main__ import main as export_main

    monkeypatch.delenv("QNN_SDK_ROOT", raising=False)
    assert export_main(["--delegates", "qnn", "--out", str(tmp_path / "dist")]) == 2
    err = capsys.readouterr().err
    assert "the Qualcomm QNN SDK is not installed (QNN_SDK_ROOT is not set)" in err and "QnnPartitioner" in err
    assert not (tmp_path / "dist").exists()  # refused before any training or export
    monkeypatch.setenv("QNN_SDK_ROOT", str(tmp_path))
    assert export_main(["--delegates", "qnn", "--out", str(tmp_path / "dist")]) == 2
    assert "holds no lib/x86_64-linux-clang/libQnnHtp.so" in capsys.readouterr().err
