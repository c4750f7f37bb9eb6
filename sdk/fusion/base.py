"""The interface every fusion head implements.

A head receives, for M modalities in spec order:
    pooled:    (B, M, D)  one vector per modality; rows of absent modalities are exactly 0
    sequences: list of M tensors (B, T_m, D), the encoder outputs after cross-modal attention
               (absent modalities are exactly 0)
    presence:  (B, M) float, 1 = present, 0 = absent (at least one present per row)
and returns a `FusionOutput`:
    features:  (B, out_dim) fused representation, fed to the shared FFN + classifier,
               or, when the head sets `produces_logits = True`, the class logits themselves
    weights:   (B, M) per-modality weights; absent modalities get exactly 0 and the
               present ones sum to 1 (heads without learned weights report the uniform
               weight 1/|present|)

Heads must stay exportable: no data-dependent Python control flow, no complex dtypes,
no FFT, no in-place ops on inputs; torch.export must trace them with batch size 1.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class FusionOutput(NamedTuple):
    features: torch.Tensor
    weights: torch.Tensor


class FusionHead(nn.Module):
    """Base class. Subclasses set `out_dim` (and `produces_logits` when they classify)."""

    produces_logits: bool = False

    def __init__(self, num_modalities: int, dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.num_modalities = num_modalities
        self.dim = dim
        self.num_classes = num_classes
        self.out_dim = dim

    def forward(self, pooled: torch.Tensor, sequences: list[torch.Tensor], presence: torch.Tensor) -> FusionOutput:
        raise NotImplementedError


def masked_softmax(scores: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """Softmax over the modality axis with absent entries forced to exactly 0.

    w_m = p_m exp(s_m) / sum_k p_k exp(s_k)   ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 5.4: an absent
    modality's contribution is 0 and the others are renormalized). A row with no
    modality present yields all zeros, never NaN.

    Absent scores are pushed down by 1e9 so that softmax's exp underflows to 0, and
    the product with the mask makes that exact; only softmax, add and mul are used,
    which every mobile delegate accepts.
    """
    return torch.softmax(scores + (presence - 1.0) * 1e9, dim=-1) * presence


def uniform_weights(presence: torch.Tensor) -> torch.Tensor:
    """1/|present| for present modalities, 0 for absent ones (all zeros if none is present)."""
    return masked_softmax(torch.zeros_like(presence), presence)
