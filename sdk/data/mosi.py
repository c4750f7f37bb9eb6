"""CMU-MOSI utterance features (bc-LSTM release) as context windows of utterances.

Files read from `path` (see ../shared/datasets/README.md):
    {text,audio,video}_{train,test}0.csv  no header; the features then the label
                                         (rows in the same order in all three)
    text_{train,test}.csv                column 0: the row of the utterance in
                                         transcripts.csv, then the text features
    transcripts.csv                      utt_id "<videoID>_<n>", transcript,
                                         video index, label

transcripts.csv gives each utterance its video and position n (the integer after
the last underscore). One sample is a target utterance with up to `context`
preceding utterances of the same video (ordered by n) before it: each modality
has seq_len = context + 1 steps, one utterance per step, left-padded, and
`lengths` counts the real utterances (target included). Modalities: audio (73
features), video (100), text (100), all present. Labels: 0 negative, 1 positive.
groups = video id; the split is the file a row comes from (train or test).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sdk.data.dataset import MultimodalDataset
from sdk.spec import FEATURES, ModalitySpec

CLASS_NAMES = ["negative", "positive"]
#: Modality name -> number of features, in spec order.
FEATURE_DIMS = {"audio": 73, "video": 100, "text": 100}
SPLIT_FILES = ("train", "test")
EXPECTED = "the CMU-MOSI bc-LSTM CSV files ({text,audio,video}_{train,test}0.csv, text_{train,test}.csv, transcripts.csv)"


def load_mosi(path: str | Path, context: int = 6) -> MultimodalDataset:
    """The MOSI dataset of context windows (see the module docstring)."""
    path = Path(path)
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    if not path.is_dir():
        raise FileNotFoundError(f"MOSI data directory {path} does not exist; it should hold {EXPECTED}")
    transcripts = _read_rows(path / "transcripts.csv", path)
    utt_video, utt_pos, utt_label = _parse_transcripts(transcripts, path / "transcripts.csv")

    # One entry per utterance row of the split files: features, label, video, position.
    feats: dict[str, list[np.ndarray]] = {m: [] for m in FEATURE_DIMS}
    labels, videos, positions, splits = [], [], [], []
    for split in SPLIT_FILES:
        index_file = path / f"text_{split}.csv"
        index_rows = _read_rows(index_file, path)
        index = _floats(index_rows, index_file, 1 + FEATURE_DIMS["text"])[:, 0]
        split_labels = None
        for name, dim in FEATURE_DIMS.items():
            file = path / f"{name}_{split}0.csv"
            table = _floats(_read_rows(file, path), file, dim + 1)
            if len(table) != len(index):
                raise ValueError(f"{file}: {len(table)} rows, but {index_file} has {len(index)}; "
                                 "the files must list the same utterances in the same order")
            if split_labels is None:
                split_labels = table[:, -1]
            elif not np.array_equal(table[:, -1], split_labels):
                row = int(np.flatnonzero(table[:, -1] != split_labels)[0])
                raise ValueError(f"{file}: the label of row {row + 1} differs from the text file's; "
                                 "the modality files are not aligned")
            feats[name].append(table[:, :-1].astype(np.float32))
        rows = index.astype(np.int64)
        if (rows != index).any() or rows.min() < 0 or rows.max() >= len(utt_video):
            raise ValueError(f"{index_file}: column 0 must be row numbers of transcripts.csv "
                             f"(0..{len(utt_video) - 1})")
        if not np.array_equal(utt_label[rows], split_labels):
            row = int(np.flatnonzero(utt_label[rows] != split_labels)[0])
            raise ValueError(f"{path / f'text_{split}0.csv'}: row {row + 1} has label {split_labels[row]:g}, "
                             f"but transcripts.csv says {utt_label[rows][row]}")
        if not np.isin(split_labels, (0, 1)).all():
            raise ValueError(f"{path / f'text_{split}0.csv'}: labels must be 0 or 1")
        labels.append(split_labels.astype(np.int64))
        videos.append(utt_video[rows])
        positions.append(utt_pos[rows])
        splits.append(np.full(len(rows), split))

    table = {m: np.concatenate(v) for m, v in feats.items()}
    labels_all = np.concatenate(labels)
    videos_all = np.concatenate(videos)
    positions_all = np.concatenate(positions)
    window, lengths = _context_windows(videos_all, positions_all, context)

    seq_len = context + 1
    inputs = {}
    for name, x in table.items():
        padded = np.concatenate([np.zeros((1, x.shape[1]), np.float32), x])  # row 0 = padding
        inputs[name] = padded[window + 1]  # window == -1 -> padding
    modalities = [ModalitySpec(name, FEATURES, seq_len, feature_dim=dim) for name, dim in FEATURE_DIMS.items()]
    return MultimodalDataset(
        modalities=modalities,
        class_names=list(CLASS_NAMES),
        inputs=inputs,
        lengths={name: lengths.copy() for name in FEATURE_DIMS},
        presence=np.ones((len(labels_all), len(modalities)), np.float32),
        labels=labels_all,
        groups=videos_all,
        split=np.concatenate(splits),
        name="mosi",
    )


def _context_windows(videos: np.ndarray, positions: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, context+1) row indices of each sample's window (-1 = padding) and its length."""
    n = len(videos)
    window = np.full((n, context + 1), -1, np.int64)
    lengths = np.zeros(n, np.int64)
    order = np.lexsort((positions, videos))  # by video, then position
    start = 0
    for end in range(1, n + 1):
        if end < n and videos[order[end]] == videos[order[start]]:
            continue
        rows = order[start:end]  # one video, in order
        if len(np.unique(positions[rows])) != len(rows):
            raise ValueError(f"video {videos[rows[0]]}: two utterances share a position in transcripts.csv")
        for k, row in enumerate(rows):
            steps = rows[max(0, k - context): k + 1]
            window[row, context + 1 - len(steps):] = steps
            lengths[row] = len(steps)
        start = end
    return window, lengths


def _parse_transcripts(rows: list[list[str]], file: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    videos, positions, labels = [], [], []
    for i, row in enumerate(rows):
        if len(row) != 4:
            raise ValueError(f"{file}: row {i + 1} has {len(row)} columns, expected 4 "
                             "(utt_id, transcript, video index, label)")
        video, _, n = row[0].rpartition("_")
        try:
            videos.append(video)
            positions.append(int(n))
            labels.append(int(float(row[3])))
        except ValueError:
            raise ValueError(f"{file}: row {i + 1}: utt_id {row[0]!r} must be '<videoID>_<n>' "
                             f"and the label ({row[3]!r}) a number") from None
        if not video:
            raise ValueError(f"{file}: row {i + 1}: utt_id {row[0]!r} must be '<videoID>_<n>'")
    return np.array(videos), np.array(positions, np.int64), np.array(labels, np.int64)


def _read_rows(file: Path, directory: Path) -> list[list[str]]:
    if not file.is_file():
        raise FileNotFoundError(f"MOSI file {file.name} is missing from {directory}; that directory should hold "
                                f"{EXPECTED} (pass --data DIR or set EMOEDGE_DATA to the folder holding mosi/)")
    with open(file, newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f) if row]


def _floats(rows: list[list[str]], file: Path, columns: int) -> np.ndarray:
    """The rows as a float array, checking every row has `columns` values."""
    for i, row in enumerate(rows):
        if len(row) != columns:
            raise ValueError(f"{file}: row {i + 1} has {len(row)} columns, expected {columns}")
    if not rows:
        raise ValueError(f"{file} is empty")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{file}: not all values are numbers ({err})") from None
