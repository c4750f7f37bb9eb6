"""A built-in, deterministic three-modality emotion set for tests, demos and CI.

No files: `load_synthetic(n_samples, seed, missing_rate)` draws everything from
`numpy.random.default_rng(seed)`, so the same arguments always give the same data.

Modalities (spec order) and their class structure:
    audio  features, 16 steps x 12 features: a class-specific offset on all features
           plus a class-specific temporal wave on three features, on a per-feature
           raw scale (so normalization matters);
    video  frames, 6 steps x 1x12x12: a bright blob whose position and shape depend
           on the class, jittered and drifting, on a noisy background;
    text   tokens, 10 steps, 40-word vocabulary of made-up words: class words mixed
           with neutral words and a few words of other classes.

Each modality of a sample "expresses" the true class with probability 0.75 and a
random other class otherwise, independently across modalities, then noise is
added: every modality alone is informative but imperfect (about 60-75 % for a
small model) and combining them helps.

Samples are left-padded to variable valid lengths; each modality is absent with
probability `missing_rate` (its array is zero, its length stays full), with at
least one modality present per sample. Groups are "dialogues" of ~10
consecutive samples; about 20 % of the dialogues are the test split.
"""
from __future__ import annotations

import numpy as np

from sdk.data.dataset import MultimodalDataset
from sdk.spec import FEATURES, FRAMES, TOKENS, ModalitySpec
from sdk.tokenizer import SPECIALS

CLASS_NAMES = ["neutral", "happy", "sad", "angry"]
AUDIO_STEPS, AUDIO_DIM = 16, 12
VIDEO_STEPS, IMAGE_SIZE = 6, 12
TEXT_STEPS = 10
EXPRESS_PROB = 0.75  # probability that a modality shows the true class
GROUP_SIZE = 10
TEST_FRACTION = 0.2

#: Five indicative words per class (in CLASS_NAMES order), then neutral filler words.
CLASS_WORDS = [
    ["plim", "dovo", "saret", "kelm", "noba"],
    ["zuli", "brisk", "yayo", "glimo", "fentu"],
    ["morun", "dreff", "lusk", "welo", "ghom"],
    ["krax", "vorg", "tusk", "zarn", "grok"],
]
NEUTRAL_WORDS = ["the", "a", "and", "to", "it", "was", "so", "then", "we",
                 "you", "that", "with", "on", "of", "in", "at", "for"]
VOCABULARY = [*SPECIALS, *(w for words in CLASS_WORDS for w in words), *NEUTRAL_WORDS]

#: Blob (row, column, sigma_row, sigma_col) per class.
BLOBS = np.array([
    [6.0, 6.0, 2.4, 2.4],  # neutral: centred, wide
    [3.5, 8.5, 1.2, 2.6],  # happy: upper right, flat
    [8.5, 3.5, 2.6, 1.2],  # sad: lower left, tall
    [3.5, 3.5, 1.1, 1.1],  # angry: upper left, small
])


def synthetic_modalities() -> list[ModalitySpec]:
    """The modality specs of the synthetic set (raw, no normalization)."""
    return [
        ModalitySpec("audio", FEATURES, AUDIO_STEPS, feature_dim=AUDIO_DIM),
        ModalitySpec("video", FRAMES, VIDEO_STEPS, channels=1, height=IMAGE_SIZE, width=IMAGE_SIZE),
        ModalitySpec("text", TOKENS, TEXT_STEPS, vocabulary=list(VOCABULARY)),
    ]


