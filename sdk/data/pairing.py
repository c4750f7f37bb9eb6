"""Cross-dataset pairing ("Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions", Algorithm 1 step 5): multimodal samples from unimodal datasets.

When no dataset records every modality of the same event, "Lightweight Multimodal Emotion Recognition Using Cross-Dataset Feature Fusion of Text and Facial Expressions" forms
training pairs by matching samples of different datasets that share an emotion
label ("for each text sample t_i ... select a facial image with the same emotion
label"). `pair_by_label` does this for any number of single-modality datasets.

Sampling rule (documented, seeded, reproducible):
  * the first dataset is the *anchor*: every anchor sample yields exactly one
    paired sample, keeping the anchor's label, group and split;
  * for every other dataset, a partner with the same label *and the same split*
    (train with train, test with test, so no test sample leaks into training) is
    drawn uniformly at random with replacement from a `numpy.random.default_rng(seed)`
    stream; the draws go dataset by dataset, then anchor sample by anchor sample;
  * an anchor sample whose label has no partner in some dataset's split raises a
    `ValueError` naming the label and the split (pass `on_missing="drop"` to skip
    such samples instead);
  * labels are matched by class *name*, so the datasets may order their classes
    differently; the result uses the anchor's class order.

The result records which sample of each source was used (`sources`), so the
pairing can be audited: every paired sample's modalities share its label.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sdk.data.dataset import MultimodalDataset


@dataclasses.dataclass
class PairedDataset:
    dataset: MultimodalDataset
    #: dataset name -> (N,) index of the source sample used for each paired sample
    sources: dict[str, np.ndarray]


def draw_partners(anchor_labels: np.ndarray, anchor_splits: np.ndarray, other_labels: np.ndarray,
                  other_splits: np.ndarray, rng: np.random.Generator, on_missing: str = "raise",
                  other_name: str = "partner") -> np.ndarray:
    """For every anchor, the index of a partner with the same label and split (-1: none, with on_missing="drop").

    The index-only core of `pair_by_label` (same rule, same draws: one `rng.integers`
    per anchor, in anchor order), for callers that look samples up by index instead of
    copying them (sdk.data.live pairs 3 s waveforms this way).
    """
    picks = np.full(len(anchor_labels), -1)
    pools: dict[tuple[str, str], np.ndarray] = {}
    for i in range(len(anchor_labels)):
        key = (str(anchor_labels[i]), str(anchor_splits[i]))
        if key not in pools:
            pools[key] = np.flatnonzero((other_labels == key[0]) & (other_splits == key[1]))
        pool = pools[key]
        if len(pool) == 0:
            if on_missing == "raise":
                raise ValueError(
                    f"dataset {other_name!r} has no {key[1]} sample labelled {key[0]!r} to pair with; "
                    "add such samples or pass on_missing='drop'"
                )
            continue
        picks[i] = pool[rng.integers(len(pool))]
    return picks


def pair_by_label(datasets: dict[str, MultimodalDataset], seed: int = 0, on_missing: str = "raise") -> PairedDataset:
    """Pair unimodal datasets (name -> dataset) into one multimodal dataset. See the module docstring."""
    if len(datasets) < 2:
        raise ValueError("pairing needs at least two datasets")
    if on_missing not in ("raise", "drop"):
        raise ValueError(f"on_missing must be 'raise' or 'drop', got {on_missing!r}")
    names = list(datasets)
    anchor = datasets[names[0]]
    modality_names = [m.name for d in datasets.values() for m in d.modalities]
    if len(set(modality_names)) != len(modality_names):
        raise ValueError(f"the datasets share modality names {modality_names}; rename them before pairing")
    anchor_labels = np.array([anchor.class_names[i] for i in anchor.labels])
    rng = np.random.default_rng(seed)
    chosen = {names[0]: np.arange(len(anchor))}
    usable = np.ones(len(anchor), dtype=bool)
    for name in names[1:]:
        other = datasets[name]
        other_labels = np.array([other.class_names[i] for i in other.labels])
        picks = draw_partners(anchor_labels, anchor.split, other_labels, other.split, rng, on_missing, name)
        usable &= picks >= 0
        chosen[name] = picks
    keep = np.flatnonzero(usable)
    inputs, lengths, presence, modalities = {}, {}, [], []
    for name in names:
        source = datasets[name].subset(chosen[name][keep])
        modalities += source.modalities
        inputs.update(source.inputs)
        lengths.update(source.lengths)
        presence.append(source.presence)
    paired = MultimodalDataset(
        modalities=modalities,
        class_names=list(anchor.class_names),
        inputs=inputs,
        lengths=lengths,
        presence=np.concatenate(presence, axis=1).astype(np.float32),
        labels=anchor.labels[keep],
        groups=anchor.groups[keep],
        split=anchor.split[keep],
        name="+".join(names),
    )
    return PairedDataset(paired, {name: idx[keep] for name, idx in chosen.items()})
