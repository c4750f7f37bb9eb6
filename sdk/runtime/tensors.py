"""Numeric helpers every stage shares: the one softmax, top-k, and the one ExecuTorch dtype table.

numpy only; the runtime, the probe, export verification and the ARM64 check import these
instead of keeping their own copies.
"""
from __future__ import annotations

import numpy as np

#: ExecuTorch ScalarType codes (runtime/core/portable_type/scalar_type.h) -> numpy dtype names,
#: for the codes the models use (the C runner reports these, export.arm64 reads its JSON).
EXECUTORCH_DTYPES = {0: "uint8", 1: "int8", 3: "int32", 4: "int64", 6: "float32", 7: "float64", 11: "bool"}


def softmax(logits) -> np.ndarray:
    """Softmax over the last axis, in float64 (shift by the max: no overflow for large logits)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probabilities, k: int) -> list[int]:
    """Indices of the `k` largest probabilities, largest first; ties keep the lower index first."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if not 1 <= k <= p.size:
        raise ValueError(f"k must be in [1, {p.size}], got {k}")
    return [int(i) for i in np.argsort(-p, kind="stable")[:k]]
