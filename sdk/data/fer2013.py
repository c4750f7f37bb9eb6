"""FER2013 facial expressions (Goodfellow et al., ICONIP 2013) as 48x48 gray face crops.

File read from `path`: `fer2013_48x48.npz` with `images` uint8 (N, 48, 48), `labels`
(index into `classes`), `usage` (Training / PublicTest / PrivateTest) and `filenames`.

One sample is one image, one modality `video` (the camera) of kind `frames` with T = 1 still,
1 channel, 48x48, raw pixel values 0..255 (stored as uint8; `normalize` casts to
float32; normalisation is in the model: `normalize_in_graph`, and the 48x48 face CNN,
`encoder="face"`). Labels: the shared 7 classes, which are
FER2013's own. Splits: Training -> train, PublicTest -> val (may select),
PrivateTest -> test (only reported). No subject ids exist; groups are the file names.
The release's ~1,850 duplicate images are kept as they are (some cross splits).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdk.data.dataset import MultimodalDataset
from sdk.data.emotions import EMOTIONS, shared_label
from sdk.spec import FRAMES, ModalitySpec

FILE = "fer2013_48x48.npz"
USAGE_SPLITS = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SIZE = 48


def load_fer2013(path: str | Path, limit: int | None = None) -> MultimodalDataset:
    """The FER2013 dataset (see the module docstring). `limit`: keep the first rows of each split (tests)."""
    path = Path(path)
    file = path / FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"FER2013 file {FILE} is missing from {path} (pass --data DIR or set EMOEDGE_DATA "
                                "to the folder holding fer2013/)")
    with np.load(file, allow_pickle=False) as z:
        missing = [k for k in ("images", "labels", "usage", "classes") if k not in z.files]
        if missing:
            raise ValueError(f"{file}: missing array(s) {missing}")
        images, labels, usage, classes = z["images"], z["labels"], z["usage"], z["classes"]
        names = z["filenames"] if "filenames" in z.files else np.array([f"fer{i}" for i in range(len(labels))])
    if images.shape[1:] != (SIZE, SIZE) or images.dtype != np.uint8:
        raise ValueError(f"{file}: images are {images.dtype} {images.shape}, expected uint8 (N, {SIZE}, {SIZE})")
    unknown = sorted(set(np.unique(usage)) - set(USAGE_SPLITS))
    if unknown:
        raise ValueError(f"{file}: unknown usage values {unknown}; expected {sorted(USAGE_SPLITS)}")
    mapping = np.array([EMOTIONS.index(shared_label(str(c), str(file))) for c in classes])
    split = np.array([USAGE_SPLITS[u] for u in usage])
    if limit is not None:
        keep = np.concatenate([np.flatnonzero(split == s)[:limit] for s in USAGE_SPLITS.values()])
        images, labels, split, names = images[keep], labels[keep], split[keep], names[keep]
    n = len(labels)
    video = ModalitySpec("video", FRAMES, 1, channels=1, height=SIZE, width=SIZE, normalize_in_graph=True,
                         encoder="face")
    return MultimodalDataset(
        modalities=[video],
        class_names=list(EMOTIONS),
        inputs={"video": images.reshape(n, 1, 1, SIZE, SIZE)},
        lengths={"video": np.ones(n, np.int64)},
        presence=np.ones((n, 1), np.float32),
        labels=mapping[labels.astype(np.int64)],
        groups=np.asarray(names).astype(str),
        split=split,
        name="fer2013",
    )
