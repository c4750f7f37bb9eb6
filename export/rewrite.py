"""Numerically equivalent rewrites of the model for quantized export.

The BiGRU's recurrent step is one `baddbmm` over both directions; int8 quantizers
(PT2E's XNNPACK quantizer) have no pattern for bmm, so those weights would stay
fp32. `linear_recurrence(model)` returns a copy whose recurrent step is two
`linear` calls (one per direction) joined by `cat`: same arithmetic, and every
weight matrix is now one a quantizer can make int8.

A BiGRU gets a further rewrite (`_gru_forward`): each direction runs on its own
state with the gates fused, one `linear` (3H x F) for its input projection and one
(3H x H) for its recurrent product per step, so each step has 2 quantized
fully-connected nodes instead of 6, and no per-gate slice/cat of the state. Per
output channel the int8 weights and scales are those of the per-gate matrices;
the XNNPACK graph is ~1/4 smaller (MOSI int8 .pte: 796 -> 738 KB, 37 -> 34 % of fp32).

`fold_generated_kernels(model)` (every format): MFDR's Dynamic Frame Convolution
generates its kernels Φ from a learned map through a small conv block ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition"
eq. 8); Φ depends on parameters only, so the copy stores it as a constant and drops
the generator. Without it the artifact recomputes Φ on every call, and LiteRT's
dynamic int8 recipe quantizes that conv's constant input, which its kernel refuses.
"""
from __future__ import annotations

import copy
import types

import torch
from torch import nn

from sdk.layers import BidirectionalRecurrence, BiGRU


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


def _fused_gate_linears(module: BidirectionalRecurrence) -> tuple[nn.ModuleDict, nn.ParameterDict]:
    """Per direction d: input{d} (G*H x F) and recurrent{d} (G*H x H), gate rows in `module.gates` order;
    and, apart, a copy of recurrent{d}'s bias alone (the h = 0 step)."""
    layers, initial = nn.ModuleDict(), nn.ParameterDict()
    h, f, gates = module.hidden_per_direction, module.input_size, module.gates
    for d in range(2):
        rows = slice(d * h, (d + 1) * h)
        inputs, recurrent = nn.Linear(f, len(gates) * h), nn.Linear(h, len(gates) * h)
        with torch.no_grad():
            inputs.weight.copy_(torch.cat([module.input_weight[g][rows] for g in gates]))
            inputs.bias.copy_(torch.cat([module.input_bias[g][rows] for g in gates]))
            recurrent.weight.copy_(torch.cat([module.recurrent_weight[g][d] for g in gates]))
            recurrent.bias.copy_(torch.cat([module.recurrent_bias[g][d, 0] for g in gates]))
        layers[f"input{d}"], layers[f"recurrent{d}"] = inputs, recurrent
        initial[f"{d}"] = nn.Parameter(recurrent.bias.detach().clone())
    return layers, initial


def _gru_forward(self, x: torch.Tensor) -> torch.Tensor:
    """BiGRU.forward with per-direction state and fused gates: (B, T, F) -> (B, T, 2H)."""
    t, h = x.shape[1], self.hidden_per_direction
    layers = self.fused_per_direction
    outputs = []
    for d in range(2):
        projected = layers[f"input{d}"](x)  # (B, T, 3H): r, z, n
        recurrent, state = layers[f"recurrent{d}"], None
        steps: list = [None] * t
        for i in range(t):
            k = i if d == 0 else t - 1 - i
            xt = projected[:, k : k + 1]
            ht = self.fused_initial_bias[f"{d}"] if state is None else recurrent(state)
            rz = torch.sigmoid(xt[..., : 2 * h] + ht[..., : 2 * h])
            r, z = rz[..., :h], rz[..., h:]
            n = torch.tanh(xt[..., 2 * h :] + r * ht[..., 2 * h :])
            keep = self.fused_one - z  # a (1,) buffer, not the scalar 1: no lifted constant copied outside XNNPACK
            state = keep * n if state is None else keep * n + z * state
            steps[k] = state
        outputs.append(torch.cat(steps, dim=1))
    return torch.cat(outputs, dim=-1)


def linear_recurrence(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, BiGRU):
            module.fused_per_direction, module.fused_initial_bias = _fused_gate_linears(module)
            module.register_buffer("fused_one", torch.ones(1), persistent=False)
            module.forward = types.MethodType(_gru_forward, module)
        elif isinstance(module, BidirectionalRecurrence):
            module.recurrent_per_direction = _per_direction_linears(module)
            module.recurrent = types.MethodType(_recurrent_as_linear, module)
    return model


def fold_generated_kernels(model: nn.Module) -> nn.Module:
    """A copy with each DynamicFrameConvolution's Φ computed once and stored (the model itself if it has none)."""
    from sdk.mfdr import DynamicFrameConvolution

    if not any(isinstance(m, DynamicFrameConvolution) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, DynamicFrameConvolution):
            with torch.no_grad():
                module.register_buffer("folded_kernels", module.kernels().detach().clone())
            del module.generate, module.kernel_map
            module.kernels = types.MethodType(lambda self: self.folded_kernels, module)
    return model


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """A copy with every Conv -> BatchNorm pair of an nn.Sequential folded into one conv (eval
    statistics), the model itself if it has none (the live face CNN, sdk.layers.FaceEncoder, has them).

    Numerically the same eval-mode function; the PT2E int8 quantizer (ANNOTATED_OPS) then sees
    plain convs and quantizes their weights, which a conv-batch-norm pattern would keep fp32.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def pairs(module: nn.Module):
        for seq in module.modules():
            if isinstance(seq, nn.Sequential):
                items = list(seq._modules.items())
                for (name, conv), (bn_name, bn) in zip(items, items[1:]):
                    if isinstance(conv, (nn.Conv1d, nn.Conv2d)) and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
                        yield seq, name, bn_name

    if not any(True for _ in pairs(model)):
        return model
    model = copy.deepcopy(model).eval()
    for seq, name, bn_name in list(pairs(model)):
        seq._modules[name] = fuse_conv_bn_eval(seq._modules[name], seq._modules[bn_name])
        seq._modules[bn_name] = nn.Identity()
    return model
