"""The Android demo's plain-Kotlin core: compiled with the Kotlin 2.x compiler (npm kotlin-compiler), its JUnit 4
tests run (ContractTest passes every contract/ vector, the live face-crop and manifest vectors included; LiveTest
covers the live path and the issue-16 app fixes), the ExecuTorch layer compiles against the real ExecuTorch
Android Java API classes and checks loadMethod's status, ktlint is clean over android_demo/, and a report the Kotlin
core writes renders with `python -m sdk.device report`.

Not compiled here (no android.jar, AndroidX, MediaPipe, LiteRT or ONNX Runtime jars reachable from PyPI or npm):
MainActivity (AudioRecord, CameraX, MediaPipe), BenchmarkActivity, ModelAssets and the LiteRT/ONNX runners;
`test_the_app_wires_the_fixed_core_paths` checks their sources call the tested core functions.

Toolchain: `bash .ci/setup-android.sh` (into .tools/). Without it these tests skip, except under CI (the CI
environment variable set), where a missing toolchain fails: CI must never silently skip them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "android_demo"
TOOLS = ROOT / ".tools"
KOTLIN = TOOLS / "npm" / "node_modules" / "kotlin-compiler"
KOTLINC = KOTLIN / "bin" / "kotlinc"
STDLIB = KOTLIN / "lib" / "kotlin-stdlib.jar"
KTLINT = TOOLS / "npm" / "node_modules" / "@naturalcycles" / "ktlint" / "resources" / "ktlint"
EXECUTORCH_JAR = TOOLS / "executorch-android" / "classes.jar"
JUNIT = Path("/usr/share/java/junit4.jar")
HAMCREST = Path("/usr/share/java/hamcrest-core.jar")
EXECUTORCH_LAYER = DEMO / "app" / "src" / "main" / "java" / "ai" / "emoedge" / "demo" / "runtime" / "ExecuTorchRunner.kt"
#: Silero VAD on ExecuTorch (silero_vad.pte from `python -m export.silero`): compiled against classes.jar too.
SILERO_LAYER = EXECUTORCH_LAYER.with_name("SileroVad.kt")


def require_toolchain() -> None:
    missing = [p for p in (KOTLINC, STDLIB, KTLINT, EXECUTORCH_JAR, JUNIT, HAMCREST) if not p.exists()]
    if shutil.which("java") is None:
        missing.append(Path("java"))
    if missing:
        message = (f"Android toolchain missing ({', '.join(str(p) for p in missing)}); "
                   "install it with `bash .ci/setup-android.sh`")
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: these tests must run, not skip)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """One kotlinc run: core + its tests + the ExecuTorch layers (against classes.jar). Returns (classes dir, seconds)."""
    require_toolchain()
    out = tmp_path_factory.mktemp("kotlin-build")
    sources = [DEMO / "core" / "src" / "main" / "kotlin", DEMO / "core" / "src" / "test" / "kotlin", EXECUTORCH_LAYER,
               SILERO_LAYER]
    start = time.perf_counter()
    done = subprocess.run([str(KOTLINC), *map(str, sources), "-cp", f"{JUNIT}:{EXECUTORCH_JAR}", "-d", str(out),
                           "-nowarn"], capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"kotlinc failed:\n{done.stdout}\n{done.stderr}"
    return out, seconds


def compiled_test_classes(build) -> list[str]:
    classes_dir, _ = build
    return sorted(p.relative_to(classes_dir).with_suffix("").as_posix().replace("/", ".")
                  for p in classes_dir.rglob("*Test.class") if "$" not in p.name)


def junit(build, *classes: str, contract: Path = ROOT / "contract", extra: list[str] = ()) -> subprocess.CompletedProcess:
    classes_dir, _ = build
    classpath = ":".join(map(str, (classes_dir, STDLIB, JUNIT, HAMCREST)))
    return subprocess.run(["java", f"-Demoedge.contract.dir={contract}", *extra, "-cp", classpath,
                           "org.junit.runner.JUnitCore", *classes], capture_output=True, text=True, timeout=300)


def test_kotlin_core_compiles_and_its_junit_tests_pass(build, tmp_path):
    classes = compiled_test_classes(build)
    assert "ai.emoedge.core.ContractTest" in classes
    report = tmp_path / "report.json"
    start = time.perf_counter()
    done = junit(build, *classes, extra=[f"-Demoedge.report.out={report}"])
    seconds = time.perf_counter() - start
    match = re.search(r"^OK \((\d+) tests?\)", done.stdout, re.M)
    assert done.returncode == 0 and match, done.stdout[-4000:] + done.stderr[-2000:]
    count = int(match.group(1))
    assert count >= 20
    print(f"\nKotlin core: kotlinc {build[1]:.1f} s, JUnit OK ({count} tests) in {seconds:.1f} s "
          f"over {len(classes)} classes")


def runtime_bytecode(build, name: str) -> str:
    """`javap -c -p` of the app's compiled runtime class ai.emoedge.demo.runtime.<name> (it must exist)."""
    classes_dir, _ = build
    compiled = classes_dir / "ai" / "emoedge" / "demo" / "runtime" / f"{name}.class"
    assert compiled.is_file()
    return subprocess.run(["javap", "-c", "-p", "-cp", f"{classes_dir}:{EXECUTORCH_JAR}:{STDLIB}", str(compiled)],
                          capture_output=True, text=True, timeout=60).stdout


