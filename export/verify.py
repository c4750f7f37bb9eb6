"""Verification of an artifact in its own runtime against PyTorch on real samples.

For every modality subset (sdk.evaluate.modality_subsets) the test samples are run
with only that subset marked present, one sample at a time (the artifacts take
batch 1): max |Δprobability| and top-1 agreement against the PyTorch model over
all of those runs, and accuracy / weighted F1 per subset. Latency is the median of
single-sample calls on one thread after a warm-up.

Pass criteria (`check`): fp32 max |Δp| <= 1e-4; int8 top-1 agreement >= 0.98,
accuracy within 0.01 of PyTorch fp32, and size <= 35 % of the same format's fp32.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sdk.evaluate import modality_subsets, restrict_to_subset
from sdk.metrics import classification_metrics
from sdk.runtime.tensors import softmax
from sdk.spec import subset_name
from sdk.training import SplitTensors, predict

FP32_MAX_PROB_DIFF = 1e-4
INT8_MIN_TOP1_AGREEMENT = 0.98
INT8_MAX_ACCURACY_DROP = 0.01
INT8_MAX_SIZE_RATIO = 0.35


@dataclass
class Reference:
    """The test split per modality subset, with PyTorch's probabilities for each."""

    subsets: dict[str, SplitTensors]
    probabilities: dict[str, np.ndarray]
    full: str  # the subset name with every modality (the split as it is)

    @property
    def metrics(self) -> dict[str, float]:
        data = self.subsets[self.full]
        return classification_metrics(data.labels.numpy(), self.probabilities[self.full].argmax(axis=1))


def build_reference(model, test: SplitTensors, max_samples: int | None = None) -> Reference:
    names = model.spec.modality_names
    if max_samples:
        test = test.batch(torch.arange(min(max_samples, len(test))))
    subsets, probabilities = {}, {}
    for subset in modality_subsets(names):
        part = restrict_to_subset(test, names, subset)
        key = subset_name(subset)
        subsets[key] = part
        probabilities[key], _ = predict(model, part)
    return Reference(subsets, probabilities, subset_name(names))


def run_split(runner, data: SplitTensors) -> np.ndarray:
    inputs = [x.numpy() for x in data.inputs] + [data.presence.numpy()]
    probs = []
    for i in range(len(data)):
        logits, _ = runner([x[i : i + 1] for x in inputs])
        probs.append(softmax(np.asarray(logits, dtype=np.float64))[0])
    return np.stack(probs) if probs else np.zeros((0, 0))


def evaluate(runner, reference: Reference) -> dict:
    """Parity and task metrics of one loaded artifact on every subset."""
    max_diff, agree, count, subsets = 0.0, 0, 0, {}
    for key, data in reference.subsets.items():
        probs = run_split(runner, data)
        expected = reference.probabilities[key]
        if not np.all(np.isfinite(probs)):
            raise ValueError(f"subset {key}: the artifact produced non-finite probabilities")
        max_diff = max(max_diff, float(np.abs(probs - expected).max()))
        agree += int((probs.argmax(axis=1) == expected.argmax(axis=1)).sum())
        count += len(probs)
        metrics = classification_metrics(data.labels.numpy(), probs.argmax(axis=1))
        subsets[key] = {"accuracy": metrics["accuracy"], "weighted_f1": metrics["weighted_f1"], "samples": len(probs)}
    full = subsets[reference.full]
    return {
        "test": {"accuracy": full["accuracy"], "weighted_f1": full["weighted_f1"]},
        "max_abs_prob_diff": max_diff,
        "top1_agreement": agree / max(1, count),
        "subsets": subsets,
    }


def latency_ms(runner, data: SplitTensors, repeats: int = 200, warmup: int = 20) -> float:
    sample = [x[:1].numpy() for x in data.inputs] + [data.presence[:1].numpy()]
    for _ in range(warmup):
        runner(sample)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(sample)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def check(precision: str, result: dict, reference_accuracy: float, size_ratio: float | None) -> list[str]:
    """The reasons an artifact fails verification (empty: it passes)."""
    failures = []
    if precision == "fp32":
        if result["max_abs_prob_diff"] > FP32_MAX_PROB_DIFF:
            failures.append(f"max |Δp| {result['max_abs_prob_diff']:.2e} > {FP32_MAX_PROB_DIFF:g}")
    else:
        if result["top1_agreement"] < INT8_MIN_TOP1_AGREEMENT:
            failures.append(f"top-1 agreement {result['top1_agreement']:.4f} < {INT8_MIN_TOP1_AGREEMENT}")
        drop = reference_accuracy - result["test"]["accuracy"]
        if drop > INT8_MAX_ACCURACY_DROP:
            failures.append(f"accuracy {result['test']['accuracy']:.4f} is {drop:.4f} below PyTorch fp32 "
                            f"(> {INT8_MAX_ACCURACY_DROP})")
        if size_ratio is not None and size_ratio > INT8_MAX_SIZE_RATIO:
            failures.append(f"size {size_ratio:.2f} of fp32 > {INT8_MAX_SIZE_RATIO} (fixed front-end constants "
                            "not counted)")
    return failures
