"""What PNAO reports per round: parameters, MACs, one-forward CPU latency, weight magnitudes."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from compress.prune import example_inputs
from sdk.model import EmotionModel, count_parameters

#: Bin edges of the |weight| histogram ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" Fig. 4), log-spaced so that the
#: near-zero mass that sparse training creates is visible.
HISTOGRAM_EDGES = np.concatenate([[0.0], np.logspace(-5, 0.5, 45)])


def count_macs(model: EmotionModel) -> int:
    """Multiply-accumulates of one forward pass on one sample (all modalities present).

    Counted by torch's FlopCounterMode over every matmul/bmm/conv the forward runs,
    including the hand-written recurrences and attention that module-hook counters miss;
    MACs = FLOPs / 2.
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*example_inputs(model, batch=1))
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def latency_ms(model: EmotionModel, repeats: int = 30, warmup: int = 5) -> float:
    """Median wall time of one batch-1 forward on the CPU (eval mode, no grad), in ms."""
    was_training = model.training
    model.eval()
    inputs = example_inputs(model, batch=1)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(*inputs)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    model.train(was_training)
    return statistics.median(times)


def weight_histogram(model: EmotionModel) -> list[int]:
    """Counts of |θ| over all weight matrices and kernels (the tensors eq. 8's L1 term covers)."""
    values = torch.cat([p.detach().abs().flatten() for p in model.parameters() if p.dim() > 1]).numpy()
    counts, _ = np.histogram(np.clip(values, 0, HISTOGRAM_EDGES[-1]), bins=HISTOGRAM_EDGES)
    return counts.tolist()


def model_size(model: EmotionModel) -> dict[str, int]:
    return {"params": count_parameters(model), "macs": count_macs(model)}
