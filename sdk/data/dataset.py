"""One in-memory form for every dataset: per-modality arrays, masks, labels, groups, split.

Every loader (synthetic, mosi, meld, npz) returns a `MultimodalDataset`. Arrays
hold *raw* values; `normalize` applies the spec's statistics (computed on the
training split by `fit_normalization`) and keeps padded steps at exactly zero.
Modalities with `normalize_in_graph` (waveforms, live face frames) stay raw: the
model applies their statistics itself.

Layout, for N samples and modality m of the spec:
    inputs[m]:  (N, T_m, *step_shape)  float32 (features, frames) or int64 (tokens);
                a waveform is (N, S) float32 PCM in [-1, 1] (S = seq_len samples)
    lengths[m]: (N,) int64, valid steps (samples, for a waveform); samples are left-padded, so the valid
                steps are the last `lengths[m][i]` ones (the target is the last step)
    presence:   (N, M) float32, 1 = modality present, 0 = absent
    labels:     (N,) int64 class index
    groups:     (N,) str, the video or dialogue a sample comes from (splits never cut a group)
    split:      (N,) str, one of "train", "val", "test"
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from sdk.spec import FEATURES, FRAMES, TOKENS, WAVEFORM, ModalitySpec, Normalization

SPLITS = ("train", "val", "test")


@dataclass
class MultimodalDataset:
    modalities: list[ModalitySpec]
    class_names: list[str]
    inputs: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    presence: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    name: str = ""
    #: Where the samples came from, for loaders that read a user's file: {"loader": "npz",
    #: "path": ..., "sha256": ...}. Training stores it in the checkpoint so that evaluate,
    #: PNAO and export reload the same file (never a built-in set that shares its name).
    source: dict = field(default_factory=dict)

    @property
    def loader(self) -> str:
        """The `load_dataset` name that rebuilds these samples."""
        return self.source.get("loader", self.name)

    def __post_init__(self) -> None:
        n = len(self.labels)
        names = [m.name for m in self.modalities]
        for m in self.modalities:
            x = self.inputs[m.name]
            if x.shape != (n, *m.input_shape()):
                raise ValueError(f"{self.name}: {m.name} has shape {x.shape}, expected {(n, *m.input_shape())}")
            if self.lengths[m.name].shape != (n,):
                raise ValueError(f"{self.name}: lengths[{m.name}] must have shape ({n},)")
        if self.presence.shape != (n, len(names)):
            raise ValueError(f"{self.name}: presence has shape {self.presence.shape}, expected {(n, len(names))}")
        for arr, what in ((self.groups, "groups"), (self.split, "split")):
            if arr.shape != (n,):
                raise ValueError(f"{self.name}: {what} must have shape ({n},)")
        unknown = set(np.unique(self.split)) - set(SPLITS)
        if unknown:
            raise ValueError(f"{self.name}: unknown split names {sorted(unknown)}; use {SPLITS}")

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.labels)

    @property
    def modality_names(self) -> list[str]:
        return [m.name for m in self.modalities]

    def subset(self, index: np.ndarray) -> "MultimodalDataset":
        """A new dataset holding the samples at `index` (an int or bool array)."""
        return dataclasses.replace(
            self,
            inputs={k: v[index] for k, v in self.inputs.items()},
            lengths={k: v[index] for k, v in self.lengths.items()},
            presence=self.presence[index],
            labels=self.labels[index],
            groups=self.groups[index],
            split=self.split[index],
        )

    def part(self, split: str) -> "MultimodalDataset":
        """The samples of one split ("train", "val" or "test")."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
        return self.subset(self.split == split)

    def with_validation(self, fraction: float = 0.15, seed: int = 0, source: str = "train") -> "MultimodalDataset":
        """Carve a validation split out of `source` ("train" or "test"), by group, if there is none yet.

        Whole groups (videos, dialogues) move to "val", so no group is in two splits.
        `source="test"` is for data whose train split cannot validate (MOSI's released
        train features leak their labels): a seeded share of the test groups becomes
        the validation split and the rest stays test, so what is reported on test was
        never used to choose anything.
        """
        if (self.split == "val").any():
            return self
        if source not in ("train", "test"):
            raise ValueError(f"validation source must be 'train' or 'test', not {source!r}")
        pool = np.unique(self.groups[self.split == source])
        if len(pool) < 2:
            raise ValueError(f"cannot carve validation from {source!r}: it has {len(pool)} group(s); need 2 or more")
        rng = np.random.default_rng(seed)
        n_val = min(len(pool) - 1, max(1, int(round(fraction * len(pool)))))
        val_groups = set(rng.choice(pool, size=n_val, replace=False).tolist())
        split = self.split.copy()
        in_val = np.array([g in val_groups for g in self.groups]) & (self.split == source)
        split[in_val] = "val"
        return dataclasses.replace(self, split=split)


