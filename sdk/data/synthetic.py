"""A built-in, deterministic three-modality emotion set for tests, demos and CI.

No files: `load_synthetic(n_samples, seed, missing_rate)` draws everything from
`numpy.random.default_rng(seed)`, so the same arguments always give the same data.

Each modality carries only part of the evidence, so the fused model beats every subset
of the modalities. The four classes are the corners of an arousal x valence square:

               positive valence   negative valence
    low arousal    neutral            sad
    high arousal   happy              angry

    audio  features, 16 steps x 12 features: says the arousal only (low or high): an
           arousal-specific offset on all features and a temporal wave on three features
           (one period for low, three for high), on a per-feature raw scale (so
           normalization matters);
    video  frames, 6 steps x 1x12x12: says the valence only: a bright blob in the upper
           half (positive) or the lower half (negative) of the image, at a random column,
           jittered and drifting, on a noisy background;
    text   tokens, 10 steps, 40-word vocabulary of made-up words: says the class itself,
           weakly: a few words of the class (sometimes none) among neutral filler words
           and words of other classes.

Every sample draws, per modality, an intensity in [0, 1] that scales how strongly the
modality shows its part (a quiet voice, a faint blob, few class words), then noise is
added. Audio alone can at best tell the arousal row, video the valence column, text is
a noisy guess of the class; audio + video together name the class, and text breaks the
ties where one of them is faint. The model must combine all three to do best.

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
EXPRESS_PROB = 0.75  # load_synthetic_live: probability that a modality shows the true class
#: Per class (CLASS_NAMES order): arousal (0 low, 1 high), which audio shows, and valence
#: (0 positive, 1 negative), which video shows; text shows the class.
AROUSAL = np.array([0, 1, 0, 1])
VALENCE = np.array([0, 0, 1, 1])
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

#: Blob centre row per valence (positive: upper half, negative: lower half).
BLOB_ROWS = np.array([3.5, 8.5])


def synthetic_modalities() -> list[ModalitySpec]:
    """The modality specs of the synthetic set (raw, no normalization)."""
    return [
        ModalitySpec("audio", FEATURES, AUDIO_STEPS, feature_dim=AUDIO_DIM),
        ModalitySpec("video", FRAMES, VIDEO_STEPS, channels=1, height=IMAGE_SIZE, width=IMAGE_SIZE),
        ModalitySpec("text", TOKENS, TEXT_STEPS, vocabulary=list(VOCABULARY)),
    ]


def load_synthetic(n_samples: int = 1200, seed: int = 0, missing_rate: float = 0.15) -> MultimodalDataset:
    """The synthetic dataset (see the module docstring); deterministic for a seed."""
    _check_arguments(n_samples, missing_rate)
    rng = np.random.default_rng(seed)
    n, k = n_samples, len(CLASS_NAMES)
    labels = rng.integers(0, k, size=n)
    intensity = rng.uniform(0.0, 1.0, size=(3, n))  # how strongly each modality shows its part

    lengths = {
        "audio": rng.integers(8, AUDIO_STEPS + 1, size=n),
        "video": rng.integers(3, VIDEO_STEPS + 1, size=n),
        "text": rng.integers(4, TEXT_STEPS + 1, size=n),
    }
    inputs = {
        "audio": _audio(AROUSAL[labels], intensity[0], lengths["audio"], rng),
        "video": _video(VALENCE[labels], intensity[1], lengths["video"], rng),
        "text": _text(labels, intensity[2], lengths["text"], rng),
    }
    presence = _presence(n, 3, missing_rate, rng)
    for i, name in enumerate(("audio", "video", "text")):
        absent = presence[:, i] == 0
        inputs[name][absent] = 0
        lengths[name][absent] = inputs[name].shape[1]

    groups, split = _dialogues(n, rng)

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


def _check_arguments(n_samples: int, missing_rate: float) -> None:
    if n_samples < 2 * GROUP_SIZE:
        raise ValueError(f"n_samples must be >= {2 * GROUP_SIZE}, got {n_samples}")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")


def _dialogues(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(groups, split): dialogues of GROUP_SIZE consecutive samples, a seeded TEST_FRACTION of them test."""
    group_index = np.arange(n) // GROUP_SIZE
    n_groups = -(-n // GROUP_SIZE)
    test_groups = rng.permutation(n_groups)[: max(1, int(round(TEST_FRACTION * n_groups)))]
    groups = np.array([f"dialogue{g:04d}" for g in group_index])
    return groups, np.where(np.isin(group_index, test_groups), "test", "train")


def _expressed(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The class a modality shows: the label, or (prob 1 - EXPRESS_PROB) another class."""
    other = (labels + rng.integers(1, k, size=len(labels))) % k
    return np.where(rng.random(len(labels)) < EXPRESS_PROB, labels, other)


def _valid_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    return np.arange(steps)[None, :] >= (steps - lengths[:, None])


def _audio(arousal: np.ndarray, intensity: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Audio shows the arousal (0 low, 1 high), scaled by the sample's intensity."""
    fixed = np.random.default_rng(1000)  # templates and raw scales do not depend on the seed
    offsets = fixed.normal(0.0, 0.6, size=(2, AUDIO_DIM))
    raw_mean = fixed.normal(0.0, 50.0, size=AUDIO_DIM)
    raw_scale = np.exp(fixed.normal(0.0, 1.0, size=AUDIO_DIM))
    n, t = len(arousal), AUDIO_STEPS
    start = t - lengths  # first valid step
    time = (np.arange(t)[None, :] - start[:, None]) / t  # 0 at the first valid step
    freq = 1.0 + 2.0 * arousal  # low: one period over 16 steps, high: three
    phase = rng.uniform(-0.5, 0.5, size=n)
    wave = np.zeros((n, t, AUDIO_DIM))
    for j in range(3):
        wave[:, :, j] = 1.2 * np.sin(2 * np.pi * freq[:, None] * time + phase[:, None] + j)
    signal = intensity[:, None, None] * (offsets[arousal][:, None, :] + wave)
    z = signal + rng.normal(0.0, 1.5, size=(n, t, AUDIO_DIM))
    x = raw_mean + raw_scale * z
    return np.where(_valid_mask(lengths, t)[:, :, None], x, 0.0).astype(np.float32)


def _video(valence: np.ndarray, intensity: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Video shows the valence (0 positive: blob up, 1 negative: blob down), amplitude = intensity."""
    n, t, s = len(valence), VIDEO_STEPS, IMAGE_SIZE
    row = BLOB_ROWS[valence] + rng.normal(0.0, 1.0, size=n)
    column = rng.uniform(2.5, 9.5, size=n)  # says nothing about the class
    center = np.stack([row, column], axis=1)[:, None, :]
    center = center + np.cumsum(rng.normal(0.0, 0.4, size=(n, t, 2)), axis=1)  # drift over frames
    sigma = 1.8 * np.exp(rng.normal(0.0, 0.25, size=(n, 1, 2)))
    amp = 0.8 * intensity[:, None, None, None]
    grid = np.arange(s, dtype=np.float64)
    dr = (grid[None, None, :] - center[:, :, 0:1]) / sigma[:, :, 0:1]  # (n, t, s)
    dc = (grid[None, None, :] - center[:, :, 1:2]) / sigma[:, :, 1:2]
    image = amp * np.exp(-0.5 * (dr[:, :, :, None] ** 2 + dc[:, :, None, :] ** 2))
    x = 0.3 + image + rng.normal(0.0, 0.5, size=(n, t, s, s))
    x = np.where(_valid_mask(lengths, t)[:, :, None, None], x, 0.0)
    return x[:, :, None, :, :].astype(np.float32)


def _text(labels: np.ndarray, intensity: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Text shows the class: each word is one of the class's words with probability 0.3 * intensity."""
    n, t = len(labels), TEXT_STEPS
    k, per_class = len(CLASS_WORDS), len(CLASS_WORDS[0])
    first_class_id = len(SPECIALS)
    first_neutral_id = first_class_id + k * per_class
    draw = rng.random((n, t))
    own_prob = 0.3 * intensity[:, None]
    own = first_class_id + per_class * labels[:, None] + rng.integers(0, per_class, size=(n, t))
    any_class = first_class_id + rng.integers(0, k * per_class, size=(n, t))
    neutral = first_neutral_id + rng.integers(0, len(NEUTRAL_WORDS), size=(n, t))
    ids = np.where(draw < own_prob, own, np.where(draw < own_prob + 0.1, any_class, neutral))
    return np.where(_valid_mask(lengths, t), ids, 0).astype(np.int64)


def _presence(n: int, m: int, missing_rate: float, rng: np.random.Generator) -> np.ndarray:
    presence = (rng.random((n, m)) >= missing_rate).astype(np.float32)
    empty = np.flatnonzero(presence.sum(axis=1) == 0)
    presence[empty, rng.integers(0, m, size=len(empty))] = 1.0
    return presence


# ---------------------------------------------------------------------------------------------
# Live kinds: load_dataset("synthetic_live") -> raw PCM, 48x48 face-like images, template text
# ---------------------------------------------------------------------------------------------

#: The live model's 7 classes (issue 14's shared label set).
LIVE_CLASS_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
LIVE_SAMPLE_RATE = 16000
LIVE_WINDOW = 3 * LIVE_SAMPLE_RATE
FACE_SIZE = 48
LIVE_TEXT_STEPS = 12
#: Per class: fundamental pitch (Hz) and syllable rate (Hz) of the generated voice.
LIVE_PITCH = np.array([210.0, 130.0, 260.0, 190.0, 110.0, 300.0, 150.0])
LIVE_TEMPO = np.array([5.5, 2.5, 6.5, 4.5, 1.8, 3.5, 3.0])
#: Per class: mouth curvature (+ smile), mouth opening, brow tilt (+ inner ends down), eye size.
LIVE_FACE = np.array([
    [-0.6, 0.15, 0.9, 0.9],  # angry
    [-0.4, 0.05, 0.4, 0.7],  # disgust
    [-0.2, 0.55, -0.7, 1.4],  # fear
    [1.0, 0.30, 0.0, 1.0],  # happy
    [-1.0, 0.05, -0.6, 0.8],  # sad
    [0.0, 0.90, -0.9, 1.5],  # surprise
    [0.0, 0.05, 0.0, 1.0],  # neutral
])
LIVE_WORDS = [
    ["furious", "angry", "mad", "outraged", "annoyed"],
    ["disgusting", "gross", "revolting", "nasty", "vile"],
    ["scared", "afraid", "terrified", "nervous", "frightened"],
    ["happy", "glad", "delighted", "joyful", "great"],
    ["sad", "unhappy", "miserable", "lonely", "gloomy"],
    ["surprised", "amazed", "shocked", "astonished", "stunned"],
    ["fine", "okay", "normal", "usual", "calm"],
]
LIVE_TEMPLATES = ["i feel {w} today", "this makes me so {w}", "honestly i am {w} about it",
                  "we were all {w} when it happened", "it was a {w} day at work", "you look {w}"]


def synthetic_live_modalities() -> list[ModalitySpec]:
    """audio: waveform 3 s at 16 kHz; video: one 48x48 gray face (raw 0..255, in-graph
    normalization, face CNN); text: tokens over the template vocabulary."""
    from sdk.spec import WAVEFORM

    words = sorted({w for t in LIVE_TEMPLATES for w in t.replace("{w}", "").split()}
                   | {w for ws in LIVE_WORDS for w in ws})
    return [
        ModalitySpec("audio", WAVEFORM, LIVE_WINDOW, sample_rate=LIVE_SAMPLE_RATE),
        ModalitySpec("video", FRAMES, 1, channels=1, height=FACE_SIZE, width=FACE_SIZE, normalize_in_graph=True,
                     encoder="face"),
        ModalitySpec("text", TOKENS, LIVE_TEXT_STEPS, vocabulary=[*SPECIALS, *words]),
    ]


def load_synthetic_live(n_samples: int = 700, seed: int = 0, missing_rate: float = 0.15) -> MultimodalDataset:
    """The synthetic live set, `load_dataset("synthetic_live")`: deterministic for a seed.

    Same modality names, kinds and 7 classes as the real `live` set (issue 14), so the
    live model, its export and the runtime packing run without the real datasets:

    audio  raw mono PCM, 3 s at 16 kHz, float32 in [-1, 1], left-padded with zeros to
           the window from a valid length of 1.2-3 s: a harmonic "voice" whose pitch
           (110-300 Hz) and syllable rate (1.8-6.5 Hz amplitude modulation) depend on the
           class, with per-sample pitch jitter, loudness 0.05-0.5 and white noise;
    video  one 48x48 gray face (values 0..255): an ellipse face with eyes, brows and a
           mouth whose curvature, opening, brow tilt and eye size depend on the class,
           jittered in position, scale and brightness, plus pixel noise;
    text   a template sentence with a class word ("i feel {w} today"), tokenized over
           the set's vocabulary (12 tokens, left-padded).

    As in `load_synthetic`, each modality shows the true class with probability 0.75
    (another class otherwise), each is absent with probability `missing_rate` (at least
    one present), groups are dialogues of 10 samples and ~20 % of them are test.
    """
    from sdk.tokenizer import WordTokenizer

    _check_arguments(n_samples, missing_rate)
    rng = np.random.default_rng(seed)
    n, k = n_samples, len(LIVE_CLASS_NAMES)
    labels = rng.integers(0, k, size=n)
    shown = [_expressed(labels, k, rng) for _ in range(3)]
    modalities = synthetic_live_modalities()

    audio_len = rng.integers(int(1.2 * LIVE_SAMPLE_RATE), LIVE_WINDOW + 1, size=n)
    audio = np.zeros((n, LIVE_WINDOW), np.float32)
    for i in range(n):
        audio[i, LIVE_WINDOW - audio_len[i]:] = _voice(shown[0][i], audio_len[i], rng)
    video = _faces(shown[1], rng)[:, None, None]  # (n, 1, 1, 48, 48)
    tokenizer = WordTokenizer.from_vocabulary(modalities[2].vocabulary)
    text = np.zeros((n, LIVE_TEXT_STEPS), np.int64)
    text_len = np.zeros(n, np.int64)
    for i in range(n):
        template = LIVE_TEMPLATES[rng.integers(len(LIVE_TEMPLATES))]
        words = LIVE_WORDS[shown[2][i]]
        text[i], text_len[i] = tokenizer.encode(template.format(w=words[rng.integers(len(words))]), LIVE_TEXT_STEPS)
    inputs = {"audio": audio, "video": video.astype(np.float32), "text": text}
    lengths = {"audio": audio_len.astype(np.int64), "video": np.ones(n, np.int64), "text": text_len}
    presence = _presence(n, 3, missing_rate, rng)
    for i, name in enumerate(("audio", "video", "text")):
        absent = presence[:, i] == 0
        inputs[name][absent] = 0
        lengths[name][absent] = modalities[i].seq_len

    groups, split = _dialogues(n, rng)
    return MultimodalDataset(
        modalities=modalities,
        class_names=list(LIVE_CLASS_NAMES),
        inputs=inputs,
        lengths=lengths,
        presence=presence,
        labels=labels.astype(np.int64),
        groups=groups,
        split=split,
        name="synthetic_live",
    )


def _voice(cls: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """`length` samples of a class-`cls` harmonic voice (see load_synthetic_live)."""
    t = np.arange(length) / LIVE_SAMPLE_RATE
    f0 = LIVE_PITCH[cls] * np.exp(rng.normal(0.0, 0.08)) * (1 + 0.03 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / LIVE_SAMPLE_RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 6))
    rate = LIVE_TEMPO[cls] * np.exp(rng.normal(0.0, 0.1))
    envelope = np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)), 0.0, None) ** 2
    signal = voice * envelope
    signal = signal / (np.abs(signal).max() + 1e-9) * rng.uniform(0.05, 0.5)
    return (signal + rng.normal(0.0, 0.01, size=length)).clip(-1, 1).astype(np.float32)


