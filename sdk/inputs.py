"""Validation and preparation of user inputs, shared by every predict path.

`prepare_inputs(spec, audio=..., video=..., text=...)` takes raw arrays (one sample
or a batch) with `None` for an absent modality, checks them against the spec and
returns the model's positional inputs: normalized, left-padded tensors in spec
order plus the presence mask. Every problem raises `InputError` naming the
modality, what was expected and what to do.
"""
from __future__ import annotations

import numpy as np
import torch

from sdk.spec import FRAMES, TOKENS, ModalitySpec, ModelSpec


class InputError(ValueError):
    """An input that the model cannot take; the message says which and how to fix it."""


def _as_array(name: str, value, modality: ModalitySpec) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{name}: expected a numpy array of shape {('T', *modality.step_shape())}, got {type(value).__name__}"
        )
    if modality.kind == TOKENS:
        if not np.issubdtype(value.dtype, np.integer):
            raise InputError(f"{name}: token ids must be an integer array, got dtype {value.dtype}")
        if value.size and (value.min() < 0 or value.max() >= modality.vocab_size):
            raise InputError(
                f"{name}: token ids must lie in [0, {modality.vocab_size}), got [{value.min()}, {value.max()}]"
            )
        return value.astype(np.int64)
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise InputError(f"{name}: expected real numbers (float32), got dtype {value.dtype}")
    value = value.astype(np.float32)
    if not np.isfinite(value).all():
        raise InputError(f"{name}: contains NaN or inf; replace missing values or pass {name}=None if absent")
    return value


def _check_shape(name: str, x: np.ndarray, modality: ModalitySpec) -> np.ndarray:
    """Accept (t, *step) or (B, t, *step); return (B, t, *step)."""
    step = modality.step_shape()
    if x.ndim == 1 + len(step):
        x = x[None]
    if x.ndim != 2 + len(step) or tuple(x.shape[2:]) != step:
        raise InputError(
            f"{name}: expected shape (steps, {', '.join(map(str, step))}) or (batch, steps, ...), got {x.shape}"
            if step
            else f"{name}: expected shape (steps,) or (batch, steps), got {x.shape}"
        )
    if x.shape[1] == 0:
        raise InputError(f"{name}: has zero steps; pass {name}=None if the modality is absent")
    return x


def _pad(x: np.ndarray, modality: ModalitySpec) -> np.ndarray:
    """(B, t, *step) -> (B, T, *step): keep the last T steps, left-pad with zeros."""
    step = modality.step_shape()
    t = x.shape[1]
    if t >= modality.seq_len:
        return x[:, t - modality.seq_len :]
    pad = np.zeros((x.shape[0], modality.seq_len - t, *step), dtype=x.dtype)
    return np.concatenate([pad, x], axis=1)


def normalize_steps(x: np.ndarray, modality: ModalitySpec) -> np.ndarray:
    norm = modality.normalization
    if modality.kind == TOKENS or not norm.mean:
        return x
    mean = np.asarray(norm.mean, np.float32)
    std = np.asarray(norm.std, np.float32)
    if modality.kind == FRAMES:
        mean, std = mean[:, None, None], std[:, None, None]
    return (x - mean) / std


def prepare_inputs(spec: ModelSpec, **modalities) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Validate raw inputs and build `(tensors in spec order, presence (B, M))`.

    Each modality is an array of shape (steps, *step_shape) for one sample or
    (batch, steps, *step_shape) for a batch, or None when absent. Shorter sequences
    are left-padded (after normalization) and longer ones keep their last steps.
    """
    unknown = set(modalities) - set(spec.modality_names)
    if unknown:
        raise InputError(f"unknown modalities {sorted(unknown)}; this model takes {spec.modality_names}")
    if all(modalities.get(name) is None for name in spec.modality_names):
        raise InputError(
            f"every modality is absent; give at least one of {spec.modality_names} (absent ones are None)"
        )
    arrays: dict[str, np.ndarray] = {}
    batch = None
    for m in spec.modalities:
        value = modalities.get(m.name)
        if value is None:
            continue
        x = _check_shape(m.name, _as_array(m.name, value, m), m)
        x = _pad(normalize_steps(x, m), m)
        if batch is not None and x.shape[0] != batch:
            raise InputError(f"{m.name}: batch size {x.shape[0]} differs from the other modalities' {batch}")
        batch = x.shape[0]
        arrays[m.name] = x
    tensors, presence = [], np.zeros((batch, len(spec.modalities)), np.float32)
    for i, m in enumerate(spec.modalities):
        if m.name in arrays:
            presence[:, i] = 1.0
            tensors.append(torch.from_numpy(np.ascontiguousarray(arrays[m.name])))
        else:
            dtype = torch.int64 if m.kind == TOKENS else torch.float32
            tensors.append(torch.zeros((batch, *m.input_shape()), dtype=dtype))
    return tensors, torch.from_numpy(presence)
