"""MELD (Friends dialogues) emotion recognition from raw text, with dialogue context.

Files read from `path`: `{train,dev,test}_sent_emo.csv` with (at least) the columns
Utterance, Emotion, Dialogue_ID, Utterance_ID (see ../shared/datasets/README.md).

One sample is a target utterance preceded by the previous `context` utterances
of its dialogue (ordered by Utterance_ID), joined with <sep> and tokenized with
`WordTokenizer`; the last `max_tokens` tokens are kept, left-padded. The only
modality is `text` (kind tokens, seq_len max_tokens); its vocabulary is built
from the train split only (words seen >= min_count times, at most max_vocab
entries with the special tokens). Splits: train, dev -> "val", test. Dialogue
ids restart in every file, so groups are "<split>:<Dialogue_ID>".

Text is read as UTF-8 (latin-1 if that fails), UTF-8 read as cp1252 ("â€™") is
repaired, and typographic punctuation is mapped to ASCII by the tokenizer.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from sdk.data.dataset import MultimodalDataset
from sdk.spec import TOKENS, ModalitySpec
from sdk.tokenizer import WordTokenizer

CLASS_NAMES = ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]
#: File prefix -> split name, in load order.
SPLIT_FILES = {"train": "train", "dev": "val", "test": "test"}
REQUIRED_COLUMNS = ("Utterance", "Emotion", "Dialogue_ID", "Utterance_ID")


def load_meld(path: str | Path, context: int = 3, max_tokens: int = 60, min_count: int = 2,
              max_vocab: int = 8000) -> MultimodalDataset:
    """The MELD text dataset (see the module docstring)."""
    path = Path(path)
    if context < 0 or max_tokens < 1:
        raise ValueError(f"context must be >= 0 and max_tokens >= 1, got {context}, {max_tokens}")
    if not path.is_dir():
        raise FileNotFoundError(f"MELD data directory {path} does not exist; it should hold "
                                "train_sent_emo.csv, dev_sent_emo.csv and test_sent_emo.csv")
    files = {prefix: read_meld_csv(path / f"{prefix}_sent_emo.csv") for prefix in SPLIT_FILES}
    tokenizer = WordTokenizer.build((u["text"] for u in files["train"]), min_count=min_count, max_size=max_vocab)

    ids, lengths, labels, groups, splits = [], [], [], [], []
    for prefix, split in SPLIT_FILES.items():
        dialogues = defaultdict(list)
        for utt in files[prefix]:
            dialogues[utt["dialogue"]].append(utt)
        for utts in dialogues.values():
            utts.sort(key=lambda u: u["utterance"])
            for k, utt in enumerate(utts):
                utt["position"] = k
        for utt in files[prefix]:  # file order
            dialogue, k = dialogues[utt["dialogue"]], utt["position"]
            previous = [u["text"] for u in dialogue[max(0, k - context): k]]
            x, n = tokenizer.encode_dialogue(previous, utt["text"], max_tokens)
            ids.append(x)
            lengths.append(n)
            labels.append(utt["label"])
            groups.append(f"{split}:{utt['dialogue']}")
            splits.append(split)

    text = ModalitySpec("text", TOKENS, max_tokens, vocabulary=tokenizer.vocabulary)
    return MultimodalDataset(
        modalities=[text],
        class_names=list(CLASS_NAMES),
        inputs={"text": np.stack(ids)},
        lengths={"text": np.array(lengths, np.int64)},
        presence=np.ones((len(labels), 1), np.float32),
        labels=np.array(labels, np.int64),
        groups=np.array(groups),
        split=np.array(splits),
        name="meld",
    )


def read_meld_csv(file: Path) -> list[dict]:
    """The utterances of one MELD file: dicts with text, label, dialogue, utterance."""
    if not file.is_file():
        raise FileNotFoundError(f"MELD file {file.name} is missing from {file.parent}; that directory should hold "
                                "{train,dev,test}_sent_emo.csv from declare-lab/MELD data/MELD/ "
                                "(pass --data DIR or set EMOEDGE_DATA to the folder holding meld/)")
    raw = file.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    reader = csv.DictReader(io.StringIO(content, newline=""))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{file}: missing column(s) {missing}; expected a header with {list(REQUIRED_COLUMNS)}")
    out = []
    seen = set()
    for i, row in enumerate(reader):
        where = f"{file}: data row {i + 1}"
        emotion = (row["Emotion"] or "").strip().lower()
        if emotion not in CLASS_NAMES:
            raise ValueError(f"{where}: unknown emotion {row['Emotion']!r}; expected one of {CLASS_NAMES}")
        try:
            dialogue, utterance = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: Dialogue_ID and Utterance_ID must be integers") from None
        if (dialogue, utterance) in seen:
            raise ValueError(f"{where}: utterance {utterance} of dialogue {dialogue} appears twice")
        seen.add((dialogue, utterance))
        out.append({"text": repair_mojibake(row["Utterance"] or ""), "label": CLASS_NAMES.index(emotion),
                    "dialogue": dialogue, "utterance": utterance})
    if not out:
        raise ValueError(f"{file} has no rows")
    return out


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text decoded as cp1252/latin-1 ("â€™" -> "’"); other text is returned as is."""
    if not any(marker in text for marker in ("â€", "Ã", "Â")):
        return text
    for encoding in ("cp1252", "latin-1"):
        try:
            return text.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
    return text
