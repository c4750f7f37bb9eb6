#!/usr/bin/env bash
# ARM64 parity toolchain for tests/test_arm64.py (python -m export.arm64):
#   qemu-user-static        Debian: runs aarch64 binaries on x86 (qemu-aarch64-static -cpu cortex-a76 -L SYSROOT)
#   g++-aarch64-linux-gnu   Debian: cross-compiles sdk/runtime/csrc/et_runner.cpp (the .pte runner)
#   debootstrap             Debian: builds the arm64 sysroot (python3, libpython3.11) in .tools/arm64/sysroot
#   g++                     Debian: builds the x86_64 libet_runner.so (sdk.runtime.native, no torch)
# then `python3 -m export.arm64 --prepare`: the sysroot, the aarch64 wheels (onnxruntime, ai-edge-litert,
# executorch for its libraries, numpy; pip install --target), the aarch64 /proc/cpuinfo file and the
# cross-built runner, all cached under .tools/arm64/. Idempotent: each step is skipped when its result is there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v g++ >/dev/null || missing+=(g++)  # the x86 build of the runner: the torch-free ExecuTorch backend
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# stdlib only (runs before the project venv exists); pip downloads the aarch64 wheels
PYTHON=${PYTHON:-python3}
"$PYTHON" -m export.arm64 --prepare
