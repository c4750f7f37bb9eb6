"""Entropy-weighted decision fusion ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization", section 2.1, eqs. 1 and 5-7).

Seed 003 has M classifier branches, each predicting class posteriors
ê_i = Softmax(W_e ĥ_i + b_e) (eq. 1), and fuses the predictions by their confidence:

    H_i = −<ê_i, log ê_i>                                   (eq. 5, entropy of branch i)
    ω_i = 1/(M − 1) · (1 − H_i / Σ_k H_k)                   (eq. 6, lower entropy → larger ω)
    ê   = Σ_i ω_i ê_i                                        (eq. 7)

`EntropyWeightedFusion` (registry name ``entropy``) makes one branch per modality: a small
decoder on the modality's pooled vector (Linear → GELU → Linear, the last layer being
eq. 1; ``hidden=0`` gives the plain linear classifier of eq. 1). The head classifies
itself (`produces_logits = True`): `features` is log ê, clamped at 1e-12, so softmax /
cross-entropy on the features operate on the fused posterior (softmax(log ê) = ê since
Σ ê = 1).

Missing modalities
------------------
Only present branches count: M above becomes the number M' of present modalities, the
sums run over present branches, absent branches get ω = 0 exactly (their rows are also
replaced by zeros, so their values cannot leak in). Two guards keep it finite:

* the entropy ratio is smoothed, r_i = (H_i + ε) / Σ_k (H_k + ε) (ε = 1e-6), so when all
  present branches are fully confident (Σ H = 0) the ratios are uniform instead of 0/0;
  Σ_i r_i = 1 still holds, hence Σ_i ω_i = 1 exactly as in eq. 6;
* a single present branch gets ω = 1 (eq. 6 would divide by M' − 1 = 0):
  ω_i = p_i (1 − r_i + [M' = 1]) / max(M' − 1, 1), with r_i = 1 for that branch.

ω is differentiable (the gradient reaches the branches through the entropies too).

Per-branch logits for an auxiliary loss
---------------------------------------
Seed 003 trains every classifier with its own cross-entropy. `forward_with_branches`
returns the fused output together with the per-branch logits (B, M, C), `branch_logits`
computes those alone, and `branch_loss(branch_logits, presence, targets)` is the mean
cross-entropy over the present branches, to be added to the main loss by the trainer.
`forward` (the `FusionHead` interface, and what gets exported) returns the fused output only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sdk.fusion.base import FusionHead, FusionOutput


class EntropyWeightedFusion(FusionHead):
    """One classifier per modality, fused by eq. 6 entropy weights over present branches."""

    produces_logits = True

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0, hidden: int | None = None,
                 eps: float = 1e-6, log_floor: float = 1e-12):
        super().__init__(num_modalities, dim, num_classes, dropout)
        hidden = dim if hidden is None else hidden
        self.eps = eps
        self.log_floor = log_floor

        def branch() -> nn.Module:
            if hidden <= 0:
                return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))
            return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_classes))

        self.branches = nn.ModuleList(branch() for _ in range(num_modalities))
        self.out_dim = num_classes

    def branch_logits(self, pooled: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """(B, M, C) logits of every branch (eq. 1 before the softmax); absent rows see zeros."""
        x = torch.where(presence.unsqueeze(-1) > 0, pooled, torch.zeros_like(pooled))
        return torch.stack([b(x[:, m]) for m, b in enumerate(self.branches)], dim=1)

    def entropy_weights(self, log_probs: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """ω (B, M) from branch log-posteriors (eqs. 5-6 over the present branches)."""
        entropy = -(log_probs.exp() * log_probs).sum(dim=-1)  # eq. 5, (B, M), >= 0
        smoothed = presence * (entropy + self.eps)
        ratio = smoothed / smoothed.sum(dim=-1, keepdim=True).clamp_min(self.eps)
        n_present = presence.sum(dim=-1, keepdim=True)
        single = (n_present <= 1).to(presence.dtype)
        return presence * (1.0 - ratio + single) / (n_present - 1.0).clamp_min(1.0)

    def forward_with_branches(self, pooled, sequences, presence) -> tuple[FusionOutput, torch.Tensor]:
        presence = presence.to(pooled.dtype)
        logits = self.branch_logits(pooled, presence)
        log_probs = torch.log_softmax(logits, dim=-1)
        weights = self.entropy_weights(log_probs, presence)
        fused = (weights.unsqueeze(-1) * log_probs.exp()).sum(dim=1)  # eq. 7
        features = torch.log(fused.clamp_min(self.log_floor))
        return FusionOutput(features, weights), logits

    def forward(self, pooled, sequences, presence):
        return self.forward_with_branches(pooled, sequences, presence)[0]

    @staticmethod
    def branch_loss(branch_logits: torch.Tensor, presence: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the present branches ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" trains each classifier)."""
        b, m, c = branch_logits.shape
        ce = F.cross_entropy(branch_logits.reshape(b * m, c), targets.repeat_interleave(m), reduction="none")
        mask = presence.reshape(b * m).to(ce.dtype)
        return (ce * mask).sum() / mask.sum().clamp_min(1.0)
