"""Build native/et_runner.cpp against an executorch package's own include/ and lib/ (no CMake, no torch).

    build_runner("x86_64")                       # .tools/native/x86_64/libet_runner.so (C ABI, ctypes)
    build_runner("aarch64", executorch_dir=ET)   # .tools/native/aarch64/et_runner (CLI, for qemu)

The x86_64 shared library is the torch-free ExecuTorch backend of the runtime SDK
(sdk.runtime.native); the aarch64 command-line build runs `.pte` files under qemu for the
ARM64 parity check (export.arm64). Both link the backend and kernel libraries with
--no-as-needed (they register themselves from static initializers) and use the
library directory as the rpath. A build is cached and redone when the source or the
command changes. Standard library only: setup scripts run it before the venv exists.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNNER_SOURCE = REPO / "native" / "et_runner.cpp"
BUILD_DIR = REPO / ".tools" / "native"  # <arch>/et_runner, <arch>/libet_runner.so
ET_DEFINES = ("-DC10_USING_CUSTOM_GENERATED_MACROS", "-DET_EVENT_TRACER_ENABLED")  # as executorch-config.cmake
TARGETS = {  # arch: (compiler, output name, flags)
    "x86_64": (os.environ.get("CXX", "g++"), "libet_runner.so", ("-fPIC", "-shared")),
    "aarch64": ("aarch64-linux-gnu-g++", "et_runner", ("-DET_RUNNER_MAIN",)),
}


class NativeBuildError(RuntimeError):
    """The runner cannot be built here (no compiler, no executorch, or the compiler failed)."""


def installed_executorch_dir() -> Path:
    """This Python's executorch package directory, found without importing it."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeBuildError("executorch is not installed in this Python; `pip install executorch`")
    return Path(next(iter(spec.submodule_search_locations)))


def build_runner(arch: str = "x86_64", executorch_dir: Path | None = None, out_dir: Path | None = None) -> Path:
    """Build (or reuse) the runner for `arch`, linked against `executorch_dir`'s lib/.

    `executorch_dir` defaults to the installed package for x86_64; aarch64 needs the
    aarch64 wheel's directory (export.arm64.prepare_executorch).
    """
    if arch not in TARGETS:
        raise ValueError(f"arch must be one of {', '.join(TARGETS)}, not {arch!r}")
    if not RUNNER_SOURCE.is_file():
        raise NativeBuildError(f"{RUNNER_SOURCE} is missing: the runner builds from a source checkout")
    compiler, name, flags = TARGETS[arch]
    if shutil.which(compiler) is None:
        package = "g++" if arch == "x86_64" else "g++-aarch64-linux-gnu"
        raise NativeBuildError(f"no {compiler} to build native/et_runner.cpp; `apt-get install {package}`")
    if executorch_dir is None:
        if arch != "x86_64":
            raise ValueError("the aarch64 build needs executorch_dir (the aarch64 wheel's executorch/)")
        executorch_dir = installed_executorch_dir()
    et = Path(executorch_dir)
    out_dir = Path(out_dir or BUILD_DIR / arch)
    target = out_dir / name
    lib = (et / "lib").resolve()
    cmd = [compiler, "-std=c++17", "-O2", "-Wno-deprecated-declarations", *ET_DEFINES, *flags, str(RUNNER_SOURCE),
           "-I", str(et / "include"), "-I", str(et / "include/executorch/runtime/core/portable_type/c10"),
           "-L", str(lib), "-Wl,--no-as-needed", "-lexecutorch_backend_xnnpack", "-lexecutorch_kernels_optimized",
           "-lexecutorch_kernels_quantized", "-Wl,--as-needed", "-lexecutorch", "-lexecutorch_threadpool",
           f"-Wl,-rpath,{lib}", "-o", str(target)]
    key = hashlib.sha256((RUNNER_SOURCE.read_text() + "\0".join(cmd)).encode()).hexdigest()
    stamp = out_dir / f".{name}.key"
    if target.is_file() and stamp.is_file() and stamp.read_text() == key:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[native] building {target} ({arch})", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as err:
        raise NativeBuildError(f"{compiler} native/et_runner.cpp could not run: {err}") from err
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise NativeBuildError(f"{compiler} native/et_runner.cpp failed (exit {done.returncode}):\n{tail}")
    stamp.write_text(key)
    return target
