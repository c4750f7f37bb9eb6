"""`python -m export.arm64`: run every exported artifact on aarch64 kernels (qemu user-mode) and compare with x86.

    python -m export.arm64 --models dist/mosi [--json arm64.json] [--samples-per-pattern 4] [--seed 0]
    python -m export.arm64 --prepare          # only build the cached toolchain (what .ci/setup-arm64.sh runs)

For every artifact listed by a manifest (`*.json` beside it) under DIST_DIR the same inputs go
through the project's x86 runtime backends (`sdk.runtime.backends`) and through aarch64 code
under `qemu-aarch64-static -cpu cortex-a76`:

    .onnx     onnxruntime's aarch64 wheel, run by the aarch64 Python of an arm64 Debian sysroot
    .tflite   ai-edge-litert's aarch64 wheel, same Python (both through sdk.runtime.backends.load_runner,
              the loaders the x86 backends use)
    .pte      sdk/runtime/csrc/et_runner.cpp cross-compiled with aarch64-linux-gnu-g++ against the aarch64
              executorch wheel's own include/ and lib/libexecutorch*.so

and the softmax probabilities are compared: max |Δp|, top-1 agreement, max |Δgate|, seconds.
Inputs are real test samples (`--checkpoint RUN_DIR`: the checkpoint's dataset normalized as in
training, every sample under every non-empty modality subset), a saved set (`--inputs NPZ`, arrays
named like the manifest's inputs with a leading sample axis) or seeded random ones that honor the manifest's shapes and dtypes: normalized
features ~ N(0, 1), token ids from the vocabulary, random left padding, and every non-empty
modality subset as the presence mask (absent modalities zeroed, as the runtime does).

Everything it needs is cached under .tools/arm64/ (gitignored) and prepared on first use:
the sysroot (`debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,libpython3.11`,
the included .debs unpacked with dpkg-deb -x), an aarch64 /proc/cpuinfo inside it (onnxruntime
segfaults at import under qemu when it sees the host's x86 one), the aarch64 wheels (pip install
--target) and the cross-built runner. System tools come from `bash .ci/setup-arm64.sh`.

The runner is built by sdk.runtime.native_build, which also builds the same source as the x86_64
shared library behind the SDK's torch-free ExecuTorch backend (sdk.runtime.native).

Emulation is ~200x slower than native: the seconds are for CI budgeting, never latency.
Exit status: 0 when every artifact ran on both sides, 1 when one failed, 2 on bad usage or a
missing toolchain. This module imports only the standard library at the top (setup runs it
before the project's venv exists); numpy and the runtimes are imported by the comparison.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".tools" / "arm64"
SYSROOT = TOOLS / "sysroot"
SITE = TOOLS / "site"  # aarch64 wheels, pip install --target
ET_AARCH64 = TOOLS / "executorch"  # include/ and lib/ of the aarch64 executorch wheel
SETUP_COMMAND = "bash .ci/setup-arm64.sh"
APT_PACKAGES = {"qemu-aarch64-static": "qemu-user-static", "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu",
                "debootstrap": "debootstrap"}
QEMU_CPU = "cortex-a76"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("EMOEDGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PYTHON_VERSION = "3.11"  # bookworm's python3, the aarch64 wheels' cp311 tag
# pip's --platform takes the tags literally: list every glibc the bookworm sysroot (2.36) satisfies
PLATFORMS = ["manylinux2014_aarch64", *(f"manylinux_2_{minor}_aarch64" for minor in range(17, 37))]
WHEELS = ("onnxruntime", "ai-edge-litert", "numpy")  # installed with their dependencies
ET_LIBS = ("libexecutorch.so", "libexecutorch_threadpool.so", "libexecutorch_backend_xnnpack.so",
           "libexecutorch_kernels_optimized.so", "libexecutorch_kernels_quantized.so")
# Cortex-A76 (r4p1) as the Linux kernel prints it; only the file's presence and arch matter to onnxruntime
CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 50.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for i in range(4))


class Arm64Unavailable(RuntimeError):
    """The emulation toolchain is missing or could not be prepared."""


def log(message: str) -> None:
    print(f"[arm64] {message}", file=sys.stderr, flush=True)


def _run(cmd: list, *, timeout: float = 1800, env: dict | None = None, what: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise Arm64Unavailable(f"{what or cmd[0]} failed (exit {result.returncode}):\n{tail}")
    return result


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo"]


# ------------------------------------------------------------------ toolchain
def missing_tools() -> list[str]:
    """The Debian packages whose commands are not on PATH."""
    return [package for command, package in APT_PACKAGES.items() if shutil.which(command) is None]


def check_tools() -> None:
    missing = missing_tools()
    if missing:
        raise Arm64Unavailable(f"missing {', '.join(missing)}: run `{SETUP_COMMAND}` "
                               f"(or `apt-get install {' '.join(missing)}`)")


def wanted_versions() -> dict[str, str | None]:
    """Versions of the aarch64 wheels: the x86 ones installed here, else pyproject's pins, else the newest."""
    pins: dict[str, str | None] = {}
    try:
        import tomllib

        for requirement in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
            name, _, version = requirement.partition("==")
            pins[name.strip().lower()] = version.strip() if version and "*" not in version else None
    except (OSError, KeyError, ValueError):
        pass
    versions: dict[str, str | None] = {"numpy": None}  # any numpy the aarch64 wheels accept
    for name in ("onnxruntime", "ai-edge-litert", "executorch"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = pins.get(name)
    return versions


def _spec(name: str, version: str | None) -> str:
    return f"{name}=={version}" if version else name


def _pip() -> list[str]:
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        raise Arm64Unavailable(f"{sys.executable} has no pip; run the harness from the project venv "
                               "(.venv/bin/python -m export.arm64)")
    return [sys.executable, "-m", "pip"]


def _platform_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def prepare_sysroot() -> Path:
    """An arm64 bookworm root with python3 and libpython3.11 (no chroot, no binfmt: qemu -L uses it)."""
    if (SYSROOT / "usr" / "bin" / f"python{PYTHON_VERSION}").is_file() and (SYSROOT / ".complete").is_file():
        _write_cpuinfo(SYSROOT)
        return SYSROOT
    check_tools()
    partial = TOOLS / "sysroot.partial"
    if partial.exists():
        _run([*_sudo(), "rm", "-rf", partial], what="removing a partial sysroot")
    partial.parent.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap arm64 {DEBIAN_SUITE} sysroot (python3, libpython{PYTHON_VERSION}) into {partial}")
    _run([*_sudo(), "debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
          f"--include=python3,libpython{PYTHON_VERSION}", DEBIAN_SUITE, partial, DEBIAN_MIRROR],
         timeout=3600, what="debootstrap")
    # --foreign stops before the second stage (it needs arm64 code to run): unpack every downloaded .deb
    debs = sorted((partial / "var" / "cache" / "apt" / "archives").glob("*.deb"))
    if not debs:
        raise Arm64Unavailable(f"debootstrap left no .debs in {partial}/var/cache/apt/archives")
    for deb in debs:
        _run([*_sudo(), "dpkg-deb", "-x", deb, partial], what=f"dpkg-deb -x {deb.name}")
    _run([*_sudo(), "rm", "-f", *debs], what="cleaning the .deb cache")
    if os.geteuid() != 0:
        _run(["sudo", "chown", "-R", f"{os.getuid()}:{os.getgid()}", partial], what="chown sysroot")
    if not (partial / "usr" / "bin" / f"python{PYTHON_VERSION}").is_file():
        raise Arm64Unavailable(f"the sysroot has no usr/bin/python{PYTHON_VERSION} after unpacking")
    _write_cpuinfo(partial)
    (partial / ".complete").write_text(f"{DEBIAN_SUITE} {DEBIAN_MIRROR}\n")
    if SYSROOT.exists():
        shutil.rmtree(SYSROOT)
    partial.rename(SYSROOT)
    return SYSROOT


def _write_cpuinfo(root: Path) -> None:
    target = root / "proc" / "cpuinfo"
    if not target.is_file() or target.read_text() != CPUINFO:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(CPUINFO)


def prepare_wheels(versions: dict[str, str | None] | None = None) -> Path:
    """onnxruntime, ai-edge-litert and numpy for aarch64 cp311, installed into SITE."""
    versions = versions or wanted_versions()
    want = {name: versions.get(name) for name in WHEELS}
    stamp = SITE / ".versions.json"
    if stamp.is_file() and _satisfied(json.loads(stamp.read_text()), want):
        return SITE
    pip = _pip()
    partial = TOOLS / "site.partial"
    shutil.rmtree(partial, ignore_errors=True)
    log(f"pip install --target {SITE} (aarch64 cp{PYTHON_VERSION.replace('.', '')}): "
        + " ".join(_spec(n, v) for n, v in want.items()))
    _run([*pip, "install", "-q", "--disable-pip-version-check", "--no-compile", "--target", partial,
          *_platform_args(), *(_spec(n, v) for n, v in want.items())], timeout=1800, what="pip install (aarch64)")
    installed = {}
    for name in WHEELS:
        dist = next(iter(importlib.metadata.distributions(name=name, path=[str(partial)])), None)
        if dist is None:
            raise Arm64Unavailable(f"pip did not install {name} into {partial}")
        installed[name] = dist.version
    (partial / ".versions.json").write_text(json.dumps(installed, indent=1))
    shutil.rmtree(SITE, ignore_errors=True)
    partial.rename(SITE)
    return SITE


def _satisfied(installed: dict, want: dict) -> bool:
    return all(name in installed and (version is None or installed[name] == version) for name, version in want.items())


def prepare_executorch(version: str | None = None) -> Path:
    """include/ and the runtime libraries of the aarch64 executorch wheel (not installed: no aarch64 torch)."""
    version = version or wanted_versions().get("executorch")
    stamp = ET_AARCH64 / ".version"
    if stamp.is_file() and (version is None or stamp.read_text().strip() == version) \
            and all((ET_AARCH64 / "lib" / lib).is_file() for lib in ET_LIBS):
        return ET_AARCH64
    pip = _pip()
    with tempfile.TemporaryDirectory(dir=TOOLS if TOOLS.is_dir() else None) as tmp:
        log(f"pip download {_spec('executorch', version)} (aarch64) for its include/ and lib/")
        _run([*pip, "download", "-q", "--disable-pip-version-check", "--no-deps", "-d", tmp, *_platform_args(),
              _spec("executorch", version)], timeout=1800, what="pip download executorch (aarch64)")
        wheel = next(Path(tmp).glob("executorch-*.whl"), None)
        if wheel is None:
            raise Arm64Unavailable("pip download left no executorch aarch64 wheel")
        partial = TOOLS / "executorch.partial"
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith("executorch/include/") or member.startswith("executorch/lib/lib"):
                    archive.extract(member, partial)
        (partial / "executorch" / ".version").write_text(wheel.name.split("-")[1] + "\n")
        shutil.rmtree(ET_AARCH64, ignore_errors=True)
        (partial / "executorch").rename(ET_AARCH64)
        shutil.rmtree(partial, ignore_errors=True)
    return ET_AARCH64


def build_runner(arch: str = "aarch64", executorch_dir: Path | None = None, out_dir: Path | None = None) -> Path:
    """sdk.runtime.native_build.build_runner, with the aarch64 wheel's executorch as the default for aarch64."""
    from sdk.runtime import native_build as native

    if arch == "aarch64" and executorch_dir is None:
        if shutil.which(native.TARGETS["aarch64"][0]) is None:
            raise Arm64Unavailable(f"missing g++-aarch64-linux-gnu: run `{SETUP_COMMAND}`")
        executorch_dir = prepare_executorch()
    try:
        return native.build_runner(arch, executorch_dir, out_dir)
    except native.NativeBuildError as err:
        raise Arm64Unavailable(str(err)) from err


def prepare() -> dict:
    """Everything under .tools/arm64 (cached); returns the paths and versions."""
    check_tools()
    TOOLS.mkdir(parents=True, exist_ok=True)
    versions = wanted_versions()
    prepare_sysroot()
    prepare_wheels(versions)
    prepare_executorch(versions.get("executorch"))
    runner = build_runner("aarch64")
    return {"sysroot": str(SYSROOT), "site": str(SITE), "runner": str(runner),
            "wheels": json.loads((SITE / ".versions.json").read_text()),
            "executorch": (ET_AARCH64 / ".version").read_text().strip()}


# ------------------------------------------------------------------ running on aarch64
def _qemu(args: list, timeout: float, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LD_LIBRARY_PATH"}
    env.update(env_extra or {})
    cmd = ["qemu-aarch64-static", "-cpu", QEMU_CPU, "-L", str(SYSROOT), *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"aarch64 run failed (exit {result.returncode}): {' '.join(cmd[5:7])} ...\n{tail}")
    return result


# Runs inside the aarch64 Python: the same runners the x86 backends use (sdk.runtime.backends.load_runner).
AARCH64_SCRIPT = r"""
import platform, sys
import numpy as np
fmt, model, inputs, outputs = sys.argv[1:5]
assert platform.machine() == "aarch64", platform.machine()
from sdk.runtime.backends import load_runner
run = load_runner(fmt, model, 1)
data = np.load(inputs)
count = len(data["input0"])
xs = [data[f"input{i}"] for i in range(len(data.files))]
logits, gates = [], []
for s in range(count):
    out = run([np.ascontiguousarray(x[s]) for x in xs])
    logits.append(np.array(out[0], copy=True)); gates.append(np.array(out[1], copy=True))
np.savez(outputs, logits=np.stack(logits), gates=np.stack(gates), machine=platform.machine())
"""


def run_aarch64_python(fmt: str, artifact: Path, inputs: list, timeout: float = 1800):
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", **{f"input{i}": x for i, x in enumerate(inputs)})
        _qemu([SYSROOT / "usr" / "bin" / f"python{PYTHON_VERSION}", "-S", "-c", AARCH64_SCRIPT, fmt,
               artifact.resolve(), Path(tmp) / "in.npz", Path(tmp) / "out.npz"], timeout,
              {"PYTHONPATH": f"{SITE}{os.pathsep}{REPO}", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        with np.load(Path(tmp) / "out.npz") as out:
            if str(out["machine"]) != "aarch64":
                raise RuntimeError(f"the emulated Python reported machine {out['machine']}, not aarch64")
            return out["logits"], out["gates"]


def runner_info(runner: Path, artifact: Path, emulate: bool = True) -> dict:
    args = [runner, "info", artifact.resolve()]
    result = _qemu(args, 600) if emulate else subprocess.run(list(map(str, args)), capture_output=True, text=True,
                                                             check=True)
    return json.loads(result.stdout)


def run_aarch64_pte(runner: Path, artifact: Path, inputs: list, output_shapes: list, timeout: float = 1800):
    import numpy as np

    from sdk.runtime.tensors import EXECUTORCH_DTYPES as ET_DTYPES

    info = runner_info(runner, artifact)
    _check_io(artifact, info, inputs)
    count = len(inputs[0])
    with tempfile.TemporaryDirectory() as tmp:
        blob = b"".join(np.ascontiguousarray(x[s]).tobytes() for s in range(count) for x in inputs)
        (Path(tmp) / "in.bin").write_bytes(blob)
        _qemu([runner, "run", artifact.resolve(), Path(tmp) / "in.bin", Path(tmp) / "out.bin", 1], timeout)
        raw = (Path(tmp) / "out.bin").read_bytes()
    dtypes = [np.dtype(ET_DTYPES[o["dtype"]]) for o in info["outputs"]]
    sizes = [int(np.prod(o["shape"])) for o in info["outputs"]]
    per_sample = sum(d.itemsize * n for d, n in zip(dtypes, sizes))
    if len(raw) != per_sample * count:
        raise RuntimeError(f"{artifact.name}: runner wrote {len(raw)} bytes, expected {per_sample * count}")
    outputs = [[] for _ in info["outputs"]]
    offset = 0
    for _ in range(count):
        for k, (dtype, n) in enumerate(zip(dtypes, sizes)):
            outputs[k].append(np.frombuffer(raw, dtype, n, offset).reshape(info["outputs"][k]["shape"]))
            offset += dtype.itemsize * n
    return np.stack(outputs[0]), np.stack(outputs[1])


def _check_io(artifact: Path, info: dict, inputs: list) -> None:
    """The program's MethodMeta (from the runner) against the arrays we are about to feed."""
    from sdk.runtime.tensors import EXECUTORCH_DTYPES as ET_DTYPES

    if len(info["inputs"]) != len(inputs):
        raise RuntimeError(f"{artifact.name}: the program takes {len(info['inputs'])} inputs, the manifest lists "
                           f"{len(inputs)}")
    for k, (meta, x) in enumerate(zip(info["inputs"], inputs)):
        if list(x.shape[1:]) != meta["shape"] or x.dtype.name != ET_DTYPES.get(meta["dtype"]):
            raise RuntimeError(f"{artifact.name}: input {k} is {ET_DTYPES.get(meta['dtype'], meta['dtype'])} "
                               f"{meta['shape']} in the program, {x.dtype.name} {list(x.shape[1:])} in the manifest")


# ------------------------------------------------------------------ inputs and comparison
def artifacts(models: Path) -> list[tuple[Path, dict]]:
    """(artifact, manifest) for every artifact under `models` (sdk.runtime.backends.find_artifacts, the
    project's one discovery rule) whose manifest names it and has the fields compared here."""
    from sdk.runtime.backends import find_artifacts

    return [(artifact, manifest) for artifact, manifest in find_artifacts(models)
            if {"format", "precision", "artifact", "inputs"} <= manifest.keys() and manifest["artifact"] == artifact.name]


def random_inputs(manifest: dict, per_pattern: int, seed: int) -> list:
    """Seeded inputs in the manifest's shapes and dtypes, `per_pattern` samples for every non-empty modality subset."""
    import numpy as np

    rng = np.random.default_rng(seed)
    specs = {m["name"]: m for m in manifest.get("spec", {}).get("modalities", [])}
    modalities = manifest["modalities"]
    inputs = {i["name"]: i for i in manifest["inputs"]}
    patterns = [p for p in itertools.product((1.0, 0.0), repeat=len(modalities)) if any(p)]
    arrays = {name: [] for name in inputs}
    for pattern in patterns:
        for _ in range(per_pattern):
            for k, name in enumerate(modalities):
                shape, dtype = inputs[name]["shape"], np.dtype(inputs[name]["dtype"])
                steps = shape[1] if len(shape) > 1 else 1
                keep = int(rng.integers(1, steps + 1))  # left padding: the last `keep` steps are real
                if dtype.kind in "iu":
                    vocabulary = len(specs.get(name, {}).get("vocabulary") or []) or 100
                    x = rng.integers(min(3, vocabulary - 1), vocabulary, size=shape).astype(dtype)
                else:
                    x = rng.standard_normal(shape).astype(dtype)
                if len(shape) > 1:
                    x[:, : steps - keep] = 0
                if not pattern[k]:  # an absent modality is all zeros, as the runtime feeds it
                    x = np.zeros_like(x)
                arrays[name].append(x)
            arrays["presence"].append(np.array([pattern], dtype=np.dtype(inputs["presence"]["dtype"])))
    return [np.stack(arrays[i["name"]]) for i in manifest["inputs"]]


def checkpoint_inputs(checkpoint: Path, count: int) -> dict:
    """Real inputs: the first `count` test samples of the checkpoint's dataset, normalized as in training
    (`sdk.train.checkpoint_data`), each under every non-empty modality subset it has (absent ones zeroed).
    Returned as {input name: array with a leading sample axis}, the layout of `--inputs`."""
    import numpy as np

    from sdk.checkpoint import load_checkpoint
    from sdk.train import checkpoint_data

    model, payload = load_checkpoint(checkpoint)
    test = checkpoint_data(model, payload)["test"]
    names = model.spec.modality_names
    inputs = [x.numpy() for x in test.inputs]
    own = test.presence.numpy()
    arrays = {name: [] for name in [*names, "presence"]}
    patterns = [p for p in itertools.product((1.0, 0.0), repeat=len(names)) if any(p)]
    for i in range(min(count, len(test))):
        for pattern in patterns:
            presence = np.array(pattern, dtype=np.float32) * (own[i] > 0)
            if not presence.any():
                continue
            for k, name in enumerate(names):
                x = inputs[k][i : i + 1]
                arrays[name].append(x * presence[k] if x.dtype.kind == "f" else x * int(presence[k]))
            arrays["presence"].append(presence[None].astype(np.float32))
    return {name: np.stack(values) for name, values in arrays.items()}


def load_inputs(path: Path, manifest: dict) -> list:
    import numpy as np

    with np.load(path) as data:
        missing = [i["name"] for i in manifest["inputs"] if i["name"] not in data.files]
        if missing:
            raise ValueError(f"{path}: no array for input(s) {', '.join(missing)}")
        arrays = []
        for i in manifest["inputs"]:
            x = data[i["name"]].astype(i["dtype"])
            if list(x.shape[1:]) != i["shape"]:
                raise ValueError(f"{path}: {i['name']} has per-sample shape {list(x.shape[1:])}, "
                                 f"the artifact takes {i['shape']}")
            arrays.append(x)
    return arrays


def _real_for(real: dict, manifest: dict) -> list:
    arrays = []
    for i in manifest["inputs"]:
        if i["name"] not in real or list(real[i["name"]].shape[1:]) != i["shape"]:
            raise ValueError(f"the checkpoint's inputs do not fit this artifact's {i['name']} {i['shape']}")
        arrays.append(real[i["name"]].astype(i["dtype"]))
    return arrays


def run_x86(fmt: str, artifact: Path, inputs: list):
    import numpy as np

    from sdk.runtime.backends import load_runner

    run = load_runner(fmt, artifact, num_threads=1)
    logits, gates = [], []
    for s in range(len(inputs[0])):
        out = run([np.ascontiguousarray(x[s]) for x in inputs])
        logits.append(np.array(out[0], copy=True))
        gates.append(np.array(out[1], copy=True))
    return np.stack(logits), np.stack(gates)


def softmax(logits):
    """Per-sample softmax of (samples, ...) logits (sdk.runtime.tensors.softmax, the project's one)."""
    from sdk.runtime.tensors import softmax as softmax_last_axis

    return softmax_last_axis(logits.reshape(len(logits), -1))


def compare(models: Path, inputs_path: Path | None = None, per_pattern: int = 4, seed: int = 0,
            runner: Path | None = None, checkpoint: Path | None = None, test_samples: int = 8) -> dict:
    """Run every artifact under `models` on x86 and on emulated aarch64; the comparison as a dict."""
    import numpy as np

    found = artifacts(models)
    if not found:
        raise FileNotFoundError(f"{models}: no artifacts with manifests (*.json beside them)")
    started = time.perf_counter()
    setup = prepare()
    prepare_seconds = time.perf_counter() - started
    runner = Path(runner or setup["runner"])
    real = checkpoint_inputs(checkpoint, test_samples) if checkpoint else None
    rows = []
    for artifact, manifest in found:
        fmt, precision = manifest["format"], manifest["precision"]
        row = {"artifact": str(artifact.relative_to(models)), "format": fmt, "precision": precision}
        try:
            from export.manifest import check_artifact

            check_artifact(artifact)
            if real is not None:
                xs = _real_for(real, manifest)
            elif inputs_path:
                xs = load_inputs(inputs_path, manifest)
            else:
                xs = random_inputs(manifest, per_pattern, seed)
            row["samples"] = len(xs[0])
            t = time.perf_counter()
            x86_logits, x86_gates = run_x86(fmt, artifact, xs)
            row["x86_seconds"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            if fmt == "executorch":
                arm_logits, arm_gates = run_aarch64_pte(runner, artifact, xs, [o["shape"] for o in manifest["outputs"]])
            elif fmt in ("onnx", "litert"):
                arm_logits, arm_gates = run_aarch64_python(fmt, artifact, xs)
            else:
                raise ValueError(f"no aarch64 runner for format {fmt!r}")
            row["aarch64_seconds"] = round(time.perf_counter() - t, 3)
            p86, parm = softmax(x86_logits), softmax(arm_logits)
            row["max_abs_dprob"] = float(np.abs(p86 - parm).max())
            row["top1_agreement"] = float((p86.argmax(1) == parm.argmax(1)).mean())
            row["max_abs_dgate"] = float(np.abs(x86_gates.astype(np.float64) - arm_gates).max())
            row["bit_identical"] = bool(np.array_equal(x86_logits, arm_logits) and np.array_equal(x86_gates, arm_gates))
            row["status"] = "ok"
        except Exception as err:  # one broken artifact must not hide the others' numbers
            row["status"] = "error"
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
        log(f"{row['artifact']}: {row['status']}" + (f" max|Δp| {row['max_abs_dprob']:.2e}" if "max_abs_dprob" in row
                                                     else f" {row.get('error', '')}"))
    if checkpoint:
        described = f"{checkpoint}: first {test_samples} test samples x every modality subset"
    elif inputs_path:
        described = str(inputs_path)
    else:
        described = f"random (seed {seed}, {per_pattern} per modality pattern)"
    return {"models": str(models), "qemu_cpu": QEMU_CPU, "inputs": described, "aarch64": setup,
            "prepare_seconds": round(prepare_seconds, 2), "seconds": round(time.perf_counter() - started, 2),
            "artifacts": rows}


def table(report: dict) -> str:
    lines = ["| artifact | precision | samples | max |Δp| | top-1 agree | max |Δgate| | bit-identical | "
             "aarch64 s | x86 s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report["artifacts"]:
        if r["status"] != "ok":
            lines.append(f"| {r['artifact']} | {r['precision']} | ERROR: {r['error'].splitlines()[0]} |||||||")
            continue
        lines.append(f"| {r['artifact']} | {r['precision']} | {r['samples']} | {r['max_abs_dprob']:.2e} | "
                     f"{r['top1_agreement']:.3f} | {r['max_abs_dgate']:.2e} | {'yes' if r['bit_identical'] else 'no'} | "
                     f"{r['aarch64_seconds']:.1f} | {r['x86_seconds']:.2f} |")
    lines.append(f"\nqemu-aarch64 -cpu {report['qemu_cpu']}; inputs: {report['inputs']}; "
                 f"prepare {report['prepare_seconds']:.1f} s, total {report['seconds']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.arm64", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="a dist directory (artifacts with their manifests), e.g. dist/mosi")
    parser.add_argument("--json", help="write the comparison here")
    parser.add_argument("--inputs", help="npz of inputs named like the manifest's, leading sample axis")
    parser.add_argument("--checkpoint", help="real inputs: test samples of this run directory's dataset")
    parser.add_argument("--test-samples", type=int, default=8,
                        help="with --checkpoint: test samples, each under every modality subset (default 8)")
    parser.add_argument("--samples-per-pattern", type=int, default=4,
                        help="random inputs: samples for each non-empty modality subset (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prepare", action="store_true", help="only prepare the cached toolchain under .tools/arm64")
    args = parser.parse_args(argv)
    try:
        if args.prepare:
            check_tools()
            TOOLS.mkdir(parents=True, exist_ok=True)
            prepare_sysroot()
            try:
                versions = wanted_versions()
                prepare_wheels(versions)
                prepare_executorch(versions.get("executorch"))
                build_runner("aarch64")
            except Arm64Unavailable as err:
                if "has no pip" not in str(err):
                    raise
                log(f"wheels and runner deferred to the first harness run: {err}")
            log(f"ready: {TOOLS}")
            return 0
        if not args.models:
            parser.error("--models is required (or --prepare)")
        if args.samples_per_pattern < 1:
            parser.error("--samples-per-pattern must be >= 1")
        if args.inputs and args.checkpoint:
            parser.error("give --inputs or --checkpoint, not both")
        report = compare(Path(args.models), Path(args.inputs) if args.inputs else None, args.samples_per_pattern,
                         args.seed, checkpoint=Path(args.checkpoint) if args.checkpoint else None,
                         test_samples=args.test_samples)
    except (Arm64Unavailable, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from sdk.atomic import write_json

        write_json(args.json, report, indent=1)
    return 0 if all(r["status"] == "ok" for r in report["artifacts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
