import json

import numpy as np
import pytest
import torch

from sdk import evaluate, train
from sdk.checkpoint import load_checkpoint
from sdk.inputs import InputError, prepare_inputs
from sdk.losses import FocalLoss
from sdk.training import TrainConfig


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = train.main(["--dataset", "synthetic", "--out", str(out), "--epochs", "6", "--quiet", "--hidden-size", "32",
                       "--ffn-size", "32"])
    assert code == 0
    return out


def test_train_writes_the_run_directory(run_dir):
    for name in ("model.pt", "spec.json", "metrics.json", "history.json", "curves.png", "confusion.png"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "unweighted_accuracy", "weighted_f1", "macro_f1"}
    assert metrics["dataset"] == "synthetic" and metrics["params"] > 0 and metrics["train_seconds"] > 0
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    # 4 balanced classes: chance is 0.25; six epochs must clearly learn something.
    assert metrics["test"]["accuracy"] > 0.45


def test_checkpoint_reloads_and_predicts_from_raw_inputs(run_dir):
    model, payload = load_checkpoint(run_dir)
    spec = model.spec
    audio = np.random.default_rng(0).normal(size=(10, spec.modality("audio").feature_dim)).astype(np.float32)
    tensors, presence = prepare_inputs(spec, audio=audio, text=np.array([3, 4, 5]))
    logits, weights = model(*tensors, presence)
    assert weights[0, spec.modality_names.index("video")] == 0.0
    assert torch.isclose(weights.sum(), torch.tensor(1.0))
    with pytest.raises(InputError, match="every modality is absent"):
        prepare_inputs(spec)


def test_evaluate_reports_all_seven_subsets(run_dir, tmp_path, capsys):
    out = tmp_path / "subsets.json"
    assert evaluate.main(["--checkpoint", str(run_dir), "--subsets", "all", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["subsets"]
    assert len(result) == 7 and "audio+text+video" in result and "text" in result
    for name, row in result.items():
        present = name.split("+")
        for modality, weight in row["gate_weights"].items():
            if modality not in present:
                assert weight == 0.0
        assert abs(sum(row["gate_weights"].values()) - 1.0) < 1e-5
    assert "audio+text+video" in capsys.readouterr().out


def test_evaluate_rejects_a_missing_checkpoint(tmp_path, capsys):
    assert evaluate.main(["--checkpoint", str(tmp_path / "nope")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero():
    logits, labels = torch.randn(8, 4), torch.randint(0, 4, (8,))
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, labels), torch.nn.functional.cross_entropy(logits, labels))
    assert FocalLoss(gamma=2.0)(logits, labels) < FocalLoss(gamma=0.0)(logits, labels)


def test_lr_schedule_is_a_function_of_the_epoch():
    config = TrainConfig(epochs=10, lr=1.0, min_lr_ratio=0.1)
    assert config.lr_at(0) == pytest.approx(1.0) and config.lr_at(10) == pytest.approx(0.1)
    assert config.lr_at(3) > config.lr_at(7)


def test_training_is_deterministic_for_a_seed(synthetic):
    from sdk.train import train_run

    small = synthetic.subset(np.arange(300))
    config = TrainConfig(epochs=2, seed=3)
    _, a = train_run(small, None, config, progress=False, hidden_size=16, ffn_size=16)
    _, b = train_run(small, None, config, progress=False, hidden_size=16, ffn_size=16)
    assert a["test"] == b["test"] and a["val"] == b["val"]
