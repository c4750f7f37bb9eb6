"""Adaptive gating with a modality-presence mask ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 5.4), and concatenation."""
from __future__ import annotations

import torch
from torch import nn

from sdk.fusion.base import FusionHead, FusionOutput, masked_softmax, uniform_weights


#: Width of the gate's hidden layer (spec width key "fusion.gate" when PNAO has pruned it).
GATE_HIDDEN = 64


class AdaptiveGatedFusion(FusionHead):
    """fused = sum_m w_m e_m with w = masked_softmax(gate([e_1 .. e_M, p]), p).

    The gate sees every pooled embedding e_m and the presence mask p, so it can
    learn how reliable each modality is given which others are there. Absent
    modalities get w_m = 0 exactly and the present weights are renormalized to 1.
    With `learned=False` (the "no adaptive gating" ablation), w is the uniform mean
    of the present modalities.
    """

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0, learned: bool = True,
                 gate_dim: int = GATE_HIDDEN):
        super().__init__(num_modalities, dim, num_classes, dropout)
        self.learned = learned
        if learned:
            self.gate = nn.Sequential(
                nn.Linear(num_modalities * dim + num_modalities, gate_dim),
                nn.Tanh(),
                nn.Linear(gate_dim, num_modalities),
            )

    def forward(self, pooled, sequences, presence):
        if self.learned:
            scores = self.gate(torch.cat([pooled.flatten(1), presence], dim=1))
            weights = masked_softmax(scores, presence)
        else:
            weights = uniform_weights(presence)
        fused = torch.bmm(weights.reshape(pooled.shape[0], 1, -1), pooled).reshape(pooled.shape[0], -1)
        return FusionOutput(fused, weights)


class ConcatFusion(FusionHead):
    """The static baseline: concatenate the pooled embeddings (absent ones are zero) and project."""

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0):
        super().__init__(num_modalities, dim, num_classes, dropout)
        self.project = nn.Sequential(nn.Linear(num_modalities * dim + num_modalities, dim), nn.GELU())

    def forward(self, pooled, sequences, presence):
        fused = self.project(torch.cat([pooled.flatten(1), presence], dim=1))
        return FusionOutput(fused, uniform_weights(presence))
