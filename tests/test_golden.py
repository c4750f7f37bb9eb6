"""Golden vectors per artifact (sdk.golden, export.golden): the export writes `<stem>.golden.json` beside every
artifact, `python -m sdk.contract --golden` checks each artifact in its own backend against it, a tampered
expectation fails and a golden file of another artifact is refused. Reuses the session's tiny export (`tiny_dist`)."""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from sdk import contract, golden
from tests.helpers import ARTIFACTS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "contract" / contract.GOLDEN_EXAMPLE


@pytest.fixture(scope="module")
def dist(tiny_dist) -> Path:
    return tiny_dist["onnx"].parent.parent


def copy_artifact(artifact: Path, target: Path) -> Path:
    """The artifact, its manifest and its golden file in `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in (artifact, artifact.with_name(artifact.name + ".json"), golden.golden_path(artifact)):
        shutil.copy2(path, target / path.name)
    return target / artifact.name


def test_the_export_writes_a_small_golden_file_per_artifact(tiny_dist):
    for backend, rel in ARTIFACTS.items():
        artifact = tiny_dist[backend]
        path = golden.golden_path(artifact)
        assert path.name == "model_fp32.golden.json" and path.is_file(), backend
        doc = golden.read(path).doc
        manifest = json.loads(artifact.with_name(artifact.name + ".json").read_text())
        assert doc["sha256"] == manifest["sha256"] and doc["artifact"] == artifact.name
        assert doc["tolerance"] == golden.TOLERANCES["fp32"]
        # 2 samples x (all, each modality alone, audio+text without the frames modality)
        names = [c["name"].split("/")[1] for c in doc["cases"]]
        assert names == ["all", "only_audio", "only_video", "only_text", "audio+text"] * 2
        assert {t["dtype"] for s in doc["samples"] for t in s["inputs"].values()} == {"float32", "int64"}
        assert path.stat().st_size < 50_000


def test_every_backend_passes_its_golden_file(dist, capsys):
    code = contract.main(["--golden", str(dist)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("✅") == len(ARTIFACTS) and "3/3 artifacts pass" in out, out
    outcomes, problems = golden.check_all(dist)
    assert problems == [] and len(outcomes) == len(ARTIFACTS)
    for o in outcomes:
        assert o.cases == 10 and o.top1_agreement == 1.0 and o.max_abs_prob_diff <= 1e-4, o
    print("\n" + golden.format_table(outcomes))


def test_one_artifact_can_be_checked_alone(tiny_dist):
    assert contract.main(["--golden", str(tiny_dist["litert"])]) == 0


def test_a_tampered_expectation_fails(tiny_dist, tmp_path, capsys):
    artifact = copy_artifact(tiny_dist["onnx"], tmp_path / "onnx")
    path = golden.golden_path(artifact)
    doc = json.loads(path.read_text())
    case = doc["cases"][3]
    case["expected"]["probabilities"][0] += 1e-3
    path.write_text(json.dumps(doc))
    code = contract.main(["--golden", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "❌" in out and f"{case['name']}: max |Δp|" in out, out


def test_a_golden_file_of_another_artifact_is_refused(tiny_dist, tmp_path, capsys):
    artifact = copy_artifact(tiny_dist["onnx"], tmp_path / "onnx")
    path = golden.golden_path(artifact)
    doc = json.loads(path.read_text())
    doc["sha256"] = hashlib.sha256(tiny_dist["litert"].read_bytes()).hexdigest()
    path.write_text(json.dumps(doc))
    assert contract.main(["--golden", str(artifact)]) == 1
    out = capsys.readouterr().out
    assert "is for another artifact" in out and "refusing" in out, out
    with pytest.raises(golden.GoldenError, match="another artifact"):
        golden.check_binding(golden.read(path), artifact)


def test_missing_golden_files_fail_clearly(tiny_dist, tmp_path, capsys):
    artifact = copy_artifact(tiny_dist["onnx"], tmp_path / "onnx")
    golden.golden_path(artifact).unlink()
    assert contract.main(["--golden", str(artifact)]) == 1
    assert "no golden file model_fp32.golden.json" in capsys.readouterr().out
    assert contract.main(["--golden", str(tmp_path)]) == 1
    assert "no golden files" in capsys.readouterr().out


def test_int8_tolerance_allows_small_deviations_but_not_a_flipped_top1():
    doc = json.loads(EXAMPLE.read_text())
    doc["tolerance"] = golden.tolerance_for("int8")
    loaded = golden.Golden(EXAMPLE, doc)
    n = len(doc["class_names"])

    def shifted(delta, boost_top1=0.0):
        def run(xs):
            logits, gates = golden.toy_outputs(xs, n)
            logits = logits + delta
            logits[0, int(np.argmax(logits))] += boost_top1  # a deviation that keeps the top-1
            return logits, gates
        return run

    small = golden.compare(loaded, shifted(0.0, boost_top1=0.1))
    assert small.passed and 1e-3 < small.max_abs_prob_diff < 0.2, small
    flip = np.zeros((1, n))
    flip[0, 0] = 50.0  # class 0 wins everywhere
    problems = golden.compare(loaded, shifted(flip)).problems
    assert any("top-1" in p for p in problems) and any("max |Δp|" in p for p in problems)
    assert golden.tolerance_for("int8")["max_abs_prob_diff"] == 0.2
    assert golden.tolerance_for("fp32")["max_abs_prob_diff"] == 1e-4


def test_the_contract_example_binds_to_its_bytes_and_decodes_pcm(tmp_path):
    loaded = golden.read(EXAMPLE)
    artifact = tmp_path / "example.bin"
    artifact.write_bytes(golden.EXAMPLE_ARTIFACT_BYTES)
    golden.check_binding(loaded, artifact)
    artifact.write_bytes(golden.EXAMPLE_ARTIFACT_BYTES + b"x")
    with pytest.raises(golden.GoldenError):
        golden.check_binding(loaded, artifact)
    audio, video, text, presence = loaded.case_inputs(loaded.doc["cases"][0])
    assert audio.dtype == np.float32 and audio.shape == (1, 480)
    assert audio[0, 0] == np.float32(loaded.doc["samples"][0]["inputs"]["audio"]["data"][0] / 32768.0)
    assert video.shape == (1, 1, 1, 8, 8) and text.dtype == np.int64 and presence.tolist() == [[1.0, 1.0, 1.0]]
    only_text = next(c for c in loaded.doc["cases"] if c["name"].endswith("only_text"))
    audio, video, _, _ = loaded.case_inputs(only_text)
    assert not audio.any() and not video.any()  # absent modalities are zeros
    broken = copy.deepcopy(loaded.doc)
    broken["cases"][0]["expected"]["gate_weights"][1] += 1e-3
    assert contract.check_golden_example(broken, EXAMPLE)


def test_copy_assets_ships_the_golden_files(dist, tmp_path):
    sys.path.insert(0, str(ROOT / "android_demo" / "scripts"))
    try:
        import copy_assets
    finally:
        sys.path.pop(0)
    copied = copy_assets.copy_models(dist, tmp_path)
    assert copied
    for target in copied:
        assert golden.golden_path(target).is_file(), target


def test_the_device_tests_run_the_golden_check_through_the_apps_runtimes():
    """Source checks of the on-device tests CI cannot run (no device, no android.jar, no Swift compiler): they
    load each bundled artifact with its golden file and check it through the app's own runner classes."""
    android = (ROOT / "android_demo" / "app" / "src" / "androidTest" / "java" / "ai" / "emoedge" / "demo"
               / "GoldenInstrumentedTest.kt").read_text()
    for call in ("ModelAssets(context)", "GoldenFile.pathFor(", "GoldenFile.parse(", "golden.checkArtifact(file)",
                 "golden.checkManifest(manifest)", "Runtimes.open(file, manifest", "golden.check(runner)"):
        assert call in android, call
    gradle = (ROOT / "android_demo" / "app" / "build.gradle.kts").read_text()
    assert 'testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"' in gradle
    assert 'androidTestImplementation("androidx.test.ext:junit:' in gradle
    ios = (ROOT / "ios_demo" / "Benchmarks" / "GoldenArtifactTests.swift").read_text()
    for call in ("RuntimeFactory.bundledArtifacts()", "GoldenFile.url(for:", "GoldenFile.decode(",
                 "golden.checkArtifact(choice.url)", "RuntimeFactory.makeRuntime(for: choice)"):
        assert call in ios, call
