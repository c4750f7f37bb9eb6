"""The torch-free ExecuTorch runtime (sdk.runtime.native over native/et_runner.cpp's C ABI).

Checks it gives the pybindings' outputs bit for bit, that an inference process with it
never imports torch and stays under 150 MB of peak RSS (issue 5), and its errors.
Needs g++ (the library is built on first use); skipped without it, failed under CI.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sdk import EmotionRecognizer
from sdk.runtime import BackendError
from tests.test_runtime import REPO, mosi_paths

RSS_LIMIT_MB = 150


@pytest.fixture(scope="module")
def native_library():
    from sdk.runtime import native

    if shutil.which("g++") is None and not os.environ.get(native.LIBRARY_ENV):
        if os.environ.get("CI"):
            pytest.fail("g++ is missing in CI: bash .ci/setup-arm64.sh installs it")
        pytest.skip("no g++ to build native/et_runner.cpp (apt-get install g++)")
    return native.library()


def pte(precision: str):
    _, dist = mosi_paths()
    path = dist / "executorch" / f"model_{precision}.pte"
    if not path.is_file():
        pytest.skip(f"{path} not exported (only fp32 artifacts are built for the test cache)")
    return path


def test_native_matches_the_pybindings_bit_for_bit(native_library, monkeypatch):
    path = pte("fp32")
    recognizers = {}
    for runtime in ("native", "pybindings"):
        monkeypatch.setenv("EMOEDGE_EXECUTORCH_RUNTIME", runtime)
        recognizers[runtime] = EmotionRecognizer.load(path)
        assert recognizers[runtime]._run.runtime == runtime
    rng = np.random.default_rng(0)
    spec = recognizers["native"].spec
    for _ in range(20):
        kwargs = {m.name: rng.normal(size=(int(rng.integers(1, m.seq_len + 1)), *m.step_shape())).astype(np.float32)
                  if rng.random() < 0.7 else None for m in spec.modalities}
        if all(v is None for v in kwargs.values()):
            continue
        a, b = (recognizers[r].predict(**kwargs) for r in ("native", "pybindings"))
        assert a.probabilities == b.probabilities and a.gate_weights == b.gate_weights


INFERENCE_PROCESS = """
import json, sys
import numpy as np
from sdk import EmotionRecognizer
from sdk.bench import peak_rss_mb
recognizer = EmotionRecognizer.load(sys.argv[1])
rng = np.random.default_rng(0)
for _ in range(200):
    result = recognizer.predict(**{m.name: rng.normal(size=(m.seq_len, *m.step_shape())).astype(np.float32)
                                   for m in recognizer.spec.modalities})
print(json.dumps({"runtime": recognizer._run.runtime, "torch": "torch" in sys.modules, "rss": peak_rss_mb()}))
"""


def test_an_executorch_inference_process_stays_under_150_mb_without_torch(native_library):
    path = pte("fp32")
    env = {**os.environ, "EMOEDGE_EXECUTORCH_RUNTIME": "native"}
    done = subprocess.run([sys.executable, "-c", INFERENCE_PROCESS, str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["runtime"] == "native" and not measured["torch"]
    assert measured["rss"] <= RSS_LIMIT_MB, measured


def test_a_file_that_is_not_a_program_is_a_backend_error(native_library, tmp_path, monkeypatch):
    from sdk.runtime.backends import load_runner

    monkeypatch.setenv("EMOEDGE_EXECUTORCH_RUNTIME", "native")
    bogus = tmp_path / "model.pte"
    bogus.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(BackendError, match="could not load"):
        load_runner("executorch", bogus)


def test_wrong_input_shape_and_count_are_named(native_library):
    from sdk.runtime.native import NativeProgram

    program = NativeProgram(pte("fp32"))
    inputs = [np.zeros(shape, dtype) for dtype, shape in program.inputs]
    logits, gates = program.run(inputs)
    assert logits.shape == program.outputs[0][1] and np.isfinite(logits).all()
    with pytest.raises(ValueError, match="takes 4 inputs, got 3"):
        program.run(inputs[:3])
    with pytest.raises(ValueError, match=r"input 0: shape \(1, 2, 73\)"):
        program.run([np.zeros((1, 2, 73), np.float32), *inputs[1:]])
    program.close()


def test_the_c_abi_checks_byte_counts_and_names_missing_files(native_library):
    """Below the Python wrapper: the library itself refuses a buffer of the wrong size and a bad path."""
    import ctypes

    from sdk.runtime.native import NativeProgram

    program = NativeProgram(pte("fp32"))
    inputs = [np.zeros(shape, dtype) for dtype, shape in program.inputs]
    inputs[0] = np.zeros((1, 3, 73), np.float32)  # 876 bytes where [1, 7, 73] float32 needs 2044
    outputs = [np.empty(shape, dtype) for dtype, shape in program.outputs]
    pointers = lambda arrays: (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])  # noqa: E731
    sizes = lambda arrays: (ctypes.c_int64 * len(arrays))(*[a.nbytes for a in arrays])  # noqa: E731
    code = native_library.et_run(program._handle, pointers(inputs), sizes(inputs), len(inputs),
                                 pointers(outputs), sizes(outputs), len(outputs))
    assert code == -1
    assert "input 0: 876 bytes given, the program expects Float [1, 7, 73]" in native_library.et_last_error().decode()
    program.close()
    assert native_library.et_open(b"no-such-model.pte", 1) is None
    assert "no-such-model.pte" in native_library.et_last_error().decode()


def test_an_unknown_runtime_choice_is_refused(monkeypatch):
    from sdk.runtime.backends import load_runner

    monkeypatch.setenv("EMOEDGE_EXECUTORCH_RUNTIME", "fast")
    with pytest.raises(BackendError, match="'native', 'pybindings'"):
        load_runner("executorch", pte("fp32"))