def test_the_executorch_layer_compiled_against_the_real_api(build):
    listing = runtime_bytecode(build, "ExecuTorchRunner")
    for call in ("org/pytorch/executorch/Module.load", "org/pytorch/executorch/Module.forward",
                 "org/pytorch/executorch/Module.getMethodMetadata", "org/pytorch/executorch/MethodMetadata.getBackends",
                 "org/pytorch/executorch/Tensor.fromBlob", "org/pytorch/executorch/EValue.from",
                 "org/pytorch/executorch/Module.loadMethod", "ai/emoedge/core/ExecuTorchStatus.check",
                 "ai/emoedge/core/PackedInputs.typedFor", "ai/emoedge/core/AcceleratorPlan.decide"):
        assert call in listing, call
    # The plan (which .pte runs where: XNNPACK, Vulkan; QNN and Core ML refused) is decided before loading,
    # with the runtime's registered backends (a Vulkan .pte on an AAR without Vulkan is refused with the fix).
    assert listing.index("ai/emoedge/core/AcceleratorPlan.decide") < listing.index("org/pytorch/executorch/Module.load")
    runner = runtime_bytecode(build, "ExecuTorchRunner$Companion")
    assert "org/pytorch/executorch/ExecuTorchRuntime.getRegisteredBackends" in runner
    assert "registeredBackends" in listing
    # loadMethod's status is checked after the call (a failed load is reported at open time, issue 16).
    assert listing.index("org/pytorch/executorch/Module.loadMethod") < listing.index("ai/emoedge/core/ExecuTorchStatus.check")
    source = EXECUTORCH_LAYER.read_text()
    assert "import android." not in source and "import androidx." not in source


def test_the_silero_vad_layer_compiled_against_the_real_api(build):
    """SileroVad (silero_vad.pte through org.pytorch.executorch.Module) checks the .pte's sha256 before loading,
    checks loadMethod's status, and feeds (1, 576) frames and the (2, 1, 128) state to forward."""
    listing = runtime_bytecode(build, "SileroVad")
    for call in ("org/pytorch/executorch/Module.load", "org/pytorch/executorch/Module.loadMethod",
                 "org/pytorch/executorch/Module.forward", "org/pytorch/executorch/Tensor.fromBlob",
                 "org/pytorch/executorch/EValue.from", "ai/emoedge/core/ExecuTorchStatus.check",
                 "ai/emoedge/core/SileroManifest.checkArtifact", "implements ai.emoedge.core.SileroNetwork"):
        assert call in listing, call
    assert listing.index("ai/emoedge/core/SileroManifest.checkArtifact") < listing.index("org/pytorch/executorch/Module.load")
    source = SILERO_LAYER.read_text()
    assert "import android." not in source and "import androidx." not in source


def test_contract_test_fails_on_a_changed_vector(build, tmp_path):
    """ContractTest really compares: one altered expected probability makes it fail."""
    copy = tmp_path / "contract"
    shutil.copytree(ROOT / "contract", copy)
    results = json.loads((copy / "results.json").read_text())
    results["cases"][0]["expected"]["probabilities"][0] += 1e-3
    (copy / "results.json").write_text(json.dumps(results))
    done = junit(build, "ai.emoedge.core.ContractTest", contract=copy)
    assert done.returncode != 0 and "probabilities" in done.stdout, done.stdout[-2000:]


