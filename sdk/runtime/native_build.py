"""Build sdk/runtime/csrc/et_runner.cpp against an executorch package's own include/ and lib/ (no CMake, no torch).

    build_runner("x86_64")                       # the cache's libet_runner.so (C ABI, for sdk.runtime.native)
    build_runner("aarch64", executorch_dir=ET)   # .../aarch64/et_runner (CLI, for the qemu check in export.arm64)

The source ships in the wheel as package data (sdk/runtime/csrc/), so an installed emoedge
builds its torch-free ExecuTorch backend the same way a checkout does. The build goes to a
per-user cache, never beside the source (a site-packages directory may be read-only):
`$EMOEDGE_NATIVE_CACHE`, else `$XDG_CACHE_HOME/emoedge/native`, else `~/.cache/emoedge/native`,
in a subdirectory per arch and build key (a hash of the source and the compile command, so two
venvs with different executorch wheels never overwrite each other's library). The compiler
writes a temp file that is renamed into place, so a concurrent or killed build never leaves a
torn library. Both targets link the backend and kernel libraries with --no-as-needed (they
register themselves from static initializers) and use the library directory as the rpath.
Standard library only: setup scripts run it before the venv exists.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

RUNNER_SOURCE = Path(__file__).resolve().parent / "csrc" / "et_runner.cpp"
CACHE_ENV = "EMOEDGE_NATIVE_CACHE"
ET_DEFINES = ("-DC10_USING_CUSTOM_GENERATED_MACROS", "-DET_EVENT_TRACER_ENABLED")  # as executorch-config.cmake
TARGETS = {  # arch: (compiler, output name, flags)
    "x86_64": (os.environ.get("CXX", "g++"), "libet_runner.so", ("-fPIC", "-shared")),
    "aarch64": ("aarch64-linux-gnu-g++", "et_runner", ("-DET_RUNNER_MAIN",)),
}


class NativeBuildError(RuntimeError):
    """The runner cannot be built here (no compiler, no executorch, or the compiler failed)."""


def cache_dir() -> Path:
    """Where builds go (see the module docstring)."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emoedge" / "native"


def installed_executorch_dir() -> Path:
    """This Python's executorch package directory, found without importing it."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeBuildError("executorch is not installed in this Python; `pip install 'emoedge[executorch]'`")
    return Path(next(iter(spec.submodule_search_locations)))


def build_runner(arch: str = "x86_64", executorch_dir: Path | None = None, out_dir: Path | None = None) -> Path:
    """Build (or reuse) the runner for `arch`, linked against `executorch_dir`'s lib/.

    `executorch_dir` defaults to the installed package for x86_64; aarch64 needs the
    aarch64 wheel's directory (export.arm64.prepare_executorch). `out_dir` defaults to
    `cache_dir()/<arch>/<build key>`.
    """
    if arch not in TARGETS:
        raise ValueError(f"arch must be one of {', '.join(TARGETS)}, not {arch!r}")
    if not RUNNER_SOURCE.is_file():
        raise NativeBuildError(f"{RUNNER_SOURCE} is missing: reinstall emoedge (the wheel ships it as package data)")
    compiler, name, flags = TARGETS[arch]
    if shutil.which(compiler) is None:
        package = "g++" if arch == "x86_64" else "g++-aarch64-linux-gnu"
        raise NativeBuildError(f"no {compiler} to build {RUNNER_SOURCE.name}; `apt-get install {package}`")
    if executorch_dir is None:
        if arch != "x86_64":
            raise ValueError("the aarch64 build needs executorch_dir (the aarch64 wheel's executorch/)")
        executorch_dir = installed_executorch_dir()
    et = Path(executorch_dir)
    lib = (et / "lib").resolve()
    source = RUNNER_SOURCE.read_text()

    def command(output: Path) -> list[str]:
        return [compiler, "-std=c++17", "-O2", "-Wno-deprecated-declarations", *ET_DEFINES, *flags,
                str(RUNNER_SOURCE), "-I", str(et / "include"),
                "-I", str(et / "include/executorch/runtime/core/portable_type/c10"),
                "-L", str(lib), "-Wl,--no-as-needed", "-lexecutorch_backend_xnnpack",
                "-lexecutorch_kernels_optimized", "-lexecutorch_kernels_quantized", "-Wl,--as-needed",
                "-lexecutorch", "-lexecutorch_threadpool", f"-Wl,-rpath,{lib}", "-o", str(output)]

    key = hashlib.sha256((source + "\0".join(command(Path(name)))).encode()).hexdigest()
    out_dir = Path(out_dir) if out_dir else cache_dir() / arch / key[:16]
    target, stamp = out_dir / name, out_dir / f".{name}.key"
    if target.is_file() and stamp.is_file() and stamp.read_text() == key:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{name}.{os.getpid()}.tmp"
    print(f"[native] building {target} ({arch})", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command(partial), capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as err:
        partial.unlink(missing_ok=True)
        raise NativeBuildError(f"{compiler} {RUNNER_SOURCE.name} could not run: {err}") from err
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise NativeBuildError(f"{compiler} {RUNNER_SOURCE.name} failed (exit {done.returncode}):\n{tail}")
    os.replace(partial, target)  # complete library or none: a process may be loading the old one
    from sdk.atomic import write_text

    write_text(stamp, key)
    return target
