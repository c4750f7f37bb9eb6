"""Training-time noise on torch batches of normalized inputs.

A batch is `inputs` (modality name -> tensor, as `sdk.data.normalize` makes them:
padding and absent modalities are exactly 0) and `presence` (B, M). Every
function here is pure: it returns new tensors and never modifies its arguments,
and draws all its randomness from the given `torch.Generator` (reproducible).

    presence = modality_dropout(presence, p=0.2, generator=g)
    inputs = inject_noise(inputs, spec.modalities, generator=g, p=0.5)

Padding stays padding: masking only ever writes zeros (features, frames), and
word dropout only rewrites real words (never id 0 = <pad>, nor <sep>).
"""
from __future__ import annotations

import torch

from sdk.spec import FEATURES, FRAMES, TOKENS, ModalitySpec
from sdk.tokenizer import PAD_ID, SEP, SEP_ID, UNK_ID


def modality_dropout(presence: torch.Tensor, p: float, generator: torch.Generator,
                     keep: torch.Tensor | None = None) -> torch.Tensor:
    """A new (B, M) presence with each present modality dropped with probability `p`.

    Every row that had a present modality keeps at least one (chosen at random
    among its present ones when all were dropped). `keep` (B, M) bool marks
    modalities that are never dropped (the live recipe's anchors).
    """
    present = presence > 0
    drop = _uniform(presence.shape, generator, presence.device) < p
    if keep is not None:
        drop = drop & ~keep.to(device=presence.device, dtype=torch.bool)
    keep = present & ~drop
    emptied = present.any(dim=1) & ~keep.any(dim=1)
    score = _uniform(presence.shape, generator, presence.device)
    score = torch.where(present, score, torch.full_like(score, -1.0))
    rescue = torch.nn.functional.one_hot(score.argmax(dim=1), presence.shape[1]).bool() & emptied[:, None]
    return (keep | rescue).to(presence.dtype)


def inject_noise(
    inputs: dict[str, torch.Tensor],
    modalities: list[ModalitySpec],
    generator: torch.Generator,
    p: float = 0.5,
    time_mask: float = 0.2,
    feature_mask: float = 0.2,
    frame_drop: float = 0.25,
    word_drop: float = 0.1,
    gaussian: float = 0.0,
) -> dict[str, torch.Tensor]:
    """A new inputs dict with modality-appropriate noise on a random `p` of the samples.

    features: SpecAugment-like masking, each with probability `p` per sample: one
        span of up to `time_mask` x T steps and one band of up to `feature_mask` x F
        features set to 0;
    frames:   on a `p` of the samples, each frame is zeroed with probability `frame_drop`;
    tokens:   on a `p` of the samples, each real word is replaced by <unk> (id 1) with
        probability `word_drop` (padding 0 and <sep> are never touched).
    gaussian: on every sample, N(0, gaussian^2) is added to the non-padded values of
        features modalities (normalized units; 0 = off).
    Names not among `modalities` are passed through unchanged.
    """
    out = dict(inputs)
    for m in modalities:
        if m.name not in inputs:
            continue
        x = inputs[m.name]
        batch = x.shape[0]
        if m.kind == FEATURES:
            t, f = x.shape[1], x.shape[2]
            steps = _span_mask(batch, t, time_mask, p, generator, x.device)  # (B, T)
            feats = _span_mask(batch, f, feature_mask, p, generator, x.device)  # (B, F)
            mask = steps[:, :, None] | feats[:, None, :]
            if gaussian > 0:
                real = (x != 0).any(dim=2, keepdim=True)
                noise = torch.randn(x.shape, generator=generator, device=x.device) * gaussian
                x = torch.where(real, x + noise, x)
            out[m.name] = torch.where(mask, torch.zeros_like(x), x)
        elif m.kind == FRAMES:
            rows = _uniform((batch, 1), generator, x.device) < p
            frames = rows & (_uniform(x.shape[:2], generator, x.device) < frame_drop)
            mask = frames.reshape(*frames.shape, *([1] * (x.dim() - 2)))
            out[m.name] = torch.where(mask, torch.zeros_like(x), x)
        elif m.kind == TOKENS:
            rows = _uniform((batch, 1), generator, x.device) < p
            words = x != PAD_ID
            if len(m.vocabulary) > SEP_ID and m.vocabulary[SEP_ID] == SEP:
                words = words & (x != SEP_ID)
            mask = rows & words & (_uniform(x.shape, generator, x.device) < word_drop)
            out[m.name] = torch.where(mask, torch.full_like(x, UNK_ID), x)
    return out


def _uniform(shape, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, moved to `device`."""
    return torch.rand(tuple(shape), generator=generator, device=generator.device).to(device)


def _span_mask(batch: int, size: int, fraction: float, p: float, generator: torch.Generator,
               device: torch.device) -> torch.Tensor:
    """(batch, size) bool: on a `p` of the rows, one contiguous span of 1..fraction*size positions."""
    longest = int(fraction * size)
    draws = _uniform((batch, 3), generator, device)
    if longest < 1:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    width = (draws[:, 0] * longest).long() + 1  # 1..longest
    start = (draws[:, 1] * (size - width + 1)).long()  # 0..size-width
    position = torch.arange(size, device=device)[None, :]
    span = (position >= start[:, None]) & (position < (start + width)[:, None])
    return span & (draws[:, 2:3] < p)
