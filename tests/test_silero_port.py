"""The PyTorch port of Silero VAD (export/silero.py) against the ONNX model the SDK runs (sdk/vad.py).

Silero VAD: github.com/snakers4/silero-vad (MIT). The port must give the same per-frame
probabilities as onnxruntime on the wheel's silero_vad.onnx within TOLERANCE, hence the same
decisions (sdk.vad.segments, the rule contract/vad.json pins), on generated audio, the contract's
PCM cases and a real RAVDESS clip (a `data` test: skipped without the data, failed under CI).
Its ExecuTorch export (.pte, XNNPACK) is checked in ExecuTorch's Python runtime on the same clips.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export import silero
from sdk import vad
from tests.helpers import unavailable

#: max |p_port - p_onnx| allowed per frame (measured: 1.6e-5 on RAVDESS, < 4e-7 on generated audio)
TOLERANCE = 1e-4
CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "vad.json"


@pytest.fixture(scope="module")
def port():
    torch.set_num_threads(1)
    return silero.load_port()


def generated_clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 40_000  # 2.5 s: the last frame is partial (zero-padded)
    t = np.arange(n) / silero.SAMPLE_RATE
    return {"silence": np.zeros(n, np.float32),
            "white noise -26 dBFS": rng.normal(0, 0.05, n).astype(np.float32),
            "loud noise": np.clip(rng.normal(0, 0.5, n), -1, 1).astype(np.float32),
            "tone 220 Hz": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
            "chirp": (0.2 * np.sin(2 * np.pi * (100 + 1500 * t) * t)).astype(np.float32)}


def assert_same_as_onnx(step, x: np.ndarray, name: str) -> np.ndarray:
    ours = silero.run_frames(step, x)
    reference = vad.SileroVAD().probabilities(x)
    assert ours.shape == reference.shape, name
    diff = float(np.abs(ours - reference).max())
    assert diff <= TOLERANCE, f"{name}: max |dp| {diff:.2e} > {TOLERANCE}"
    assert vad.segments(ours) == vad.segments(reference), name
    assert vad.has_speech(ours) == vad.has_speech(reference), name
    return ours


def test_port_matches_onnx_on_generated_audio(port):
    for name, x in generated_clips().items():
        probs = assert_same_as_onnx(silero.torch_step(port), x, name)
        assert len(probs) == 79 and not vad.has_speech(probs), name


def test_port_matches_the_contract_pcm_cases(port):
    cases = [c for c in json.loads(CONTRACT.read_text())["cases"] if "pcm" in c]
    assert len(cases) >= 4
    for case in cases:
        x = np.asarray(case["pcm"]["data"], np.float32) / 32768.0
        probs = assert_same_as_onnx(silero.torch_step(port), x, case["name"])
        np.testing.assert_allclose(probs, case["expected"]["probabilities"], atol=TOLERANCE, err_msg=case["name"])
        assert vad.has_speech(probs) == case["expected"]["speech"], case["name"]


@pytest.mark.data
def test_port_matches_onnx_on_a_ravdess_clip(port):
    x = silero.ravdess_clip()
    if x is None:
        unavailable("ravdess_speech data not found (set EMOEDGE_DATA or place ../shared/datasets)")
    probs = assert_same_as_onnx(silero.torch_step(port), x, "ravdess a20")
    assert vad.has_speech(probs) and (probs >= 0.5).mean() > 0.3


def test_port_is_stateless_and_carries_state_only_through_its_arguments(port):
    frame = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, (1, 576)).astype(np.float32))
    state = torch.zeros(silero.STATE_SHAPE)
    with torch.no_grad():
        p1, s1 = port(frame, state)
        p2, s2 = port(frame, state)
        p3, _ = port(frame, s1)
    assert torch.equal(p1, p2) and torch.equal(s1, s2)
    assert p1.shape == (1, 1) and s1.shape == silero.STATE_SHAPE
    assert not torch.equal(p1, p3)  # the state matters


def test_framing_matches_sdk_vad():
    """frames_with_context is sdk/vad.py's framing: 64 samples of the previous frame in front, zeros first."""
    x = np.arange(1100, dtype=np.float32)
    frames = silero.frames_with_context(x)
    assert frames.shape == (3, 576)
    assert (frames[0, :64] == 0).all() and (frames[0, 64:] == x[:512]).all()
    assert (frames[1, :64] == x[448:512]).all() and (frames[1, 64:] == x[512:1024]).all()
    assert (frames[2, 64:140] == x[1024:]).all() and (frames[2, 140:] == 0).all()


