"""Packaging: the wheel runs artifacts from the base install alone, without torch.

Default suite (seconds): the wheel builds, ships the native runner's source as package data,
and its metadata keeps torch and the build-side packages out of the base requirements; the
runner builds from an unpacked wheel outside the checkout (nothing resolved relative to it).

Slow (`-m slow`, a few minutes): a fresh venv (no system site packages) gets the wheel with
its base requirements only, from the index `make install` uses (pip's own configuration);
a tiny exported .onnx and .tflite predict there with `torch` never imported; then the
`[executorch]` extra is added and a .pte predicts, again without torch. The measurements
(install time and size, peak RSS per prediction) are printed as JSON, and written to
$EMOEDGE_PACKAGING_REPORT when set.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers import unavailable

REPO = Path(__file__).resolve().parents[1]
BASE_FORBIDDEN = {"torch", "executorch", "onnx", "onnxscript", "litert-torch", "torch-pruning", "matplotlib",
                  "scikit-learn", "torchao", "silero-vad", "opencv-python-headless"}
PINS = {"executorch": "==1.5.1", "ai-edge-litert": "==2.3.0", "litert-torch": "==0.10.0",
        "torch-pruning": "==1.6.1", "torch": "==2.13.*"}


def build_wheel(out: Path) -> Path:
    """The wheel of the working tree (tracked and untracked, not ignored files), built in a copy: an
    in-tree build would leave build/ in the checkout and could pack files deleted since."""
    source = out / "source"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    wheels = sorted(out.glob("emoedge-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def requirements(metadata: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(base requirement name -> specifier, extra -> requirement strings) from a wheel's METADATA."""
    import re

    base, extras = {}, {}
    for line in metadata.splitlines():
        if line.startswith("Provides-Extra:"):
            extras.setdefault(line.split(":", 1)[1].strip(), [])
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.split(":", 1)[1].strip()
        marker = re.search(r'extra == "([^"]+)"', requirement)
        if marker:
            extras.setdefault(marker.group(1), []).append(requirement.split(";")[0].strip())
        else:
            name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower().replace("_", "-")
            base[name] = requirement[len(name):].split(";")[0].strip()
    return base, extras