def load_synthetic(n_samples: int = 1200, seed: int = 0, missing_rate: float = 0.15) -> MultimodalDataset:
    """The synthetic dataset (see the module docstring); deterministic for a seed."""
    if n_samples < 2 * GROUP_SIZE:
        raise ValueError(f"n_samples must be >= {2 * GROUP_SIZE}, got {n_samples}")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
    rng = np.random.default_rng(seed)
    n, k = n_samples, len(CLASS_NAMES)
    labels = rng.integers(0, k, size=n)
    shown = [_expressed(labels, k, rng) for _ in range(3)]

    lengths = {
        "audio": rng.integers(8, AUDIO_STEPS + 1, size=n),
        "video": rng.integers(3, VIDEO_STEPS + 1, size=n),
        "text": rng.integers(4, TEXT_STEPS + 1, size=n),
    }
    inputs = {
        "audio": _audio(shown[0], lengths["audio"], rng),
        "video": _video(shown[1], lengths["video"], rng),
        "text": _text(shown[2], lengths["text"], rng),
    }
    presence = _presence(n, 3, missing_rate, rng)
    for i, name in enumerate(("audio", "video", "text")):
        absent = presence[:, i] == 0
        inputs[name][absent] = 0
        lengths[name][absent] = inputs[name].shape[1]

    n_groups = -(-n // GROUP_SIZE)
    group_index = np.arange(n) // GROUP_SIZE
    groups = np.array([f"dialogue{g:04d}" for g in group_index])
    test_groups = rng.permutation(n_groups)[: max(1, int(round(TEST_FRACTION * n_groups)))]
    split = np.where(np.isin(group_index, test_groups), "test", "train")

    return MultimodalDataset(
        modalities=synthetic_modalities(),
        class_names=list(CLASS_NAMES),
        inputs=inputs,
        lengths={m: v.astype(np.int64) for m, v in lengths.items()},
        presence=presence,
        labels=labels.astype(np.int64),
        groups=groups,
        split=split,
        name="synthetic",
    )


def _expressed(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The class a modality shows: the label, or (prob 1 - EXPRESS_PROB) another class."""
    other = (labels + rng.integers(1, k, size=len(labels))) % k
    return np.where(rng.random(len(labels)) < EXPRESS_PROB, labels, other)


def _valid_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    return np.arange(steps)[None, :] >= (steps - lengths[:, None])


def _audio(shown: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    fixed = np.random.default_rng(1000)  # class templates and raw scales do not depend on the seed
    offsets = fixed.normal(0.0, 0.6, size=(len(CLASS_NAMES), AUDIO_DIM))
    raw_mean = fixed.normal(0.0, 50.0, size=AUDIO_DIM)
    raw_scale = np.exp(fixed.normal(0.0, 1.0, size=AUDIO_DIM))
    n, t = len(shown), AUDIO_STEPS
    start = t - lengths  # first valid step
    time = (np.arange(t)[None, :] - start[:, None]) / t  # 0 at the first valid step
    wave = np.zeros((n, t, AUDIO_DIM))
    freq = 1.0 + shown  # class c: c + 1 periods over 16 steps
    phase = rng.uniform(-0.5, 0.5, size=n)
    for j in range(3):
        feature = 3 * shown + j  # three features per class
        wave[np.arange(n)[:, None], np.arange(t)[None, :], feature[:, None]] = \
            1.2 * np.sin(2 * np.pi * freq[:, None] * time + phase[:, None] + j)
    signal = offsets[shown][:, None, :] + wave
    z = signal + rng.normal(0.0, 2.2, size=(n, t, AUDIO_DIM))
    x = raw_mean + raw_scale * z
    return np.where(_valid_mask(lengths, t)[:, :, None], x, 0.0).astype(np.float32)


def _video(shown: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, t, s = len(shown), VIDEO_STEPS, IMAGE_SIZE
    blob = BLOBS[shown]  # (n, 4)
    center = blob[:, None, :2] + rng.normal(0.0, 1.1, size=(n, 1, 2))
    center = center + np.cumsum(rng.normal(0.0, 0.4, size=(n, t, 2)), axis=1)  # drift over frames
    sigma = blob[:, None, 2:] * np.exp(rng.normal(0.0, 0.15, size=(n, 1, 2)))
    amp = rng.uniform(0.4, 0.9, size=(n, 1, 1, 1))
    grid = np.arange(s, dtype=np.float64)
    dr = (grid[None, None, :] - center[:, :, 0:1]) / sigma[:, :, 0:1]  # (n, t, s)
    dc = (grid[None, None, :] - center[:, :, 1:2]) / sigma[:, :, 1:2]
    image = amp * np.exp(-0.5 * (dr[:, :, :, None] ** 2 + dc[:, :, None, :] ** 2))
    x = 0.3 + image + rng.normal(0.0, 0.3, size=(n, t, s, s))
    x = np.where(_valid_mask(lengths, t)[:, :, None, None], x, 0.0)
    return x[:, :, None, :, :].astype(np.float32)


def _text(shown: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, t = len(shown), TEXT_STEPS
    k, per_class = len(CLASS_WORDS), len(CLASS_WORDS[0])
    first_class_id = len(SPECIALS)
    first_neutral_id = first_class_id + k * per_class
    draw = rng.random((n, t))
    own = first_class_id + per_class * shown[:, None] + rng.integers(0, per_class, size=(n, t))
    any_class = first_class_id + rng.integers(0, k * per_class, size=(n, t))
    neutral = first_neutral_id + rng.integers(0, len(NEUTRAL_WORDS), size=(n, t))
    ids = np.where(draw < 0.25, own, np.where(draw < 0.33, any_class, neutral))
    return np.where(_valid_mask(lengths, t), ids, 0).astype(np.int64)


def _presence(n: int, m: int, missing_rate: float, rng: np.random.Generator) -> np.ndarray:
    presence = (rng.random((n, m)) >= missing_rate).astype(np.float32)
    empty = np.flatnonzero(presence.sum(axis=1) == 0)
    presence[empty, rng.integers(0, m, size=len(empty))] = 1.0
    return presence