def test_weights_come_from_the_installed_wheel():
    assert silero.weights_path(silero.JIT_FILE).parent.parent.name == "silero_vad"
    with pytest.raises(ValueError, match="'jit' or 'safetensors'"):
        silero.load_port("download")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`python -m export.silero --out DIR --no-litert` once (about 20 s at one thread)."""
    out = tmp_path_factory.mktemp("silero")
    assert silero.main(["--out", str(out), "--no-litert", "--threads", "1"]) == 0
    return out


def test_export_writes_a_pte_and_its_manifest(exported):
    from sdk.atomic import sha256_file

    manifest = json.loads((exported / silero.MANIFEST_NAME).read_text())
    entry = manifest["files"][silero.PTE_NAME]
    pte = exported / silero.PTE_NAME
    assert entry["status"] == "ok" and entry["sha256"] == sha256_file(pte) and entry["size_bytes"] == pte.stat().st_size
    assert max(entry["max_abs_diff_vs_onnx"].values()) <= TOLERANCE
    assert entry["delegation"]["backends"] == {"XnnpackBackend": entry["delegation"]["delegated_subgraphs"]}
    assert (manifest["frame"], manifest["context"], manifest["sample_rate"]) == (512, 64, 16000)
    assert manifest["state_shape"] == [2, 1, 128] and "MIT" in manifest["licence"]
    assert manifest["source"]["package"] == "silero-vad" and manifest["source"]["version"] != "unknown"


def test_pte_in_the_executorch_runtime_matches_onnx(exported):
    step = silero.pte_step(exported / silero.PTE_NAME)
    for name, x in generated_clips().items():
        assert_same_as_onnx(step, x, f".pte {name}")
    speech = silero.ravdess_clip()
    if speech is not None:
        assert vad.has_speech(assert_same_as_onnx(step, speech, ".pte ravdess a20"))


def test_copy_assets_ships_the_vad_to_the_android_app(exported, tmp_path):
    """android_demo/scripts/copy_assets.py --vad puts silero_vad.pte + .json where ModelAssets.voiceActivity() looks."""
    import importlib.util
    import shutil

    script = Path(__file__).resolve().parents[1] / "android_demo" / "scripts" / "copy_assets.py"
    spec = importlib.util.spec_from_file_location("copy_assets", script)
    copy_assets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy_assets)
    copied = copy_assets.copy_vad(exported, tmp_path / "assets")
    assert [p.relative_to(tmp_path / "assets").as_posix() for p in copied] == ["vad/silero_vad.pte",
                                                                                "vad/silero_vad.json"]
    assert (tmp_path / "assets" / "vad" / "silero_vad.pte").read_bytes() == (exported / "silero_vad.pte").read_bytes()
    # A .pte that is not the manifest's is refused, naming the fix.
    other = tmp_path / "other"
    shutil.copytree(exported, other)
    (other / "silero_vad.pte").write_bytes(b"not a program")
    with pytest.raises(ValueError, match="re-run `python -m export.silero`"):
        copy_assets.copy_vad(other, tmp_path / "assets2")
    with pytest.raises(FileNotFoundError, match="python -m export.silero --out"):
        copy_assets.copy_vad(tmp_path / "empty", tmp_path / "assets3")
