"""The torch-free ExecuTorch runtime (sdk.runtime.native over sdk/runtime/csrc/et_runner.cpp's C ABI).

It is the project's only .pte loader (SDK, probe and export verification). Checks it gives the
pybindings' outputs bit for bit (the pybindings serve only as this test's oracle), that an inference process with it
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
from sdk.runtime import BackendError, RecognizerClosedError
from tests.helpers import REPO, random_steps, tiny_artifacts

RSS_LIMIT_MB = 150


@pytest.fixture(scope="module")
def native_library():
    from sdk.runtime import native

    if shutil.which("g++") is None and not os.environ.get(native.LIBRARY_ENV):
        if os.environ.get("CI"):
            pytest.fail("g++ is missing in CI: bash .ci/setup-arm64.sh installs it")
        pytest.skip("no g++ to build sdk/runtime/csrc/et_runner.cpp (apt-get install g++)")
    return native.library()


def pte(precision: str):
    """The tiny test model's .pte (tests/helpers.py; exported once per session, fp32 only)."""
    assert precision == "fp32", "the tiny test artifacts are fp32"
    return tiny_artifacts()["executorch"]


def test_native_matches_the_pybindings_bit_for_bit(native_library):
    import torch
    from executorch.extension.pybindings import _C

    path = pte("fp32")
    recognizer = EmotionRecognizer.load(path)
    assert recognizer._run.runtime == "native"
    oracle = _C._load_program(str(path), program_verification=_C.Verification.InternalConsistency)
    method = oracle.load_method("forward")
    rng = np.random.default_rng(0)
    spec = recognizer.spec
    for _ in range(20):
        kwargs = {m.name: random_steps(m, rng, int(rng.integers(1, m.seq_len + 1))) if rng.random() < 0.7 else None
                  for m in spec.modalities}
        if all(v is None for v in kwargs.values()):
            continue
        arrays, presence = recognizer._preparer.arrays(**kwargs)
        inputs = arrays + [presence]
        native = recognizer._run(inputs)
        expected = method.call([torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        assert np.array_equal(native[0], expected[0].numpy()) and np.array_equal(native[1], expected[1].numpy())


INFERENCE_PROCESS = """
import json, sys
import numpy as np
from sdk import EmotionRecognizer
from sdk.bench import peak_rss_mb
from tests.helpers import random_steps
recognizer = EmotionRecognizer.load(sys.argv[1])
rng = np.random.default_rng(0)
for _ in range(200):
    result = recognizer.predict(**{m.name: random_steps(m, rng, m.seq_len) for m in recognizer.spec.modalities})
print(json.dumps({"runtime": recognizer._run.runtime, "torch": "torch" in sys.modules, "rss": peak_rss_mb()}))
"""


def test_an_executorch_inference_process_stays_under_150_mb_without_torch(native_library):
    path = pte("fp32")
    done = subprocess.run([sys.executable, "-c", INFERENCE_PROCESS, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["runtime"] == "native" and not measured["torch"]
    assert measured["rss"] <= RSS_LIMIT_MB, measured


def test_a_file_that_is_not_a_program_is_a_backend_error(native_library, tmp_path):
    from sdk.runtime.backends import load_runner

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
    shape = list(program.inputs[0][1])
    inputs[0] = np.zeros((1, shape[1] - 1, *shape[2:]), np.float32)  # one step short of what the program needs
    expected = f"input 0: {inputs[0].nbytes} bytes given, the program expects Float [{', '.join(map(str, shape))}]"
    outputs = [np.empty(shape, dtype) for dtype, shape in program.outputs]
    pointers = lambda arrays: (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])  # noqa: E731
    sizes = lambda arrays: (ctypes.c_int64 * len(arrays))(*[a.nbytes for a in arrays])  # noqa: E731
    code = native_library.et_run(program._handle, pointers(inputs), sizes(inputs), len(inputs),
                                 pointers(outputs), sizes(outputs), len(outputs))
    assert code == -1
    assert expected in native_library.et_last_error().decode()
    program.close()
    assert native_library.et_open(b"no-such-model.pte", 1) is None
    assert "no-such-model.pte" in native_library.et_last_error().decode()


def test_export_verification_loads_a_pte_with_the_sdks_runner(native_library):
    """One .pte loader: export.executorch.load (what export verification runs) is the SDK's native runner."""
    from export import executorch

    runner = executorch.load(pte("fp32"))
    assert runner.runtime == "native" and type(runner).__module__ == "sdk.runtime.runners"
    runner.close()
    with pytest.raises(RecognizerClosedError):
        runner([])
