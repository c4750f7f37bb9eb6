"""RAVDESS emotional speech (Livingstone & Russo, PLoS ONE 2018) as raw 16 kHz waveforms.

Files read from `path`: `metadata.csv` (columns path, speaker, emotion, ...) and the
16 kHz mono FLAC clips it lists (read with `soundfile`); see ../shared/datasets/README.md.

One sample is one clip, one modality `audio` of kind `waveform` (16 kHz, `window_s`
seconds = seq_len samples, float32 in [-1, 1]). Each clip is trimmed to its speech
(`trim_silence`: the span of 25 ms frames within 40 dB of the clip's loudest frame),
then the central `window_s` seconds are kept; a shorter clip is left-padded with zeros
and `lengths` holds its valid samples (the last ones).

Labels: the shared 7 classes (sdk.data.emotions), calm -> neutral (288 neutral clips,
192 of each other class). Only two sentences are spoken, so the words carry no emotion.

Split by actor, never by clip (a random split leaks each speaker's voice):
actors 19-24 are test (never used for training or selection), actors 17 and 18
(one male, one female) are validation, actors 1-16 train. Groups are the actors.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sdk.data.dataset import MultimodalDataset
from sdk.data.emotions import EMOTIONS, SAMPLE_RATE, shared_label, waveform_spec

TEST_ACTORS = tuple(range(19, 25))
VAL_ACTORS = (17, 18)
FRAME, HOP = 400, 160  # 25 ms frames, 10 ms hop at 16 kHz
TRIM_DB = 40.0


def actor_split(actor: int) -> str:
    """The split of an actor: 19-24 test, 17-18 val, 1-16 train."""
    if actor in TEST_ACTORS:
        return "test"
    return "val" if actor in VAL_ACTORS else "train"


def trim_silence(x: np.ndarray, top_db: float = TRIM_DB) -> np.ndarray:
    """The part of `x` from the first to the last 25 ms frame whose RMS is within `top_db` of the loudest."""
    if len(x) < FRAME:
        return x
    starts = np.arange(0, len(x) - FRAME + 1, HOP)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[starts]
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-top_db / 20))
    if len(loud) == 0:
        return x
    return x[starts[loud[0]]: starts[loud[-1]] + FRAME]


def fit_window(x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """(window,) float32: the central `window` samples of x, or x left-padded with zeros; and the valid count."""
    if len(x) >= window:
        start = (len(x) - window) // 2
        return x[start: start + window].astype(np.float32), window
    out = np.zeros(window, np.float32)
    out[window - len(x):] = x
    return out, len(x)


def read_ravdess_metadata(path: Path) -> list[dict]:
    """The rows of metadata.csv: dicts with file, actor, label (shared class index)."""
    file = path / "metadata.csv"
    if not file.is_file():
        raise FileNotFoundError(f"RAVDESS metadata.csv is missing from {path}; that directory should hold "
                                "metadata.csv and aNN/*.flac (pass --data DIR or set EMOEDGE_DATA to the folder "
                                "holding ravdess_speech/)")
    rows = []
    with open(file, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path", "speaker", "emotion") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{file}: missing column(s) {missing}")
        for i, row in enumerate(reader):
            where = f"{file}: data row {i + 1}"
            label = shared_label(row["emotion"], where)
            speaker = row["speaker"].strip()
            try:
                actor = int(speaker.rsplit("_a", 1)[1])
            except (IndexError, ValueError):
                raise ValueError(f"{where}: speaker {speaker!r} is not of the form ravdess_aNN") from None
            rows.append({"file": path / row["path"], "actor": actor, "label": EMOTIONS.index(label)})
    if not rows:
        raise ValueError(f"{file} has no rows")
    return rows


def load_ravdess(path: str | Path, window_s: float = 3.0, limit: int | None = None) -> MultimodalDataset:
    """The RAVDESS speech dataset (see the module docstring). `limit`: read only the first clips (tests)."""
    import soundfile  # the FLAC reader (libsndfile); a training-side dependency

    path = Path(path)
    window = int(round(window_s * SAMPLE_RATE))
    if window < FRAME:
        raise ValueError(f"window_s must be at least {FRAME / SAMPLE_RATE} s, got {window_s}")
    rows = read_ravdess_metadata(path)[:limit]
    audio = np.zeros((len(rows), window), np.float32)
    lengths = np.zeros(len(rows), np.int64)
    for i, row in enumerate(rows):
        if not row["file"].is_file():
            raise FileNotFoundError(f"RAVDESS clip {row['file']} listed in metadata.csv is missing")
        x, rate = soundfile.read(row["file"], dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{row['file']}: sample rate {rate} Hz, expected {SAMPLE_RATE} (the 16 kHz release)")
        audio[i], lengths[i] = fit_window(trim_silence(x.mean(axis=1)), window)
    actors = np.array([r["actor"] for r in rows])
    return MultimodalDataset(
        modalities=[waveform_spec("audio", window)],
        class_names=list(EMOTIONS),
        inputs={"audio": audio},
        lengths={"audio": lengths},
        presence=np.ones((len(rows), 1), np.float32),
        labels=np.array([r["label"] for r in rows], np.int64),
        groups=np.array([f"actor{a:02d}" for a in actors]),
        split=np.array([actor_split(a) for a in actors]),
        name="ravdess_speech",
    )
