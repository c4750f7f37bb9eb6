"""ISEAR emotional-experience reports (Scherer & Wallbott, 1994) as raw text.

File read from `path`: `isear.csv`, `|`-separated, latin-1, header row; the report is
column SIT and the label column Field1 (joy, fear, anger, sadness, disgust, shame,
guilt). A report that itself contains `|` spans several fields; they are joined back.
The copy here is in fact valid UTF-8, so it is decoded as UTF-8 when it can be and as
latin-1 otherwise; the stand-alone "á" the original uses as a line-break mark becomes a space.

Labels map to the shared classes (joy -> happy, anger -> angry, sadness -> sad);
shame and guilt have no counterpart and are dropped (5 classes remain, no neutral or
surprise). ISEAR has no official split: by respondent (column ID; each wrote several
reports), a seeded 20 % of respondents (`numpy.random.default_rng(HOLDOUT_SEED)`) is
the test hold-out and 10 % of the rest validation. One modality `text`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sdk.data.emotions import shared_label, token_dataset, EMOTIONS

FILE = "isear.csv"
HOLDOUT_SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
LINE_MARK = re.compile(r"(?<!\w)\u00e1(?!\w)")


def read_isear(path: str | Path) -> list[dict]:
    """Records {text, label, group, split} of the kept reports (see the module docstring)."""
    path = Path(path)
    file = path / FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"ISEAR file {FILE} is missing from {path} (pass --data DIR or set EMOEDGE_DATA to "
                                "the folder holding isear/)")
    raw = file.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    lines = content.splitlines()
    header = lines[0].split("|")
    try:
        id_col, label_col, text_col = header.index("ID"), header.index("Field1"), header.index("SIT")
    except ValueError:
        raise ValueError(f"{file}: the header must name the columns ID, Field1 and SIT") from None
    tail = len(header) - text_col - 1  # fields after SIT (STATE and the trailing empty one)
    rows = []
    for i, line in enumerate(lines[1:]):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < len(header):
            raise ValueError(f"{file}: data row {i + 1} has {len(fields)} fields, expected {len(header)}")
        label = shared_label(fields[label_col], f"{file}: data row {i + 1}")
        if label is None:
            continue
        text = LINE_MARK.sub(" ", "|".join(fields[text_col: len(fields) - tail])).strip()
        rows.append({"text": text, "label": EMOTIONS.index(label), "group": f"isear:{fields[id_col].strip()}"})
    if not rows:
        raise ValueError(f"{file} has no usable rows")
    respondents = np.array(sorted({r["group"] for r in rows}))
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(respondents))
    n_test = int(round(TEST_FRACTION * len(respondents)))
    n_val = int(round(VAL_FRACTION * (len(respondents) - n_test)))
    split_of = {str(g): "test" for g in respondents[order[:n_test]]}
    split_of.update({str(g): "val" for g in respondents[order[n_test: n_test + n_val]]})
    for r in rows:
        r["split"] = split_of.get(r["group"], "train")
    return rows


def load_isear(path: str | Path, max_tokens: int = 48, min_count: int = 2, max_vocab: int = 20000):
    """The ISEAR dataset (see the module docstring)."""
    return token_dataset(read_isear(path), "isear", max_tokens, min_count=min_count, max_vocab=max_vocab)
