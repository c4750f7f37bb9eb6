"""Issue 2's real-data claims, re-measured (slow: ~1 min; run with `pytest -m slow`)."""
import pytest

from sdk.data import load_dataset
from sdk.evaluate import evaluate_subsets, modality_subsets
from sdk.train import TRAIN_DEFAULTS, select_modalities, train_run
from sdk.training import TrainConfig, to_tensors

pytestmark = [pytest.mark.slow, pytest.mark.data]


@pytest.fixture(scope="module")
def mosi_model():
    dataset = load_dataset("mosi")
    model, metrics = train_run(dataset, None, TrainConfig(**TRAIN_DEFAULTS["mosi"]), progress=False)
    return dataset, model, metrics


def test_mosi_default_model_accuracy_size_and_time(mosi_model):
    _, _, metrics = mosi_model
    assert metrics["sizes"]["test"] == 752
    assert metrics["test"]["accuracy"] >= 0.78
    assert metrics["params"] <= 1_000_000
    assert metrics["train_seconds"] <= 600


def test_one_mosi_model_on_all_subsets_text_close_to_a_text_model(mosi_model):
    dataset, model, _ = mosi_model
    data = to_tensors(dataset.with_validation(), model.spec)
    results = evaluate_subsets(model, data["test"], modality_subsets(model.spec.modality_names))
    assert len(results) == 7
    for name, row in results.items():
        for modality, weight in row["gate_weights"].items():
            if modality not in name.split("+"):
                assert weight == 0.0
    _, text_only = train_run(select_modalities(dataset, ["text"]), None, TrainConfig(**TRAIN_DEFAULTS["mosi"]),
                             progress=False)
    assert abs(results["text"]["accuracy"] - text_only["test"]["accuracy"]) <= 0.02
