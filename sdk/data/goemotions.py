"""GoEmotions Reddit comments (Demszky et al., ACL 2020), Ekman labels, as raw text.

Files read from `path` (the goemotions/ directory or its ekman/ folder):
`ekman/{train,dev,test}.tsv` (`text \\t comma-separated label ids \\t comment id`) and
`ekman/labels.txt` (the label order: anger, disgust, fear, joy, neutral, sadness, surprise).

Labels map to the shared 7 classes (anger -> angry, joy -> happy, sadness -> sad).
About 9 % of comments carry more than one label. The dataset (`load_goemotions`)
keeps the single-label comments only: train -> "train", dev -> "val", test -> "test",
so its test accuracy is the protocol's single-label accuracy. The protocol's macro F1
over *all* test comments (multi-label ones included) is `multilabel_macro_f1`
on `read_goemotions(path, "test")`: a prediction is a true positive for its class when
that class is among the comment's labels, a false positive otherwise, and every label
of a comment that was not predicted is a false negative.

One modality `text` (tokens, `max_tokens` steps, the last ones kept); vocabulary from
the train comments. Groups are the comment ids.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdk.data.emotions import EMOTIONS, shared_label, token_dataset

SPLIT_FILES = {"train": "train", "dev": "val", "test": "test"}


def ekman_dir(path: str | Path) -> Path:
    path = Path(path)
    for candidate in (path / "ekman", path):
        if (candidate / "labels.txt").is_file():
            return candidate
    raise FileNotFoundError(f"GoEmotions Ekman files not found under {path}: expected ekman/labels.txt and "
                            "ekman/{train,dev,test}.tsv (pass --data DIR or set EMOEDGE_DATA to the folder "
                            "holding goemotions/)")


def read_goemotions(path: str | Path, file: str) -> list[dict]:
    """The comments of one file ("train", "dev" or "test"): dicts text, labels (shared indices), group."""
    folder = ekman_dir(path)
    names = [line.strip() for line in (folder / "labels.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    mapping = [EMOTIONS.index(shared_label(n, str(folder / "labels.txt"))) for n in names]
    tsv = folder / f"{file}.tsv"
    if not tsv.is_file():
        raise FileNotFoundError(f"GoEmotions file {tsv} is missing")
    out = []
    for i, line in enumerate(tsv.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{tsv}: line {i + 1} has {len(parts)} tab-separated fields, expected 3")
        try:
            ids = [int(x) for x in parts[1].split(",")]
            labels = sorted({mapping[k] for k in ids})
        except (ValueError, IndexError):
            raise ValueError(f"{tsv}: line {i + 1}: bad label ids {parts[1]!r} (labels.txt has {len(names)})") from None
        out.append({"text": parts[0], "labels": labels, "group": parts[2]})
    return out


def goemotions_records(path: str | Path) -> list[dict]:
    """Single-label comments of every file as records {text, label, group, split}."""
    records = []
    for file, split in SPLIT_FILES.items():
        for r in read_goemotions(path, file):
            if len(r["labels"]) == 1:
                records.append({"text": r["text"], "label": r["labels"][0], "group": f"goemotions:{r['group']}",
                                "split": split})
    return records


def load_goemotions(path: str | Path, max_tokens: int = 40, min_count: int = 2, max_vocab: int = 20000):
    """The single-label GoEmotions-Ekman dataset (see the module docstring)."""
    return token_dataset(goemotions_records(path), "goemotions", max_tokens, min_count=min_count, max_vocab=max_vocab)


def multilabel_macro_f1(label_sets: list[list[int]], predictions: np.ndarray, num_classes: int = len(EMOTIONS)) -> float:
    """Macro F1 over classes for one predicted class per row against each row's label set."""
    tp = np.zeros(num_classes)
    fp = np.zeros(num_classes)
    fn = np.zeros(num_classes)
    for labels, p in zip(label_sets, predictions):
        if p in labels:
            tp[p] += 1
        else:
            fp[p] += 1
        for c in labels:
            if c != p:
                fn[c] += 1
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(num_classes), where=denominator > 0)
    present = (tp + fn) > 0
    return float(f1[present].mean())
