"""The same raw samples give the same probabilities through every backend.

Raw (unnormalized) samples go through `EmotionRecognizer.predict` for every
modality subset on the torch (checkpoint), ExecuTorch, LiteRT and ONNX (fp32)
backends. Each must match (a) the SDK's torch backend and (b) the checkpoint model
run on the training side's tensors within 1e-4.

The default run uses the tiny model's artifacts (conftest.py `tiny_dist`) on random
raw samples, the reference being the model on `sdk.inputs.prepare_inputs`' tensors.
The slow, data-marked tests use the trained MOSI model on its real test samples,
the reference being the model on `sdk.data.normalize`'s tensors (the training
pipeline): the first 16 samples, then all of them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sdk import EmotionRecognizer
from sdk.evaluate import modality_subsets
from tests.helpers import mosi_artifact

MAX_PROB_DIFF = 1e-4
BACKENDS = ("torch", "executorch", "litert", "onnx")


def mosi_test_samples(count: int | None):
    """(raw samples as predict kwargs, reference probabilities per subset) for the first `count` test samples."""
    from sdk.checkpoint import load_checkpoint
    from sdk.data import load_dataset
    from sdk.train import checkpoint_data, select_modalities

    model, payload = load_checkpoint(mosi_artifact("torch"))
    spec = model.spec
    dataset = load_dataset(spec.dataset, **dict(payload.get("data_options", {})))
    if dataset.modality_names != spec.modality_names:
        dataset = select_modalities(dataset, spec.modality_names)
    test = dataset.part("test")
    tensors = checkpoint_data(model, payload)["test"]
    n = len(test) if count is None else min(count, len(test))
    samples, reference = [], []
    for i in range(n):
        raw = {}
        for j, m in enumerate(spec.modalities):
            length = int(test.lengths[m.name][i])
            raw[m.name] = test.inputs[m.name][i, m.seq_len - length:] if test.presence[i, j] > 0 and length else None
        for subset in modality_subsets(spec.modality_names):
            kwargs = {name: (raw[name] if name in subset else None) for name in spec.modality_names}
            if all(v is None for v in kwargs.values()):
                continue
            presence = torch.tensor([[1.0 if kwargs[name] is not None else 0.0 for name in spec.modality_names]])
            with torch.no_grad():
                logits, _ = model(*[x[i : i + 1] * presence[0, k] if x.dtype.is_floating_point else x[i : i + 1]
                                    for k, x in enumerate(tensors.inputs)], presence)
            samples.append(kwargs)
            reference.append(torch.softmax(logits.double(), -1)[0].numpy())
    return samples, np.stack(reference)


def tiny_samples(artifacts: dict, count: int):
    """(random raw samples under every modality subset, the tiny checkpoint's probabilities on
    `sdk.inputs.prepare_inputs`' tensors for each)."""
    from sdk.checkpoint import load_checkpoint
    from sdk.inputs import prepare_inputs

    model, _ = load_checkpoint(artifacts["torch"])
    spec = model.spec
    rng = np.random.default_rng(3)
    samples, reference = [], []
    for _ in range(count):
        raw = {m.name: (rng.integers(0, m.vocab_size, size=rng.integers(1, m.seq_len + 1)) if m.kind == "tokens"
                        else rng.normal(2.0, 3.0, size=(rng.integers(1, m.seq_len + 1), *m.step_shape())).astype(np.float32))
               for m in spec.modalities}
        for subset in modality_subsets(spec.modality_names):
            kwargs = {name: (raw[name] if name in subset else None) for name in spec.modality_names}
            tensors, presence = prepare_inputs(spec, **kwargs)
            with torch.no_grad():
                logits, _ = model(*tensors, presence)
            samples.append(kwargs)
            reference.append(torch.softmax(logits.double(), -1)[0].numpy())
    return samples, np.stack(reference)


def max_prob_diffs(count: int | None, artifacts: dict | None = None) -> dict[str, float]:
    samples, reference = mosi_test_samples(count) if artifacts is None else tiny_samples(artifacts, count)
    probabilities = {}
    for backend in BACKENDS:
        recognizer = EmotionRecognizer.load(mosi_artifact(backend) if artifacts is None else artifacts[backend])
        probabilities[backend] = np.array([list(recognizer.predict(**s).probabilities.values()) for s in samples])
    diffs = {f"{b} vs pipeline": float(np.abs(p - reference).max()) for b, p in probabilities.items()}
    diffs.update({f"{b} vs torch backend": float(np.abs(p - probabilities["torch"]).max())
                  for b, p in probabilities.items() if b != "torch"})
    diffs["predictions"] = len(samples)
    return diffs


def check(diffs: dict[str, float]) -> None:
    print({k: (f"{v:.2e}" if k != "predictions" else v) for k, v in diffs.items()})
    bad = {k: v for k, v in diffs.items() if k != "predictions" and v > MAX_PROB_DIFF}
    assert not bad, f"max |Δp| above {MAX_PROB_DIFF}: {bad}"


def test_backends_agree_on_the_tiny_model_for_every_modality_subset(tiny_dist):
    diffs = max_prob_diffs(6, tiny_dist)
    assert diffs["predictions"] == 6 * 7
    check(diffs)


@pytest.mark.slow
@pytest.mark.data
def test_backends_agree_on_real_mosi_samples_for_every_modality_subset():
    check(max_prob_diffs(16))


@pytest.mark.slow
@pytest.mark.data
def test_backends_agree_on_the_whole_mosi_test_split_for_every_modality_subset():
    check(max_prob_diffs(None))
