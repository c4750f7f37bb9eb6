"""Numerically equivalent rewrites of the model for quantized export.

A recurrence's step (sdk.layers) is one `baddbmm` over both directions and all gates;
int8 quantizers (PT2E's XNNPACK quantizer) have no pattern for bmm, so those weights
would stay fp32. `linear_recurrence(model)` returns a copy in which each direction of
every BiGRU / BiLSTM runs on its own state with the gates fused: one `linear` (G*H x F)
for its input projection and one (G*H x H) for its recurrent product per step, then the
layer's own `step` (a BiGRU's step is written out in `_gru_forward`, the form its int8
artifacts were verified with). Same arithmetic, and every weight matrix is one a quantizer
can make int8 (per output channel, the same int8 weights and scales as the per-gate matrices).

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


def _per_direction_forward(self, x: torch.Tensor) -> torch.Tensor:
    """The recurrence with per-direction state and fused gates: (B, T, F) -> (B, T, 2H).

    Each direction runs alone: one `linear` for its input projection, one per step for its
    recurrent product, and the module's own `step` (sdk.layers) on (B, 1, G*H) slices."""
    t = x.shape[1]
    layers = self.fused_per_direction
    outputs = []
    for d in range(2):
        projected = layers[f"input{d}"](x)  # (B, T, G*H)
        recurrent, state = layers[f"recurrent{d}"], None
        steps: list = [None] * t
        for i in range(t):
            k = i if d == 0 else t - 1 - i
            inputs = projected[:, k : k + 1]
            product = self.fused_initial_bias[f"{d}"] if state is None else recurrent(state[0])
            state = self.step(inputs, product, state)
            steps[k] = state[0]
        outputs.append(torch.cat(steps, dim=1))
    return torch.cat(outputs, dim=-1)


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
    """A copy whose recurrences run per direction through `linear` layers (see the module docstring)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, BidirectionalRecurrence):
            module.fused_per_direction, module.fused_initial_bias = _fused_gate_linears(module)
            if isinstance(module, BiGRU):
                module.register_buffer("fused_one", torch.ones(1), persistent=False)
                module.forward = types.MethodType(_gru_forward, module)
            else:
                module.forward = types.MethodType(_per_direction_forward, module)
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
