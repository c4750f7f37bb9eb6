"""The per-format runners: one class per runtime behind one typed protocol (`Runner`).

A runner takes the model's inputs (the modality arrays in spec order, then `presence`,
batch 1) and returns `(logits, gate_weights)` as fresh numpy arrays. It is the only
place a runtime is touched: the SDK (sdk.runtime.backends), the probe's child process
(sdk.runtime.probe) and export verification (export.pipeline) load artifacts here, so
an artifact is verified at export by the very loader that runs it in the SDK.

    runner          artifact   runtime
    OnnxRunner      .onnx      onnxruntime, CPU execution provider
    LiteRTRunner    .tflite    ai_edge_litert Interpreter (signature runner)
    ExecuTorchRunner .pte      sdk.runtime.native: et_runner.cpp over the executorch wheel's libraries
    TorchRunner     model.pt   PyTorch eager (a checkpoint; torch is imported only here)

`close()` releases the runtime's session, interpreter or native program at once
(idempotent); a call after it raises RecognizerClosedError. numpy only at import.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from sdk.errors import RecognizerClosedError
from sdk.runtime.manifest import OUTPUT_NAMES


@runtime_checkable
class Runner(Protocol):
    """What every backend returns (see the module docstring)."""

    #: the implementation, for reports ("onnxruntime", "litert", "native", "torch")
    runtime: str
    #: the artifact's embedded metadata (ONNX metadata_props; {} elsewhere)
    metadata: dict[str, str]

    def __call__(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


class _Closable:
    runtime = "unknown"
    metadata: dict[str, str] = {}

    def _closed(self) -> RecognizerClosedError:
        return RecognizerClosedError(f"this {self.runtime} runner was closed; load the model again")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OnnxRunner(_Closable):
    runtime = "onnxruntime"

    def __init__(self, path: Path | str, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)  # the manifest digest

    def __call__(self, inputs):
        session = self._session
        if session is None:
            raise self._closed()
        logits, gates = session.run(list(OUTPUT_NAMES), dict(zip(self.input_names, inputs)))
        return logits, gates

    def close(self) -> None:
        self._session = None


def litert_interpreter(path: Path | str, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=threads)


def litert_signature(interpreter) -> tuple[str, list[str]]:
    """(signature key, input names): "args_0", "args_1", ... in argument order (args_10 after args_9)."""
    signatures = interpreter.get_signature_list()
    key = next(iter(signatures))
    return key, sorted(signatures[key]["inputs"], key=lambda n: (len(n), n))


class LiteRTRunner(_Closable):
    runtime = "litert"

    def __init__(self, path: Path | str, threads: int = 1):
        self._interpreter = interpreter = litert_interpreter(path, threads)
        key, self.input_names = litert_signature(interpreter)
        self._runner = interpreter.get_signature_runner(key)
        self.output_names = sorted(interpreter.get_signature_list()[key]["outputs"], key=lambda n: (len(n), n))
        details = self._runner.get_input_details()
        self.dtypes = [details[n]["dtype"] for n in self.input_names]  # token ids: int32 in a .tflite
        self.metadata = {}

    def __call__(self, inputs):
        runner = self._runner
        if runner is None:
            raise self._closed()
        result = runner(**{n: np.ascontiguousarray(x, dtype=d) for n, x, d in zip(self.input_names, inputs, self.dtypes)})
        # the interpreter reuses its output buffers: hand out copies
        return (np.array(result[self.output_names[0]], copy=True), np.array(result[self.output_names[1]], copy=True))

    def close(self) -> None:
        self._runner = self._interpreter = None


class ExecuTorchRunner(_Closable):
    runtime = "native"

    def __init__(self, path: Path | str, threads: int = 1):
        from sdk.runtime.native import NativeProgram

        self._program = NativeProgram(path, threads)
        self.metadata = {}

    def __call__(self, inputs):
        program = self._program
        if program is None:
            raise self._closed()
        logits, gates = program.run(inputs)
        return logits, gates

    def close(self) -> None:
        program, self._program = self._program, None
        if program is not None:
            program.close()


class TorchRunner(_Closable):
    runtime = "torch"
    _threads = threading.Lock()

    def __init__(self, path: Path | str, threads: int = 1):
        import torch

        from sdk.checkpoint import load_checkpoint

        with self._threads:
            torch.set_num_threads(threads)  # process-wide in PyTorch
        self.model, _ = load_checkpoint(path)  # for FLOP counting in sdk.bench
        self.metadata = {}

    def __call__(self, inputs):
        import torch

        model = self.model
        if model is None:
            raise self._closed()
        with torch.inference_mode():
            logits, gates = model(*[torch.from_numpy(x) for x in inputs])
        return logits.numpy(), gates.numpy()

    def close(self) -> None:
        self.model = None


RUNNERS: dict[str, type] = {"onnx": OnnxRunner, "litert": LiteRTRunner, "executorch": ExecuTorchRunner,
                            "torch": TorchRunner}
