"""The shared 7-class emotion label set of the raw-signal ("live") datasets.

RAVDESS speech, FER2013 faces, GoEmotions-Ekman and ISEAR text are mapped onto one
label set so their samples can be paired by label (sdk.data.pairing) and one model
can read any of them: FER2013's own class order,

    angry, disgust, fear, happy, sad, surprise, neutral

RAVDESS "calm" becomes neutral; GoEmotions/ISEAR "joy" becomes happy (and
anger -> angry, sadness -> sad); ISEAR shame and guilt have no counterpart and are dropped.
"""
from __future__ import annotations

from sdk.spec import WAVEFORM, ModalitySpec

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

#: Source label -> shared label (None = dropped). Keys are lower case.
LABEL_MAP = {
    "angry": "angry", "anger": "angry",
    "disgust": "disgust",
    "fear": "fear", "fearful": "fear",
    "happy": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "calm": "neutral",
    "shame": None, "guilt": None,
}

SAMPLE_RATE = 16000


def shared_label(source_label: str, where: str) -> str | None:
    """The shared label of `source_label` (None: a label the shared set drops, e.g. ISEAR shame)."""
    key = source_label.strip().lower()
    if key not in LABEL_MAP:
        raise ValueError(f"{where}: unknown emotion label {source_label!r}; expected one of {sorted(LABEL_MAP)}")
    return LABEL_MAP[key]


def waveform_spec(name: str, window_samples: int) -> ModalitySpec:
    """A `waveform` modality: mono PCM at 16 kHz, `window_samples` samples per input."""
    return ModalitySpec(name, WAVEFORM, window_samples, sample_rate=SAMPLE_RATE)


def token_dataset(records: list[dict], name: str, max_tokens: int, tokenizer=None, min_count: int = 2,
                  max_vocab: int = 20000, modality: str = "text"):
    """A one-modality `tokens` dataset from records {text, label, group, split}.

    The vocabulary is learned from the train records only (words seen >= min_count
    times, at most max_vocab entries) unless a `tokenizer` is given.
    """
    import numpy as np

    from sdk.data.dataset import MultimodalDataset
    from sdk.spec import TOKENS
    from sdk.tokenizer import WordTokenizer

    if tokenizer is None:
        tokenizer = WordTokenizer.build((r["text"] for r in records if r["split"] == "train"),
                                        min_count=min_count, max_size=max_vocab)
    ids = np.zeros((len(records), max_tokens), np.int64)
    lengths = np.zeros(len(records), np.int64)
    for i, r in enumerate(records):
        ids[i], lengths[i] = tokenizer.encode(r["text"], max_tokens)
    spec = ModalitySpec(modality, TOKENS, max_tokens, vocabulary=list(tokenizer.vocabulary))
    return MultimodalDataset(
        modalities=[spec],
        class_names=list(EMOTIONS),
        inputs={modality: ids},
        lengths={modality: lengths},
        presence=np.ones((len(records), 1), np.float32),
        labels=np.array([r["label"] for r in records], np.int64),
        groups=np.array([r["group"] for r in records]),
        split=np.array([r["split"] for r in records]),
        name=name,
    )
