"""Gated fusion followed by an LSTM ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions", section IV.4-5 and "Model Formulation").

Seed 001 fuses a text embedding H_t and a visual embedding H_v with a learnable gate

    F = g ⊙ H_v + (1 − g) ⊙ H_t                                   ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions", eq. 4)

and feeds the fused representation to an LSTM, h_t = LSTM(F_t, h_{t−1}) (eq. 5),
whose last hidden state goes to the classifier y = Softmax(W h + b) (eq. 6; here the
shared FFN + classifier of the model).

Generalization to N modalities (`GatedLSTMFusion`, registry name ``gated2``)
-----------------------------------------------------------------------------
Every modality m gets per-dimension gate scores from its own features,
s_m = W_m x_m + b_m, and the gates are a softmax over the *present* modalities,
taken separately for every feature dimension d:

    g_{m,d} = p_m exp(s_{m,d}) / Σ_k p_k exp(s_{k,d}),     F = Σ_m g_m ⊙ x_m.

For two present modalities this is exactly eq. 4: g_v = σ(s_v − s_t) and
g_t = 1 − g_v, with s_v − s_t = [W_v, −W_t]·[H_v; H_t] + (b_v − b_t), i.e. the usual
input-dependent gate σ(W[H_v; H_t] + b). An absent modality gets g = 0 exactly and the
other gates renormalize; with a single present modality its gate is 1 (F = x_m).

How the LSTM consumes F (the design choice)
-------------------------------------------
Seed 001 fuses one vector per modality and notes the LSTM "input corresponds to a single
timestep"; a one-step LSTM from a zero state is just a gated feed-forward layer. Our
encoders give sequences of different lengths T_m, so we make the recurrence temporal:
each modality's sequence is resampled to a common number of steps T (``steps``,
default 8) by area interpolation (the exact fractional-overlap generalization of
adaptive average pooling: every output step averages the input frames it overlaps, so
it works for T_m < T and T_m > T alike and is written with arange/clamp/matmul only),
the gate above fuses the modalities at every step t, giving F_t, and the LSTM runs over
F_1..F_T. The fused feature is the last hidden state h_T (out_dim = dim).
The pooled vectors are not used: the gates and the LSTM see the temporal features.

The LSTM cell is written out with explicit Linear projections (nn.LSTM exports badly to
ExecuTorch):  [i, f, c̃, o] = W_x F_t + W_h h_{t−1} + b,
c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(c̃),  h_t = σ(o) ⊙ tanh(c_t), h_0 = c_0 = 0,
with the forget-gate bias initialised to 1. The T steps are a static Python loop.

Reported weights: the mean gate of each modality over dimensions and steps (absent
modalities exactly 0, present ones sum to 1).
"""
from __future__ import annotations

import torch
from torch import nn

from sdk.fusion.base import FusionHead, FusionOutput, masked_softmax


def area_resample_matrix(src_len: int, dst_len: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(dst_len, src_len) matrix R with rows summing to 1: (R @ x)[t] is the mean of x over
    the fraction [t/dst_len, (t+1)/dst_len) of the sequence (frames weighted by overlap).

    Equals adaptive_avg_pool1d when src_len is a multiple of dst_len; repeats frames
    (nearest-neighbour upsampling) when src_len < dst_len. Built from tensor ops only, so
    it also traces with a symbolic src_len.
    """
    j = torch.arange(src_len, dtype=dtype, device=device)
    t = torch.arange(dst_len, dtype=dtype, device=device)
    src_lo, src_hi = (j / src_len).unsqueeze(0), ((j + 1) / src_len).unsqueeze(0)
    dst_lo, dst_hi = (t / dst_len).unsqueeze(1), ((t + 1) / dst_len).unsqueeze(1)
    overlap = (torch.minimum(src_hi, dst_hi) - torch.maximum(src_lo, dst_lo)).clamp_min(0.0)
    return overlap * dst_len


class GatedLSTMFusion(FusionHead):
    """Per-dimension presence-normalized gates ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions" eq. 4 for N modalities) + LSTM over time."""

    def __init__(self, num_modalities, dim, num_classes, dropout=0.0, steps: int = 8):
        super().__init__(num_modalities, dim, num_classes, dropout)
        self.steps = steps
        # s_m = W_m x_m + b_m, one projection per modality (see the module docstring).
        self.gate = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_modalities))
        # LSTM cell, gates ordered [input, forget, cell, output].
        self.lstm_x = nn.Linear(dim, 4 * dim)
        self.lstm_h = nn.Linear(dim, 4 * dim, bias=False)
        with torch.no_grad():
            self.lstm_x.bias[dim : 2 * dim].fill_(1.0)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = dim

    def gates(self, sequences: list[torch.Tensor], presence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Resampled inputs x (B, M, T, D) and gates g (B, M, T, D), g = 0 for absent modalities."""
        present = presence > 0
        xs = []
        for seq in sequences:
            r = area_resample_matrix(seq.shape[1], self.steps, seq.dtype, seq.device)
            xs.append(torch.matmul(r, seq))  # (B, T, D)
        x = torch.stack(xs, dim=1)  # (B, M, T, D)
        # Absent modalities must not influence anything, whatever their rows hold.
        x = torch.where(present[:, :, None, None], x, torch.zeros_like(x))
        scores = torch.stack([lin(x[:, m]) for m, lin in enumerate(self.gate)], dim=1)
        # softmax over the modality axis, per (step, dimension), restricted to present ones
        g = masked_softmax(scores.permute(0, 2, 3, 1), presence[:, None, None, :].to(x.dtype))
        return x, g.permute(0, 3, 1, 2)

    def forward(self, pooled, sequences, presence):
        presence = presence.to(pooled.dtype)
        x, g = self.gates(sequences, presence)
        fused = (g * x).sum(dim=1)  # F_t, (B, T, D)
        xproj = self.lstm_x(fused)  # input projections of all steps at once
        h = torch.zeros_like(fused[:, 0])
        c = torch.zeros_like(h)
        for t in range(self.steps):
            z = xproj[:, t] + self.lstm_h(h)
            i, f, cand, o = z.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
            h = torch.sigmoid(o) * torch.tanh(c)
        weights = g.mean(dim=(2, 3))
        return FusionOutput(self.dropout(h), weights)
