"""Cross-modal attention ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 5.3).

Modality i queries modality i-1 (cyclically), which for the order (audio, video,
text) gives exactly the paper's pairs: video queries audio, text queries video,
audio queries text. Each output passes through a residual and LayerNorm:

    H_i' = LayerNorm(H_i + p_{i-1} * Attention(Q = H_i, K = V = H_{i-1}))

p_{i-1} is the presence of the attended modality, so an absent modality adds nothing.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from sdk.layers import LayerNorm


class CrossAttention(nn.Module):
    """Multi-head attention with explicit Q, K, V and output projections.

    `attention_dim` (the width of Q and K, a multiple of `heads`) and `value_dim`
    are separate so that PNAO can prune them independently.
    """

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int, value_dim: int, heads: int):
        super().__init__()
        if attention_dim % heads or value_dim % heads:
            raise ValueError(f"attention widths ({attention_dim}, {value_dim}) must be multiples of heads={heads}")
        self.heads = heads
        self.query = nn.Linear(query_dim, attention_dim)
        self.key = nn.Linear(key_dim, attention_dim)
        self.value = nn.Linear(key_dim, value_dim)
        self.output = nn.Linear(value_dim, query_dim)
        self.norm = LayerNorm(query_dim)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H*d) -> (B*H, T, d): 3-D so that the matmuls lower to plain bmm."""
        b, t, d = x.shape
        return x.reshape(b, t, self.heads, d // self.heads).transpose(1, 2).reshape(b * self.heads, t, -1)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_present: torch.Tensor) -> torch.Tensor:
        """queries (B, Tq, Dq), keys (B, Tk, Dk), key_present (B, 1) -> (B, Tq, Dq)."""
        q = self.split_heads(self.query(queries))
        k = self.split_heads(self.key(keys))
        v = self.split_heads(self.value(keys))
        scores = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(q.shape[-1]))
        attended = torch.bmm(torch.softmax(scores, dim=-1), v)  # (B*H, Tq, d)
        b, t = queries.shape[0], queries.shape[1]
        attended = attended.reshape(b, self.heads, t, -1).transpose(1, 2).reshape(b, t, -1)
        attended = self.output(attended)
        return self.norm(queries + key_present.reshape(-1, 1, 1) * attended)
