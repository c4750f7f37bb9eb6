"""Focal loss (Lin et al., ICCV 2017), used by "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" for class imbalance."""
from __future__ import annotations

import torch
from torch import nn


class FocalLoss(nn.Module):
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t, averaged over the batch.

    gamma = 0 and no class weights is plain cross-entropy. `class_weights`
    (alpha, one per class) may be given, e.g. inverse class frequency.
    """

    def __init__(self, gamma: float = 2.0, class_weights: torch.Tensor | None = None):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal loss gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.register_buffer("class_weights", class_weights if class_weights is not None else None)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
        loss = -((1 - log_p.exp()) ** self.gamma) * log_p
        if self.class_weights is not None:
            loss = loss * self.class_weights[labels]
        return loss.mean()


def inverse_frequency_weights(labels, num_classes: int) -> torch.Tensor:
    """alpha_c proportional to 1 / count_c, normalized to mean 1 over the classes."""
    counts = torch.bincount(torch.as_tensor(labels), minlength=num_classes).float().clamp_min(1)
    weights = 1.0 / counts
    return weights * (num_classes / weights.sum())