def test_the_wheel_ships_the_runner_source_and_a_torch_free_base(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "sdk/runtime/csrc/et_runner.cpp" in names
    assert {"sdk/runtime/native_build.py", "sdk/runtime/manifest.py", "sdk/runtime/runners.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "native/")) or "__pycache__" in n]
    base, extras = requirements(metadata)
    assert {"numpy", "onnxruntime", "ai-edge-litert"} <= base.keys()
    assert not BASE_FORBIDDEN & base.keys(), f"the base install must not need {BASE_FORBIDDEN & base.keys()}"
    assert {"executorch", "train", "export", "all", "test"} <= extras.keys()
    assert any(r.startswith("executorch==1.5.1") for r in extras["executorch"])
    assert any(r.startswith("torch==2.13.") for r in extras["train"])
    every = " ".join(r for rs in extras.values() for r in rs) + " " + " ".join(f"{k}{v}" for k, v in base.items())
    for name, pin in PINS.items():
        assert f"{name}{pin}" in every.replace(" ", ""), f"{name} lost its pin {pin}"
    everything = {e for r in extras["all"] if r.startswith("emoedge[") for e in r[8:r.index("]")].split(",")}
    assert {"executorch", "export", "live", "train"} <= everything, extras["all"]


def test_the_makefile_installs_everything():
    install = [line for line in (REPO / "Makefile").read_text().splitlines() if "pip install" in line and "-e" in line]
    assert install and "[all,test]" in install[0], install


def test_the_native_runner_builds_from_an_unpacked_wheel_outside_the_checkout(wheel, tmp_path):
    """Package data, not the checkout: the source is found beside the installed module and the
    library goes to the per-user cache, which here is a temp directory."""
    if shutil.which("g++") is None:
        unavailable("no g++ to build the native ExecuTorch runner (apt-get install g++)")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    script = ("import ctypes, json, sys\n"
              "from sdk.runtime import native_build\n"
              "path = native_build.build_runner('x86_64')\n"
              "lib = ctypes.CDLL(str(path))\n"
              "print(json.dumps({'source': str(native_build.RUNNER_SOURCE), 'library': str(path),"
              " 'torch': 'torch' in sys.modules, 'has_et_open': hasattr(lib, 'et_open')}))\n")
    env = {**os.environ, "PYTHONPATH": str(site), "EMOEDGE_NATIVE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    built = json.loads(done.stdout.strip().splitlines()[-1])
    assert built["source"].startswith(str(site)) and built["library"].startswith(str(tmp_path / "cache"))
    assert built["has_et_open"] and not built["torch"]


# ------------------------------------------------------------------ slow: a fresh venv from the wheel
PREDICT = r"""
import json, resource, sys, time
start = time.perf_counter()
import numpy as np
from sdk import EmotionRecognizer
with EmotionRecognizer.load(sys.argv[1]) as recognizer:
    inputs = {m.name: ("not a good movie" if m.kind == "tokens"
                       else np.ones((m.seq_len, *m.step_shape()), np.float32)) for m in recognizer.spec.modalities}
    result = recognizer.predict(**inputs)
hwm = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"label": result.label, "backend": recognizer.backend, "torch": "torch" in sys.modules,
                  "peak_rss_mb": round(hwm, 1), "probe_peak_rss_mb":
                  round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                  "seconds": round(time.perf_counter() - start, 2)}))
"""


def _du_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20, 1)


def _pip_install(python: Path, requirement: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        unavailable(f"pip could not install {requirement} into a fresh venv (no package index?): "
                    f"{(done.stdout + done.stderr)[-1500:]}")
    return round(time.perf_counter() - start, 1)


def _predict(python: Path, artifact: Path, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EMOEDGE_ET_RUNNER")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([str(python), "-c", PREDICT, str(artifact)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_fresh_venv_runs_onnx_tflite_and_pte_from_the_wheel_without_torch(wheel, tmp_path):
    from tests.helpers import tiny_artifacts

    artifacts = tiny_artifacts()  # the session's tiny model in every format (shared with the other tests)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    size_empty = _du_mb(venv)
    report: dict = {"wheel_kb": round(wheel.stat().st_size / 1024, 1)}
    report["base_install_s"] = _pip_install(python, str(wheel))
    report["base_install_mb"] = round(_du_mb(venv) - size_empty, 1)
    # Outside the checkout, so `sdk` can only come from the installed wheel.
    where = subprocess.run([str(python), "-c", "import sdk, sys; print(sdk.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert str(venv) in where, where
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                             check=True).stdout
    installed = {p["name"].lower() for p in json.loads(listing)}
    assert "torch" not in installed and "executorch" not in installed, sorted(installed)
    for fmt in ("onnx", "litert"):
        report[fmt] = _predict(python, artifacts[fmt], tmp_path)
        assert report[fmt]["backend"] == fmt and not report[fmt]["torch"], report[fmt]
    with pytest.raises(AssertionError, match="emoedge\\[executorch\\]"):  # .pte without the extra: a clear error
        _predict(python, artifacts["executorch"], tmp_path)
    report["executorch_extra_install_s"] = _pip_install(python, f"{wheel}[executorch]")
    report["with_executorch_mb"] = round(_du_mb(venv) - size_empty, 1)
    env_cache = tmp_path / "native-cache"
    os.environ["EMOEDGE_NATIVE_CACHE"] = str(env_cache)  # the child inherits it: a fresh build from the wheel
    try:
        report["executorch"] = _predict(python, artifacts["executorch"], tmp_path)
    finally:
        os.environ.pop("EMOEDGE_NATIVE_CACHE", None)
    assert report["executorch"]["backend"] == "executorch" and not report["executorch"]["torch"], report
    assert any(env_cache.rglob("libet_runner.so"))
    print(json.dumps(report))
    if os.environ.get("EMOEDGE_PACKAGING_REPORT"):
        Path(os.environ["EMOEDGE_PACKAGING_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")
