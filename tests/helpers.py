"""Plain helpers shared by test modules (fixtures live in conftest.py): CI-aware skipping, the tiny
test model and its artifacts, the MOSI test artifacts (slow tests only)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest


def under_ci() -> bool:
    """True in CI (`.ci/run` sets CI=true): nothing a test needs may be missing there."""
    return bool(os.environ.get("CI"))


def unavailable(message: str):
    """Skip on a user's machine without a dataset or toolchain; fail under CI, where everything must run."""
    if under_ci():
        pytest.fail(f"{message} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# Test models and artifacts shared by the runtime tests (session fixtures in conftest.py wrap them)
# ---------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / "runs" / ".test-cache"
MOSI_DIST = REPO / "dist" / "mosi"
MOSI_CHECKPOINT = REPO / "runs" / "mosi"
#: The fp32 artifact of each backend, relative to a dist directory.
ARTIFACTS = {"executorch": "executorch/model_fp32.pte", "litert": "litert/model_fp32.tflite",
             "onnx": "onnx/model_fp32.onnx"}
VOCABULARY = ["<pad>", "<unk>", "<sep>", "good", "bad", "movie", "not", "."]


def make_spec(**kw):
    """A small spec for model and spec tests (features 8x5, frames 4x1x12x12, tokens 6; two classes)."""
    from sdk.spec import FEATURES, FRAMES, TOKENS, ModalitySpec, ModelSpec, Normalization

    return ModelSpec(
        modalities=[
            ModalitySpec("audio", FEATURES, 8, feature_dim=5, normalization=Normalization([0.0] * 5, [1.0] * 5)),
            ModalitySpec("video", FRAMES, 4, channels=1, height=12, width=12),
            ModalitySpec("text", TOKENS, 6, vocabulary=["<pad>", "<unk>", "<sep>", "good", "bad"]),
        ],
        class_names=["neg", "pos"],
        **kw,
    )


def tiny_spec():
    """An 8-wide model with all three kinds of modality: features (6x5), frames (4x1x8x8), tokens (6)."""
    from sdk.spec import FEATURES, FRAMES, TOKENS, ModalitySpec, ModelSpec, Normalization

    return ModelSpec(
        modalities=[
            ModalitySpec("audio", FEATURES, 6, feature_dim=5,
                         normalization=Normalization([1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 1.0, 2.0, 1.0, 1.0])),
            ModalitySpec("video", FRAMES, 4, channels=1, height=8, width=8, normalization=Normalization([0.5], [0.25])),
            ModalitySpec("text", TOKENS, 6, vocabulary=VOCABULARY),
        ],
        class_names=["negative", "positive", "neutral"],
        hidden_size=8, ffn_size=8, attention_heads=2, dataset="synthetic",
    )


def save_tiny_checkpoint(directory: Path) -> Path:
    """The tiny model (seed 0, untrained) saved as a checkpoint in `directory`."""
    import torch

    from sdk.checkpoint import save_checkpoint
    from sdk.model import EmotionModel

    torch.manual_seed(0)
    return save_checkpoint(Path(directory), EmotionModel(tiny_spec()).eval())


@lru_cache(maxsize=1)
def tiny_artifacts() -> dict[str, Path]:
    """The tiny model exported to fp32 in every format, once per process (~50 s): backend -> path
    ("torch" -> its checkpoint). Its token modality carries strings through the artifacts.
    Tests take it as the session fixture `tiny_dist` (conftest.py); scripts call it."""
    import tempfile

    import torch

    from export.pipeline import run
    from sdk.model import EmotionModel
    from sdk.spec import TOKENS
    from sdk.training import SplitTensors

    spec = tiny_spec()
    torch.manual_seed(0)
    model = EmotionModel(spec).eval()
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> SplitTensors:
        xs = [torch.randint(0, len(m.vocabulary), (n, *m.input_shape()), generator=g) if m.kind == TOKENS
              else torch.randn(n, *m.input_shape(), generator=g) for m in spec.modalities]
        presence = torch.ones(n, len(spec.modalities))
        presence[::3, 1] = 0.0
        xs[1][::3] = 0.0
        return SplitTensors(xs, presence, torch.randint(0, spec.num_classes, (n,), generator=g))

    out = Path(tempfile.mkdtemp(prefix="emoedge-tiny-dist-"))
    report = run(model, {"train": split(16), "test": split(16)}, list(ARTIFACTS), ["fp32"], out,
                 calibration=4, progress=False)
    failed = [(a["format"], a["error"]) for a in report["artifacts"] if a["status"] != "ok"]
    assert not failed, f"exporting the tiny model failed: {failed}"
    return {"torch": save_tiny_checkpoint(out / "checkpoint"),
            **{backend: out / artifact for backend, artifact in ARTIFACTS.items()}}


def tiny_inputs(rng, steps=(4, 3, 5)) -> dict:
    """Raw inputs for the tiny model: audio features, video frames and a sentence."""
    import numpy as np

    return {
        "audio": rng.normal(2.0, 1.0, size=(steps[0], 5)).astype(np.float32),
        "video": rng.random((steps[1], 1, 8, 8), dtype=np.float32),
        "text": "Not a good movie.",
    }


def random_steps(modality, rng, steps: int):
    """`steps` random steps of one modality: float32 values, or int64 token ids (never padding 0)."""
    import numpy as np

    if modality.kind == "tokens":
        return rng.integers(1, modality.vocab_size, size=(steps,)).astype(np.int64)
    return rng.normal(size=(steps, *modality.step_shape())).astype(np.float32)


def mosi_paths() -> tuple[Path, Path]:
    """(checkpoint dir, dist dir) of a MOSI model with fp32 artifacts for every format: runs/mosi + dist/mosi
    when a developer has made them, else trained and exported once into runs/.test-cache (~7 min).
    Only slow, data-marked tests use it; without the MOSI data they skip (fail under CI)."""
    if MOSI_CHECKPOINT.is_dir() and all((MOSI_DIST / a).is_file() for a in ARTIFACTS.values()):
        return MOSI_CHECKPOINT, MOSI_DIST
    return _build_mosi_cache()


@lru_cache(maxsize=1)
def _build_mosi_cache() -> tuple[Path, Path]:
    from sdk.data import default_data_path

    if default_data_path("mosi") is None:
        unavailable("MOSI data not found (set EMOEDGE_DATA); needed to build the MOSI test artifacts")
    checkpoint, dist = TEST_CACHE / "mosi", TEST_CACHE / "dist"
    if not (checkpoint / "model.pt").is_file():
        from sdk.data import load_dataset
        from sdk.train import TRAIN_DEFAULTS, train_run
        from sdk.training import TrainConfig

        train_run(load_dataset("mosi"), checkpoint, TrainConfig(**TRAIN_DEFAULTS["mosi"]), progress=False)
    if not all((dist / a).is_file() for a in ARTIFACTS.values()):
        from export.__main__ import main as export_main

        code = export_main(["--checkpoint", str(checkpoint), "--format", "onnx,executorch,litert",
                            "--precision", "fp32", "--out", str(dist)])
        assert code == 0, "exporting the MOSI test artifacts failed"
    return checkpoint, dist


def mosi_artifact(backend: str) -> Path:
    """The fp32 MOSI artifact (or checkpoint dir, for torch) for a backend."""
    checkpoint, dist = mosi_paths()
    return checkpoint if backend == "torch" else dist / ARTIFACTS[backend]