def test_contract_test_fails_on_a_changed_face_crop_byte(build, tmp_path):
    """The face-crop vectors are compared byte for byte: one changed expected byte fails ContractTest.faceCrop."""
    copy = tmp_path / "contract"
    shutil.copytree(ROOT / "contract", copy)
    crops = json.loads((copy / "face_crop.json").read_text())
    case = next(c for c in crops["cases"] if "data" in c["expected"])
    case["expected"]["data"][100] = (case["expected"]["data"][100] + 1) % 256
    (copy / "face_crop.json").write_text(json.dumps(crops))
    done = junit(build, "ai.emoedge.core.ContractTest", contract=copy)
    assert done.returncode != 0 and "faceCrop" in done.stdout and case["name"] in done.stdout, done.stdout[-2000:]


def test_the_app_ships_the_executorch_release_that_exports():
    """gradle.properties' executorch-android version is the executorch the Python exporter pins (pyproject.toml)."""
    pinned = re.search(r'"executorch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    shipped = re.search(r"^executorchVersion=(\S+)$", (DEMO / "gradle.properties").read_text(), re.M)
    assert pinned and shipped, "executorch pin or executorchVersion not found"
    assert shipped.group(1) == pinned.group(1), (
        f"the app ships executorch-android {shipped.group(1)} but the exporter writes .pte with executorch "
        f"{pinned.group(1)}: set executorchVersion={pinned.group(1)} in android_demo/gradle.properties")
    build_file = (DEMO / "app" / "build.gradle.kts").read_text()
    assert 'implementation("org.pytorch:executorch-android:$executorchVersion")' in build_file


def test_the_gradle_build_takes_a_local_executorch_aar_from_its_property():
    """-Pemoedge.executorchAar=/path/to/executorch.aar (e.g. an AAR built with Vulkan) replaces the Maven
    executorch-android dependency, a missing file stops the build with the fix, fbjni and soloader (which a local
    AAR's missing POM would not bring) are declared either way, and gradle.properties and the README document it."""
    build_file = (DEMO / "app" / "build.gradle.kts").read_text()
    assert 'findProperty("emoedge.executorchAar")' in build_file
    choice = re.search(r"if \(executorchAar != null\) \{\s*implementation\(files\(executorchAar\)\)[^\n]*\n"
                       r'\s*\} else \{\s*implementation\("org\.pytorch:executorch-android:\$executorchVersion"\)\s*\}',
                       build_file)
    assert choice, "the dependencies block must take files(executorchAar) when the property is set, else the Maven AAR"
    assert build_file.count("org.pytorch:executorch-android:$executorchVersion\")") == 1  # only in the else branch
    assert "if (!aar.isFile)" in build_file and "throw GradleException(" in build_file
    deps = build_file[build_file.index("dependencies {"):]
    outside = deps[deps.index("implementation(\"org.pytorch:executorch-android:$executorchVersion\")"):]
    outside = outside[outside.index("}") + 1:]  # after the if/else: unconditional
    for dep in ('implementation("com.facebook.soloader:soloader:0.10.5")', 'implementation("com.facebook.fbjni:fbjni:0.7.0")'):
        assert dep in outside, dep
    assert "# emoedge.executorchAar=" in (DEMO / "gradle.properties").read_text()
    readme = (DEMO / "README.md").read_text()
    for text in ("-Pemoedge.executorchAar=", "EXECUTORCH_BUILD_VULKAN=ON", "bash scripts/build_android_library.sh"):
        assert text in readme, text
    # The runtime-side refusal names the same property and build (AcceleratorTest checks the message).
    core = (DEMO / "core" / "src" / "main" / "kotlin" / "ai" / "emoedge" / "core" / "Accelerator.kt").read_text()
    assert "-Pemoedge.executorchAar=" in core and "EXECUTORCH_BUILD_VULKAN=ON" in core


def test_the_app_wires_the_fixed_core_paths():
    """Source checks of the app files CI cannot compile: they drive the tested core, not their own copies of it.

    Each line is one issue-16 fix whose logic LiveTest covers; this only checks the app calls it."""
    app = DEMO / "app" / "src" / "main" / "java" / "ai" / "emoedge" / "demo"
    main = (app / "MainActivity.kt").read_text()
    runtimes = (app / "runtime" / "Runtimes.kt").read_text()
    # Permission results start the sensors (not a one-shot check at start-up).
    assert "registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions())" in main
    assert "CapturePlan.decide(" in main and "override fun onResume()" in main
    # Text, replay, face and PCM go through LiveInputs (replace, not append).
    for call in ("live?.onText(", "l.onReplay(", "l.onFace(", "l?.onPcm16("):
        assert call in main, call
    assert "windows?.add(" not in main
    # Face: upright + mirrored plane, MediaPipe boxes, the shared crop rule.
    for call in ("GrayImage.fromPlane(", "imageInfo.rotationDegrees", "FaceDetector.createFromOptions(", "FaceCrop.crop("):
        assert call in main, call
    # Issue 16: microphone audio counts only when Silero VAD (silero_vad.pte on ExecuTorch) hears speech.
    assets = (app / "ModelAssets.kt").read_text()
    for call in ("voiceActivity = voiceActivityFor(assets, m)", "SileroVad(found.first, found.second)",
                 "SileroFrames.framesInWindow(", "voiceActivity?.hasSpeech()", '"no speech"'):
        assert call in main, call
    assert 'context.assets.list("vad")' in assets and "SileroManifest.parse(" in assets
    # A failed load is shown instead of crashing at the first prediction.
    assert "Runtimes.open(file, m)" in main and "catch (e: Exception)" in main
    # LiteRT and ONNX feed the manifest's dtypes (int32 token ids for LiteRT; the Interpreter and CompiledModel paths).
    assert runtimes.count("typedFor(manifest)") == 3 and "IntBuffer.wrap(t.ints)" in runtimes
    # Issue 18: the accelerator choice goes through the tested AcceleratorPlan to each runtime's public API.
    for call in ("AcceleratorPlan.decide(manifest, accelerator)", "CompiledModel.create(", "LiteRtAccelerator.GPU",
                 "LiteRtAccelerator.NPU", "addNnapi(EnumSet.of(NNAPIFlags.CPU_DISABLED))",
                 'addQnn(mapOf("backend_type" to "htp"))', "plan.accelerator)"):
        assert call in runtimes, call


def test_the_benchmark_activity_drives_the_tested_protocol():
    """BenchmarkActivity (not compilable here: android.*) runs the core's BlockSchedule and BenchmarkReport (both
    JUnit-tested in BenchmarkTest), reads the API 35 power monitors and the thermal headroom, times the load
    without hashing, and no longer refuses to run while plugged in (issue 18)."""
    source = (DEMO / "app" / "src" / "main" / "java" / "ai" / "emoedge" / "demo" / "BenchmarkActivity.kt").read_text()
    for call in ("BlockSchedule(", "BenchmarkReport.records(", "getPowerMonitorReadings(", "POWER_MONITOR_TYPE_MEASUREMENT",
                 "getThermalHeadroom(", "currentThermalStatus", "Debug.getPss()", "FLAG_KEEP_SCREEN_ON",
                 "manifest.checkArtifact(file)", "artifactChecked = true", "delegate = it.delegate",
                 'getStringExtra("accelerator")', "accelerator = accelerator", "accelerator = it.accelerator",
                 "delegatedFraction = it.delegatedFraction"):
        assert call in source, call
    assert source.index("manifest.checkArtifact(file)") < source.index("val loadStart")
    assert "allow_charging" not in source and "is charging" not in source


def test_a_kotlin_report_renders_on_the_host(build, tmp_path):
    """The Kotlin core's result (schema emoedge.bench/2) is the format sdk.device reads: the host recomputes
    percentiles, trimmed mean and the block energy from its raw data and finds no mismatch."""
    from sdk.device import load_records, render
    from sdk.device_report import summarize

    report = tmp_path / "kotlin_report.json"
    done = junit(build, "ai.emoedge.core.BenchmarkTest", extra=[f"-Demoedge.report.out={report}"])
    assert done.returncode == 0, done.stdout[-2000:]
    records = load_records(report)
    markdown, written = render(records, tmp_path / "kotlin_report.json")
    assert "| android | model_fp32.pte | executorch | XnnpackBackend | fp32 | audio,text | — | 12 | 3.25 | 2.450 |" \
        in markdown
    row = summarize(records)[0]
    assert row["energy_source"] == "power_monitor" and row["checks"] == []
    assert f"{row['energy_mj']:.3f} ± {row['energy_uncertainty_mj']:.3f} | power_monitor" in markdown
    assert "⚠" not in markdown
    assert [p.name for p in written[1:]] == ["kotlin_report_latency.png", "kotlin_report_energy.png",
                                             "kotlin_report_thermal.png"]


def test_ktlint_is_clean_over_android_demo():
    require_toolchain()
    start = time.perf_counter()
    done = subprocess.run(["java", "-jar", str(KTLINT), "**/*.kt", "**/*.kts"], cwd=DEMO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    files = len(list(DEMO.rglob("*.kt"))) + len(list(DEMO.rglob("*.kts")))
    assert files >= 15
    print(f"\nktlint: {files} files clean in {time.perf_counter() - start:.1f} s")
