"""Numerically equivalent rewrites of the model for quantized export.

The BiGRU's recurrent step is one `baddbmm` over both directions; int8 quantizers
(PT2E's XNNPACK quantizer) have no pattern for bmm, so those weights would stay
fp32. `linear_recurrence(model)` returns a copy whose recurrent step is two
`linear` calls (one per direction) joined by `cat`: same arithmetic, and every
weight matrix is now one a quantizer can make int8.
"""
from __future__ import annotations

import copy
import types

import torch
from torch import nn

from sdk.layers import BidirectionalRecurrence


def _recurrent_as_linear(self, gate: str, h, weights_t=None):
    if h is None:
        return self.recurrent_bias[gate]  # (2, 1, H)
    layers = self.recurrent_per_direction
    parts = [layers[f"{gate}{d}"](h[d : d + 1]) for d in range(2)]
    return torch.cat(parts, dim=0)


def _per_direction_linears(module: BidirectionalRecurrence) -> nn.ModuleDict:
    """nn.Linear per gate and direction, holding copies of that direction's recurrent weight and bias."""
    layers = nn.ModuleDict()
    h = module.hidden_per_direction
    for gate in module.gates:
        for d in range(2):
            linear = nn.Linear(h, h)
            with torch.no_grad():
                linear.weight.copy_(module.recurrent_weight[gate][d])
                linear.bias.copy_(module.recurrent_bias[gate][d, 0])
            layers[f"{gate}{d}"] = linear
    return layers


def linear_recurrence(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, BidirectionalRecurrence):
            module.recurrent_per_direction = _per_direction_linears(module)
            module.recurrent = types.MethodType(_recurrent_as_linear, module)
    return model
