"""Fusion heads behind one interface (`sdk.fusion.base.FusionHead`), chosen by name."""
from __future__ import annotations

import importlib

from sdk.fusion.base import FusionHead, FusionOutput, masked_softmax, uniform_weights

#: name -> (module, class). Imported lazily so that one head's module stays independent.
FUSION_HEADS = {
    "gated": ("sdk.fusion.gated", "AdaptiveGatedFusion"),
    "concat": ("sdk.fusion.gated", "ConcatFusion"),
    "gated2": ("sdk.fusion.gated2", "GatedLSTMFusion"),
    "fbp": ("sdk.fusion.bilinear", "FactorizedBilinearPooling"),
    "cbp": ("sdk.fusion.bilinear", "CompactBilinearPooling"),
    "cbgp": ("sdk.fusion.bilinear", "CompactGatedBilinearPooling"),
    "entropy": ("sdk.fusion.entropy", "EntropyWeightedFusion"),
}


def fusion_head_class(name: str) -> type[FusionHead]:
    if name not in FUSION_HEADS:
        raise ValueError(f"unknown fusion head {name!r}; choose one of {sorted(FUSION_HEADS)}")
    module, cls = FUSION_HEADS[name]
    return getattr(importlib.import_module(module), cls)


__all__ = ["FUSION_HEADS", "FusionHead", "FusionOutput", "fusion_head_class", "masked_softmax", "uniform_weights"]
