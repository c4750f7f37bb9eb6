"""The runtimes behind `EmotionRecognizer`: one table, one loader per backend.

Every loader returns a *runner*: `run(list[np.ndarray]) -> (logits, gate_weights)`,
the inputs being the modality arrays in spec order then `presence` (batch 1) — the
same interface as `export.<format>.load`, which the ONNX and LiteRT backends reuse.

    backend     artifact               runtime
    executorch  .pte                   ExecuTorch (XNNPACK): native C runner, or the pybindings
    litert      .tflite                ai_edge_litert Interpreter
    onnx        .onnx                  onnxruntime, CPU execution provider
    torch       model.pt or run dir    PyTorch eager (the checkpoint, no manifest)

The ExecuTorch backend runs the .pte through native/et_runner.cpp's C ABI
(sdk.runtime.native: the wheel's own libexecutorch*.so through ctypes, no torch,
~40 MB of RSS) when that library can be had, else through
`executorch.extension.pybindings._C`, which needs torch tensors (~240 MB). Both
avoid `executorch.runtime` (what `export.executorch.load` uses): that package
imports `executorch.exir` and torchao, 7 s and ~350 MB at import on this machine.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

Runner = Callable[[list], tuple]

AUTO = "auto"


class BackendError(RuntimeError):
    """A backend that cannot be used here (its runtime is not installed, or it rejects the file)."""


@dataclass(frozen=True)
class Backend:
    name: str
    suffixes: tuple[str, ...]
    runtime: str  # what runs it, for messages and the benchmark table
    package: str  # the pip package that provides the runtime


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("executorch", (".pte",), "ExecuTorch (XNNPACK)", "executorch"),
        Backend("litert", (".tflite",), "LiteRT Interpreter", "ai-edge-litert"),
        Backend("onnx", (".onnx",), "ONNX Runtime (CPU)", "onnxruntime"),
        Backend("torch", (".pt",), "PyTorch eager", "torch"),
    )
}
CHECKPOINT_NAME = "model.pt"


def backend_for(path: Path | str) -> str:
    """The backend that runs the file at `path` (by suffix; a directory holding model.pt is torch)."""
    path = Path(path)
    if path.is_dir():
        if (path / CHECKPOINT_NAME).is_file():
            return "torch"
        artifacts = sorted(p.name for p in path.iterdir() if any(p.name.endswith(s) for b in BACKENDS.values()
                                                                  for s in b.suffixes if b.name != "torch"))
        hint = f"; it holds {', '.join(artifacts)}: pass one of them" if artifacts else ""
        raise BackendError(f"{path} is a directory without {CHECKPOINT_NAME}{hint}")
    for backend in BACKENDS.values():
        if path.suffix in backend.suffixes:
            return backend.name
    known = ", ".join(f"{s} ({b.name})" for b in BACKENDS.values() for s in b.suffixes)
    raise BackendError(f"{path}: unknown model file suffix {path.suffix!r}; expected one of {known}")


def check_backend(name: str, path: Path | str) -> str:
    """Resolve `auto` and refuse a backend that cannot run this file."""
    if name == AUTO:
        return backend_for(path)
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {AUTO}, {', '.join(BACKENDS)}")
    found = backend_for(path)
    if found != name:
        raise BackendError(
            f"{path}: backend {name!r} runs {'/'.join(BACKENDS[name].suffixes)} files, this one is for {found!r}; "
            f"use backend='{found}' or 'auto'"
        )
    return name


def load_runner(name: str, path: Path | str, num_threads: int = 1) -> Runner:
    """A runner for the artifact (or checkpoint) at `path` in backend `name`."""
    loader = {"executorch": _executorch, "litert": _litert, "onnx": _onnx, "torch": _torch}[name]
    try:
        return loader(Path(path), num_threads)
    except ImportError as err:
        raise BackendError(
            f"the {name} backend needs the {BACKENDS[name].package!r} package ({err}); "
            f"`pip install {BACKENDS[name].package}` or use another backend"
        ) from err


# ------------------------------------------------------------------- loaders
def _onnx(path: Path, num_threads: int) -> Runner:
    from export.onnx import load

    return load(path, threads=num_threads)


def _litert(path: Path, num_threads: int) -> Runner:
    from export.litert import load

    run = load(path, threads=num_threads)

    def copied(inputs):  # the interpreter reuses its output buffers: hand out copies
        logits, gates = run(inputs)
        return np.array(logits, copy=True), np.array(gates, copy=True)

    return copied


_EXECUTORCH_THREADPOOL = threading.Lock()


def _executorch(path: Path, num_threads: int) -> Runner:
    """The native runner (sdk.runtime.native, no torch) when it can be had, else the pybindings."""
    import os

    from sdk.runtime import native

    choice = os.environ.get(native.RUNTIME_ENV, "")
    if choice not in ("", "native", "pybindings"):
        raise BackendError(f"${native.RUNTIME_ENV} is {choice!r}; use 'native', 'pybindings' or leave it unset")
    if choice != "pybindings":
        try:
            return _executorch_native(path, num_threads)
        except native.NativeUnavailable as err:
            if choice == "native":
                raise BackendError(f"the native ExecuTorch runner is unavailable: {err}") from err
    return _executorch_pybindings(path, num_threads)


def _executorch_native(path: Path, num_threads: int) -> Runner:
    from sdk.runtime.native import NativeProgram

    try:
        program = NativeProgram(path, num_threads)
    except RuntimeError as err:
        raise BackendError(f"{path}: ExecuTorch could not load it ({err})") from err

    def run(inputs):
        logits, gates = program.run(inputs)
        return logits, gates

    run.runtime = "native"
    return run


def _executorch_pybindings(path: Path, num_threads: int) -> Runner:
    import torch
    from executorch.extension.pybindings import _C

    with _EXECUTORCH_THREADPOOL:  # the XNNPACK threadpool is process-wide
        if _C._threadpool_get_thread_count() != num_threads:
            _C._unsafe_reset_threadpool(num_threads)
    try:
        program = _C._load_program(str(path), program_verification=_C.Verification.InternalConsistency)
        method = program.load_method("forward")
    except RuntimeError as err:
        raise BackendError(f"{path}: ExecuTorch could not load it ({err})") from err

    def run(inputs):
        outputs = method.call([torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        return outputs[0].numpy(), outputs[1].numpy()

    run.runtime = "pybindings"
    return run


def _torch(path: Path, num_threads: int) -> Runner:
    import torch

    from sdk.checkpoint import load_checkpoint

    torch.set_num_threads(num_threads)  # process-wide in PyTorch
    model, _ = load_checkpoint(path)

    def run(inputs):
        with torch.inference_mode():
            logits, gates = model(*[torch.from_numpy(x) for x in inputs])
        return logits.numpy(), gates.numpy()

    run.model = model  # for FLOP counting in sdk.bench
    return run

