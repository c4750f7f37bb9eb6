"""Validation and preparation of user inputs, shared by every predict path.

`prepare_inputs(spec, audio=..., video=..., text=...)` takes raw arrays (one sample
or a batch) with `None` for an absent modality, checks them against the spec and
returns the model's positional inputs: normalized, left-padded tensors in spec
order plus the presence mask. Every problem raises `InputError` naming the
modality, what was expected and what to do.

`InputPreparer(spec).arrays(...)` does the same with numpy only (no torch import,
so a runtime process stays small) and also takes a `str` for a token modality:
the text is tokenized with the spec's vocabulary (sdk.tokenizer); text with more
tokens than the modality's `seq_len` raises `InputError` (arrays of token ids that
are too long keep their last `seq_len` ids, like every other modality).

A `waveform` modality takes mono PCM: a 1-D array of samples (or (batch, samples)),
float in [-1, 1] or int16 (divided by 32768); it is cut to its last `seq_len` samples
or left-padded with zeros (silence) to the window, and not normalized here (the
model's log-mel front end does it).
"""
from __future__ import annotations

import numpy as np

from sdk.errors import EmoEdgeError
from sdk.spec import FRAMES, TOKENS, WAVEFORM, ModalitySpec, ModelSpec
from sdk.tokenizer import WordTokenizer


class InputError(EmoEdgeError, ValueError):
    """An input that the model cannot take; the message says which and how to fix it.

    `kind` names the problem for code (and for the cross-language contract in
    contract/, which the Kotlin and Swift cores mirror): one of INPUT_ERROR_KINDS.
    """

    def __init__(self, message: str, kind: str = "invalid_input"):
        super().__init__(message)
        self.kind = kind


#: The `InputError.kind` values (contract/README.md lists what each means).
INPUT_ERROR_KINDS = ("invalid_input", "unknown_modality", "all_absent", "wrong_type", "wrong_dtype",
                     "token_out_of_range", "non_finite", "text_for_non_token", "empty_text", "text_too_long",
                     "wrong_shape", "zero_steps", "overflow", "batch_mismatch", "batch_too_large",
                     "timestamp_out_of_order")


#: The most characters a text may have before it is tokenized (a 50 MB string is refused
#: at once instead of being split into millions of words first).
MAX_TEXT_CHARS = 65_536
#: The most values one call may pass for a modality after its steps are cut to the window
#: (e.g. 256 samples of a 48,000-sample waveform); more is refused before any conversion.
MAX_INPUT_VALUES = 16_777_216


def _as_array(name: str, value, modality: ModalitySpec, tokenizer: WordTokenizer | None = None) -> np.ndarray:
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, str):
        return _encode_text(name, value, modality, tokenizer)
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{name}: expected a numpy array of shape {('T', *modality.step_shape())}, got {type(value).__name__}",
            kind="wrong_type",
        )
    if modality.kind == TOKENS:
        if not np.issubdtype(value.dtype, np.integer):
            raise InputError(
                f"{name}: token ids must be an integer array, got dtype {value.dtype}",
                kind="wrong_dtype",
            )
        if value.size and (value.min() < 0 or value.max() >= modality.vocab_size):
            raise InputError(
                f"{name}: token ids must lie in [0, {modality.vocab_size}), got [{value.min()}, {value.max()}]",
                kind="token_out_of_range",
            )
        return value.astype(np.int64)
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise InputError(
            f"{name}: expected real numbers (float32), got dtype {value.dtype}"
            + ("; complex values are not features: pass their magnitude or the real and imaginary parts"
               if np.issubdtype(value.dtype, np.complexfloating) else ""),
            kind="wrong_dtype",
        )
    if modality.kind == WAVEFORM and value.dtype == np.int16:
        return value.astype(np.float32) / np.float32(32768.0)  # 16-bit PCM -> [-1, 1)
    value = value.astype(np.float32)
    if not np.isfinite(value).all():
        raise InputError(
            f"{name}: contains NaN or inf; replace missing values or pass {name}=None if absent",
            kind="non_finite",
        )
    return value


def _encode_text(name: str, text: str, modality: ModalitySpec, tokenizer: WordTokenizer | None) -> np.ndarray:
    """A str for a token modality -> its (n,) int64 ids; errors for other kinds, empty or too-long text."""
    if modality.kind != TOKENS:
        raise InputError(
            f"{name}: got text, but this modality takes {modality.kind} (a float array of shape "
            f"{('steps', *modality.step_shape())}); pass the {name} features as a numpy array",
            kind="text_for_non_token",
        )
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"{name}: the text has {len(text):,} characters; the most one call takes is {MAX_TEXT_CHARS:,} "
            f"(the model reads only its last {modality.seq_len} tokens): pass the recent part",
            kind="text_too_long",
        )
    tokenizer = tokenizer or WordTokenizer.from_vocabulary(modality.vocabulary)
    ids = tokenizer.ids(text)
    if not ids:
        raise InputError(
            f"{name}: the text has no words; pass {name}=None if there is no text",
            kind="empty_text",
        )
    if len(ids) > modality.seq_len:
        raise InputError(
            f"{name}: the text has {len(ids)} tokens but the model takes at most {modality.seq_len}; "
            f"shorten it (e.g. to its last {modality.seq_len} tokens) or pass token ids (extra ids are dropped "
            "from the start)",
            kind="text_too_long",
        )
    return np.asarray(ids, dtype=np.int64)


