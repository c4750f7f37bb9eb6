"""sdk.device: report rendering from a result file, and the adb error paths (a stand-in `adb` script on PATH is
used only for the plumbing and error messages; no on-device numbers come from it)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sdk import device


def records(p50_samples=(1.0, 2.0, 3.0, 4.0), energy_mj=120.0, flags=()):
    base = {"model": "model_fp32.pte", "runtime": "executorch", "precision": "fp32", "modalities": ["audio", "text"],
            "iterations": 4, "warmup": 1, "flags": list(flags), "device": {"manufacturer": "x", "model": "y"}}
    battery = {"run": [{"t_ms": t * 100.0, "current_ua": -400000.0, "voltage_mv": 4000.0} for t in range(5)],
               "idle": [{"t_ms": t * 100.0, "current_ua": -100000.0, "voltage_mv": 4000.0} for t in range(5)]}
    metrics = [("load_ms", 12.5), ("first_inference_ms", 3.25), ("p50_ms", 2.5), ("p90_ms", 3.7), ("p99_ms", 3.97),
               ("pss_mb", 20.0), ("energy_mj_per_inference", energy_mj), ("thermal_status_before", 0),
               ("thermal_status_after", 1)]
    out = [{"metric": m, "value": v, "unit": "", **base} for m, v in metrics]
    out.append({"metric": "latency_samples", "value": None, "samples": list(p50_samples), **base})
    out.append({"metric": "battery_samples", "value": None, "samples": battery, **base})
    return out


def test_report_renders_a_table_and_a_plot(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(records()))
    assert device.main(["report", str(path)]) == 0
    markdown = (tmp_path / "result.md").read_text()
    assert "| model_fp32.pte | executorch | fp32 | audio,text | 12 | 3.25 | 2.500 | 3.700 | 3.970 | 20.0 | 120.000 | 0→1 | — |" \
        in markdown
    assert (tmp_path / "result.png").stat().st_size > 1000


def test_report_flags_numbers_that_disagree_with_the_raw_samples(tmp_path):
    rows = device.summarize(records(p50_samples=(1.0, 2.0, 3.0, 10.0), energy_mj=99.0))
    checks = rows[0]["checks"]
    assert any(c.startswith("p90_ms") for c in checks) and any(c.startswith("energy") for c in checks)
    assert "⚠" in device.format_markdown(rows)


def test_report_refuses_what_is_not_a_result(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"error": "IllegalStateException: the phone is charging"}')
    assert device.main(["report", str(bad)]) == 2
    assert "charging" in capsys.readouterr().err
    bad.write_text("[1, 2]")
    with pytest.raises(device.DeviceError, match="metric records"):
        device.load_records(bad)


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """An `adb` on PATH that answers `devices` and `pm list packages` from files, and logs every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "adb"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path}/calls
case "$*" in
  *devices*) cat {tmp_path}/devices ;;
  *"pm list packages"*) cat {tmp_path}/packages 2>/dev/null || true ;;
  *"cat /sdcard"*) cat {tmp_path}/result 2>/dev/null ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def artifact(tmp_path: Path) -> Path:
    model = tmp_path / "model_fp32.pte"
    model.write_bytes(b"pte")
    (tmp_path / "model_fp32.pte.json").write_text("{}")
    return model


def test_missing_adb_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert device.main(["bench", "--model", str(artifact(tmp_path))]) == 2
    assert "adb not found on PATH" in capsys.readouterr().err


@pytest.mark.parametrize("devices, serial, message", [
    ("List of devices attached\n\n", None, "no device connected"),
    ("List of devices attached\nAAA\tunauthorized\n\n", None, "no device connected (AAA: unauthorized)"),
    ("List of devices attached\nAAA\tdevice\nBBB\tdevice\n\n", None, "several devices connected (AAA, BBB)"),
    ("List of devices attached\nAAA\tdevice\n\n", "CCC", "device CCC is not connected"),
    ("List of devices attached\nAAA\tunauthorized\n\n", "AAA", "accept the USB debugging prompt"),
])
def test_device_selection_errors(fake_adb, devices, serial, message):
    (fake_adb / "devices").write_text(devices)
    with pytest.raises(device.DeviceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        device.pick_device(serial)


def test_app_not_installed(fake_adb):
    (fake_adb / "devices").write_text("List of devices attached\nAAA\tdevice\n\n")
    with pytest.raises(device.DeviceError, match="demo app .* is not installed"):
        device.bench(artifact(fake_adb), None, 10, 1, None, 1, False)


def test_bench_pushes_starts_the_activity_with_extras_and_reports_device_errors(fake_adb):
    (fake_adb / "devices").write_text("List of devices attached\nAAA\tdevice\n\n")
    (fake_adb / "packages").write_text("package:ai.emoedge.demo\n")
    (fake_adb / "result").write_text('{"error": "IllegalStateException: the phone is charging: unplug it"}')
    with pytest.raises(device.DeviceError, match="charging"):
        device.bench(artifact(fake_adb), None, 50, 5, "audio,text", 2, False, timeout=5)
    calls = (fake_adb / "calls").read_text()
    assert "-s AAA push" in calls and "model_fp32.pte.json" in calls
    assert ("shell am start -W -n ai.emoedge.demo/.BenchmarkActivity --es model /data/local/tmp/emoedge/model_fp32.pte "
            "--ei iterations 50 --ei warmup 5 --ei threads 2 --es modalities audio,text") in calls


def test_bench_needs_the_manifest_beside_the_artifact(tmp_path):
    model = tmp_path / "x.pte"
    model.write_bytes(b"x")
    with pytest.raises(device.DeviceError, match="manifest"):
        device.bench(model, None, 1, 0, None, 1, False)
