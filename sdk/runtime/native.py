"""The torch-free ExecuTorch runner: the C ABI of sdk/runtime/csrc/et_runner.cpp, called through ctypes.

This is the one way emoedge runs a .pte: the SDK's executorch backend, the probe and
export verification all load programs here. The executorch pybindings would take
torch tensors, so a process using them imports torch (about 220 MB of resident
memory before the model is loaded); this library links only the executorch wheel's
own libexecutorch*.so (XNNPACK backend, optimized and quantized kernels), so an
inference process stays near 40 MB.

Where the library comes from, first match wins:

1. `$EMOEDGE_ET_RUNNER`: a path to a built `libet_runner.so`;
2. the per-user build cache (sdk.runtime.native_build), built on first use from the
   source shipped in the package with the system g++ against the installed executorch
   package (about 2 s; rebuilt when the source or the executorch wheel changes).
"""
from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from sdk.runtime.tensors import EXECUTORCH_DTYPES

LIBRARY_ENV = "EMOEDGE_ET_RUNNER"
#: ExecuTorch ScalarType code -> numpy dtype (sdk.runtime.tensors.EXECUTORCH_DTYPES, the one table).
DTYPES = {code: np.dtype(name).type for code, name in EXECUTORCH_DTYPES.items()}
MAX_DIMS = 8


class NativeUnavailable(RuntimeError):
    """The native library cannot be found or built here; the message says why."""


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The loaded libet_runner.so, with its function signatures declared."""
    path = _library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as err:
        raise NativeUnavailable(f"cannot load {path}: {err}") from err
    handle, i64p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)
    lib.et_open.argtypes, lib.et_open.restype = [ctypes.c_char_p, ctypes.c_int], handle
    lib.et_close.argtypes, lib.et_close.restype = [handle], None
    lib.et_last_error.argtypes, lib.et_last_error.restype = [], ctypes.c_char_p
    for name in ("et_num_inputs", "et_num_outputs"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [handle], ctypes.c_int
    for name in ("et_input_info", "et_output_info"):
        getattr(lib, name).argtypes = [handle, ctypes.c_int, ctypes.POINTER(ctypes.c_int), i64p, ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    for name in ("et_input_nbytes", "et_output_nbytes"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [handle, ctypes.c_int], ctypes.c_int64
    lib.et_run.argtypes = [handle, ctypes.POINTER(ctypes.c_void_p), i64p, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_void_p), i64p, ctypes.c_int]
    lib.et_run.restype = ctypes.c_int
    return lib


def _library_path() -> Path:
    given = os.environ.get(LIBRARY_ENV)
    if given:
        if not Path(given).is_file():
            raise NativeUnavailable(f"${LIBRARY_ENV} is {given}, which is not a file")
        return Path(given)
    from sdk.runtime.native_build import NativeBuildError, build_runner

    try:
        return build_runner("x86_64")
    except NativeBuildError as err:
        raise NativeUnavailable(str(err)) from err


def _error(lib: ctypes.CDLL) -> str:
    return (lib.et_last_error() or b"").decode(errors="replace") or "unknown error"


class NativeProgram:
    """One loaded .pte: `run(list[np.ndarray]) -> list[np.ndarray]` (fresh output arrays each call).

    Calls are safe from several threads (the library serializes calls on one handle).
    """

    _threadpool = threading.Lock()  # the XNNPACK threadpool is process-wide

    def __init__(self, path: Path | str, num_threads: int = 1):
        self.lib = lib = library()
        with self._threadpool:
            handle = lib.et_open(str(path).encode(), int(num_threads))
        if not handle:
            raise RuntimeError(_error(lib))
        self._handle = handle
        self._finalizer = weakref.finalize(self, lib.et_close, handle)
        self.inputs = [self._info(lib.et_input_info, i) for i in range(lib.et_num_inputs(handle))]
        self.outputs = [self._info(lib.et_output_info, i) for i in range(lib.et_num_outputs(handle))]
        self._output_nbytes = (ctypes.c_int64 * len(self.outputs))(
            *[int(np.prod(shape)) * np.dtype(dtype).itemsize for dtype, shape in self.outputs])

    def _info(self, function, index: int) -> tuple[type, tuple[int, ...]]:
        dtype, sizes = ctypes.c_int(), (ctypes.c_int64 * MAX_DIMS)()
        ndim = function(self._handle, index, ctypes.byref(dtype), sizes, MAX_DIMS)
        if ndim < 0 or ndim > MAX_DIMS:
            raise RuntimeError(f"tensor {index}: {_error(self.lib)}")
        if dtype.value not in DTYPES:
            raise RuntimeError(f"tensor {index} has ExecuTorch dtype code {dtype.value}, which this runner "
                               f"does not map to numpy")
        return DTYPES[dtype.value], tuple(sizes[:ndim])

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if not self._finalizer.alive:  # the handle is freed: never hand it to the library
            raise RuntimeError("this ExecuTorch program was closed")
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the program takes {len(self.inputs)} inputs, got {len(inputs)}")
        arrays = []
        for i, (x, (dtype, shape)) in enumerate(zip(inputs, self.inputs)):
            array = np.ascontiguousarray(x, dtype=dtype)
            if array.shape != shape:
                raise ValueError(f"input {i}: shape {array.shape}, the program takes {shape}")
            arrays.append(array)
        outputs = [np.empty(shape, dtype) for dtype, shape in self.outputs]
        n_in, n_out = len(arrays), len(outputs)
        code = self.lib.et_run(
            self._handle,
            (ctypes.c_void_p * n_in)(*[a.ctypes.data for a in arrays]),
            (ctypes.c_int64 * n_in)(*[a.nbytes for a in arrays]), n_in,
            (ctypes.c_void_p * n_out)(*[o.ctypes.data for o in outputs]), self._output_nbytes, n_out,
        )
        if code != 0:
            raise RuntimeError(_error(self.lib))
        return outputs

    def close(self) -> None:
        """Release the native program now (idempotent; also done when the object is collected)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive
