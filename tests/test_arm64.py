"""ARM64 parity: every artifact gives the same probabilities on aarch64 kernels as on x86.

The default run checks the tiny test model's fp32 artifacts (tests/helpers.py) on random inputs;
the slow, data-marked run checks the MOSI artifacts, fp32 and int8, on real test samples (below).

`python -m export.arm64` runs each artifact under `qemu-aarch64-static -cpu cortex-a76`
(onnxruntime and ai-edge-litert aarch64 wheels in an arm64 Debian Python; the .pte through
native/et_runner.cpp cross-built against the aarch64 executorch wheel's libraries) and through
the project's x86 backends, on real MOSI test samples under every modality subset.

Bounds: fp32 max |Δp| <= 1e-4 (the runtime parity bound of tests/test_runtime_parity.py; measured
~2e-7). int8: the same quantized graph runs on both sides, so only kernel arithmetic differs: top-1
must agree on every sample and max |Δp| <= 1e-3 (measured <= 1e-7 on dist/mosi: XNNPACK, MLAS and
LiteRT's int8 paths agree across the two ISAs here; the bound leaves room for one requantization
rounding step differing between them, without accepting a different answer).

The artifacts are those of tests/test_runtime.py (runs/mosi + dist/mosi when a developer has them,
else the fp32 test cache it builds); when that dist has no int8 artifacts they are exported once
from the same checkpoint into runs/.test-cache/dist-int8 (about 2 minutes on a clean checkout:
int8 kernels are where x86 and ARM implementations differ, so CI checks them too). Needs `bash .ci/setup-arm64.sh` (qemu-user-static,
g++-aarch64-linux-gnu, debootstrap, then the cached sysroot and wheels under .tools/arm64):
skipped with that command when it is missing, failed instead when $CI is set.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from export import arm64
from tests.helpers import TEST_CACHE, mosi_paths, tiny_artifacts

pytestmark = pytest.mark.arm64

FP32_MAX_PROB_DIFF = 1e-4
INT8_MAX_PROB_DIFF = 1e-3
TEST_SAMPLES = 8  # x every modality subset the sample has (up to 7): ~56 predictions per artifact
EM_AARCH64 = 183  # ELF e_machine
FORMATS = {"executorch": ".pte", "litert": ".tflite", "onnx": ".onnx"}


def _artifact(dist, fmt: str, precision: str):
    return dist / fmt / f"model_{precision}{FORMATS[fmt]}"


def _spec(artifact):
    return json.loads(artifact.with_name(artifact.name + ".json").read_text())["spec"]


def mosi_dists():
    """(checkpoint, [dist dirs]) holding fp32 and int8 MOSI artifacts of every format."""
    checkpoint, dist = mosi_paths()
    if all(_artifact(dist, f, "int8").is_file() for f in FORMATS):
        return checkpoint, [dist]
    int8 = TEST_CACHE / "dist-int8"
    fp32_spec = _spec(_artifact(dist, "onnx", "fp32"))
    if not all(_artifact(int8, f, "int8").is_file() and _spec(_artifact(int8, f, "int8")) == fp32_spec
               for f in FORMATS):
        from export.__main__ import main as export_main

        code = export_main(["--checkpoint", str(checkpoint), "--format", ",".join(FORMATS), "--precision", "int8",
                            "--out", str(int8), "--max-test-samples", "16", "--quiet"])
        assert code == 0, "exporting the int8 MOSI test artifacts failed"
    return checkpoint, [dist, int8]


def _unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def toolchain():
    missing = arm64.missing_tools()
    if missing:
        _unavailable(f"ARM64 toolchain missing ({', '.join(missing)}): run `{arm64.SETUP_COMMAND}`")
    try:
        return arm64.prepare()
    except arm64.Arm64Unavailable as err:
        _unavailable(f"ARM64 toolchain could not be prepared: {err}; run `{arm64.SETUP_COMMAND}`")


@pytest.fixture(scope="module")
def report(toolchain):
    checkpoint, dists = mosi_dists()
    started = time.perf_counter()
    results = [arm64.compare(d, checkpoint=checkpoint, test_samples=TEST_SAMPLES) for d in dists]
    result = {**results[0], "artifacts": [row for r in results for row in r["artifacts"]]}
    print(f"\n{arm64.table(result)}\nARM64 comparison wall time: {time.perf_counter() - started:.1f} s")
    return result


def test_the_runner_is_an_aarch64_binary(toolchain):
    header = open(toolchain["runner"], "rb").read(20)
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64


def test_the_tiny_artifacts_run_on_aarch64_and_match_x86(toolchain, tiny_dist):
    """The default run: the tiny model's fp32 artifacts on random inputs (2 per modality pattern)."""
    result = arm64.compare(tiny_dist["onnx"].parents[1], per_pattern=2)
    rows = result["artifacts"]
    print(f"\n{arm64.table(result)}")
    assert {r["format"] for r in rows} == set(FORMATS) and all(r["status"] == "ok" for r in rows), rows
    for r in rows:
        assert r["max_abs_dprob"] <= FP32_MAX_PROB_DIFF and r["top1_agreement"] == 1.0, r


@pytest.mark.slow
@pytest.mark.data
def test_every_artifact_runs_on_aarch64_and_matches_x86(report):
    rows = report["artifacts"]
    failed = {r["artifact"]: r.get("error") for r in rows if r["status"] != "ok"}
    assert not failed, f"artifacts that did not run on both sides: {failed}"
    assert {(r["format"], r["precision"]) for r in rows} == {(f, p) for f in FORMATS for p in ("fp32", "int8")}
    assert all(r["samples"] >= TEST_SAMPLES for r in rows)
    for r in rows:
        bound = FP32_MAX_PROB_DIFF if r["precision"] == "fp32" else INT8_MAX_PROB_DIFF
        assert r["max_abs_dprob"] <= bound, f"{r['artifact']}: max |Δp| {r['max_abs_dprob']:.2e} > {bound}"
        assert r["top1_agreement"] == 1.0, f"{r['artifact']}: top-1 agreement {r['top1_agreement']:.3f}"
        assert r["max_abs_dgate"] <= 1e-4, f"{r['artifact']}: max |Δgate| {r['max_abs_dgate']:.2e}"


def test_the_aarch64_runner_refuses_inputs_that_do_not_fit_the_program(toolchain, tmp_path):
    pte = tiny_artifacts()["executorch"].resolve()
    info = arm64.runner_info(toolchain["runner"], pte)
    assert [i["shape"] for i in info["inputs"]][-1] == [1, 3] and info["inputs"][-1]["dtype"] == 6  # presence, float32
    (tmp_path / "in.bin").write_bytes(b"\0" * (sum(i["nbytes"] for i in info["inputs"]) - 4))
    with pytest.raises(RuntimeError, match="not a multiple of one sample's inputs"):
        arm64._qemu([toolchain["runner"], "run", pte, tmp_path / "in.bin", tmp_path / "out.bin"], 600)