def fit_normalization(dataset: MultimodalDataset) -> list[ModalitySpec]:
    """Modality specs with mean/std computed on the present, valid steps of train.

    Features: per feature. Frames: per channel. Tokens: none. Waveforms: per mel band of
    the in-graph log-mel front end, over the frames inside the valid samples
    (sdk.frontend.fit_log_mel_statistics).
    """
    train = dataset.part("train")
    fitted = []
    for i, m in enumerate(dataset.modalities):
        m = dataclasses.replace(m)
        if m.kind == WAVEFORM:
            from sdk.frontend import fit_log_mel_statistics

            present = train.presence[:, i] > 0
            m.normalization = Normalization()  # the statistics are fitted on the un-normalised log-mel
            mean, std = fit_log_mel_statistics(m, train.inputs[m.name][present], train.lengths[m.name][present])
            m.normalization = Normalization(mean=mean.astype(float).tolist(), std=std.astype(float).tolist())
        elif m.kind in (FEATURES, FRAMES):
            x = train.inputs[m.name]
            valid = _valid_steps(train.lengths[m.name], m.seq_len) & (train.presence[:, i] > 0)[:, None]
            steps = x[valid]  # (S, F) or (S, C, H, W)
            if m.kind == FRAMES:
                steps = steps.transpose(0, 2, 3, 1).reshape(-1, m.channels)
            if len(steps) == 0:
                raise ValueError(f"modality {m.name!r} has no present training steps to normalize with")
            mean = steps.mean(axis=0)
            std = np.maximum(steps.std(axis=0), 1e-6)
            m.normalization = Normalization(mean=mean.astype(float).tolist(), std=std.astype(float).tolist())
        fitted.append(m)
    return fitted


def normalize(dataset: MultimodalDataset, modalities: list[ModalitySpec]) -> dict[str, np.ndarray]:
    """The model inputs: normalized arrays with padded steps and absent modalities at zero."""
    out = {}
    for i, m in enumerate(modalities):
        x = dataset.inputs[m.name]
        keep = _valid_steps(dataset.lengths[m.name], m.seq_len) & (dataset.presence[:, i] > 0)[:, None]
        if m.kind == TOKENS:
            out[m.name] = np.where(keep, x, 0).astype(np.int64)
            continue
        x = x.astype(np.float32)
        if m.normalization.mean and not m.normalize_in_graph:
            mean = np.asarray(m.normalization.mean, np.float32)
            std = np.asarray(m.normalization.std, np.float32)
            if m.kind == FRAMES:
                mean, std = mean[:, None, None], std[:, None, None]
            x = (x - mean) / std
        keep = keep.reshape(keep.shape + (1,) * (x.ndim - 2))
        out[m.name] = np.where(keep, x, 0.0).astype(np.float32)
    return out


def _valid_steps(lengths: np.ndarray, seq_len: int) -> np.ndarray:
    """(N, T) bool: True for the last `lengths[i]` steps of each row (left padding)."""
    positions = np.arange(seq_len)[None, :]
    return positions >= (seq_len - lengths[:, None])