def bounded(name: str, value, modality: ModalitySpec):
    """`value` cut to its last `seq_len` steps (the window) before any conversion.

    Only the window reaches the model, so a long recording is cut as a view instead of
    being converted and normalised in full; what is still over MAX_INPUT_VALUES (a huge
    batch) is refused. Non-arrays pass through for `_as_array` to judge.
    """
    if not isinstance(value, np.ndarray):
        return value
    value = np.asarray(value)  # np.matrix and other subclasses: plain arrays (a matrix cannot lose an axis)
    steps = modality.seq_len
    step_rank = len(modality.step_shape())
    if value.ndim in (1 + step_rank, 2 + step_rank):
        axis = value.ndim - 1 - step_rank
        if value.shape[axis] > steps:
            value = value[(slice(None),) * axis + (slice(value.shape[axis] - steps, None),)]
    if value.size > MAX_INPUT_VALUES:
        raise InputError(
            f"{name}: {value.size:,} values in one call (shape {value.shape}) after keeping the last {steps} steps; "
            f"the most is {MAX_INPUT_VALUES:,}: split the batch into smaller calls",
            kind="batch_too_large",
        )
    return value


def _check_shape(name: str, x: np.ndarray, modality: ModalitySpec) -> np.ndarray:
    """Accept (t, *step) or (B, t, *step); return (B, t, *step)."""
    step = modality.step_shape()
    given = x.shape
    if x.ndim == 1 + len(step):
        x = x[None]
    if x.ndim != 2 + len(step) or tuple(x.shape[2:]) != step:
        raise InputError(
            f"{name}: expected shape (steps, {', '.join(map(str, step))}) or (batch, steps, ...), got {given}"
            if step
            else f"{name}: expected shape (steps,) or (batch, steps), got {given}",
            kind="wrong_shape",
        )
    if x.shape[1] == 0:
        raise InputError(
            f"{name}: has zero steps; pass {name}=None if the modality is absent",
            kind="zero_steps",
        )
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
    if modality.kind == TOKENS or not norm.mean or modality.normalize_in_graph:
        return x  # normalize_in_graph (waveforms, live frames): the model normalizes raw values itself
    mean = np.asarray(norm.mean, np.float32)
    std = np.asarray(norm.std, np.float32)
    if modality.kind == FRAMES:
        mean, std = mean[:, None, None], std[:, None, None]
    return (x - mean) / std


class InputPreparer:
    """Validation and preprocessing for one spec, numpy only (tokenizers built once)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.tokenizers = {m.name: WordTokenizer.from_vocabulary(m.vocabulary)
                           for m in spec.modalities if m.kind == TOKENS}

    def arrays(self, **modalities) -> tuple[list[np.ndarray], np.ndarray]:
        """Validate raw inputs and build `(arrays in spec order, presence (B, M) float32)`.

        Each modality is an array of shape (steps, *step_shape) for one sample or
        (batch, steps, *step_shape) for a batch, a str for a token modality, or None
        when absent. Shorter sequences are left-padded (after normalization) and longer
        ones keep their last steps.
        """
        spec = self.spec
        unknown = set(modalities) - set(spec.modality_names)
        if unknown:
            raise InputError(
                f"unknown modalities {sorted(unknown)}; this model takes {spec.modality_names}",
                kind="unknown_modality",
            )
        if all(modalities.get(name) is None for name in spec.modality_names):
            raise InputError(
                f"every modality is absent; give at least one of {spec.modality_names} (absent ones are None)",
                kind="all_absent",
            )
        arrays: dict[str, np.ndarray] = {}
        batch = None
        for m in spec.modalities:
            value = modalities.get(m.name)
            if value is None:
                continue
            value = bounded(m.name, value, m)
            x = _check_shape(m.name, _as_array(m.name, value, m, self.tokenizers.get(m.name)), m)
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below
                x = normalize_steps(x, m)
            if m.kind != TOKENS and not np.isfinite(x).all():
                raise InputError(
                    f"{m.name}: values overflow float32 after normalization with the model's mean/std; "
                    f"expected raw {m.name} features on the scale of the training data",
                    kind="overflow",
                )
            x = _pad(x, m)
            if batch is not None and x.shape[0] != batch:
                raise InputError(
                    f"{m.name}: batch size {x.shape[0]} differs from the other modalities' {batch}",
                    kind="batch_mismatch",
                )
            batch = x.shape[0]
            arrays[m.name] = x
        out, presence = [], np.zeros((batch, len(spec.modalities)), np.float32)
        for i, m in enumerate(spec.modalities):
            if m.name in arrays:
                presence[:, i] = 1.0
                out.append(np.ascontiguousarray(arrays[m.name]))
            else:
                dtype = np.int64 if m.kind == TOKENS else np.float32
                out.append(np.zeros((batch, *m.input_shape()), dtype=dtype))
        return out, presence

    def tensors(self, **modalities):
        """Like `arrays`, as torch tensors: `(tensors in spec order, presence (B, M))`."""
        import torch

        arrays, presence = self.arrays(**modalities)
        return [torch.from_numpy(x) for x in arrays], torch.from_numpy(presence)


def prepare_inputs(spec: ModelSpec, **modalities):
    """Validate raw inputs and build `(tensors in spec order, presence (B, M))`.

    Each modality is an array of shape (steps, *step_shape) for one sample or
    (batch, steps, *step_shape) for a batch, a str for a token modality, or None
    when absent. Shorter sequences are left-padded (after normalization) and longer
    ones keep their last steps.
    """
    return InputPreparer(spec).tensors(**modalities)