def _faces(shown: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 48, 48) float32 gray faces with values in 0..255 (see load_synthetic_live)."""
    n, s = len(shown), FACE_SIZE
    curve, opening, brow, eye = (LIVE_FACE[shown, j][:, None, None] for j in range(4))
    cy = 24 + rng.normal(0, 1.5, (n, 1, 1))
    cx = 24 + rng.normal(0, 1.5, (n, 1, 1))
    scale = np.exp(rng.normal(0, 0.06, (n, 1, 1)))
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    y = (yy[None] - cy) / scale  # face coordinates: 0 at the centre, +y down
    x = (xx[None] - cx) / scale
    face = ((x / 17) ** 2 + (y / 21) ** 2 <= 1).astype(np.float64)
    image = 60 + 110 * face
    for side in (-1, 1):  # eyes and brows
        ex = side * 7.5
        eyes = ((x - ex) / 3.2) ** 2 + ((y + 5) / (1.6 * eye)) ** 2 <= 1
        brow_y = -10 + brow * side * (x - ex) / 4  # inner end (toward x = 0) lower when brow > 0
        brows = (np.abs(y - brow_y) <= 0.9) & (np.abs(x - ex) <= 4.5)
        image = np.where(eyes | brows, 25, image)
    mouth_center = 10 - curve * ((x / 8) ** 2) * 3  # smile: corners up (smaller y)
    mouth = (np.abs(x) <= 8) & (y >= mouth_center - 0.9 - 3 * opening) & (y <= mouth_center + 0.9 + 3 * opening)
    image = np.where(mouth, 35, image)
    image = image * rng.uniform(0.7, 1.25, (n, 1, 1)) + rng.normal(0, 18, (n, s, s))
    return np.clip(np.round(image), 0, 255).astype(np.float32)
