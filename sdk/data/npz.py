"""Your own features as one `.npz` file (numpy alone can write it).

For N samples and M modalities, the file holds these arrays (names are exact):

Required
    labels           (N,) integer class index in [0, C)
    split            (N,) str, each "train", "val" or "test"
    groups           (N,) str, the video/dialogue/speaker of a sample; whole groups
                     move together when a validation split is carved out
    x_<name>         one per modality, (N, T, F) float for kind "features",
                     (N, T, C, H, W) float for "frames", (N, T) int for "tokens"
                     (ids into the vocabulary, 0 = padding). Samples are
                     left-padded: the valid steps of a sample are its LAST ones.
and a description of the model's inputs, either
    spec             0-d str: JSON {"class_names": [...], "modalities": [{"name",
                     "kind", "seq_len", "feature_dim" | "channels","height","width"
                     | "vocabulary"}, ...]} (the fields of sdk.spec.ModalitySpec;
                     modality order = the list's order); `save_npz` writes this
or, simpler,
    class_names      (C,) str
    modality_names   (M,) str, the modality order (the columns of `presence`)
    modality_kinds   (M,) str, each "features", "frames" or "tokens"
    vocab_<name>     (V,) str, for each "tokens" modality: "<pad>", "<unk>", "<sep>", words...
                     (seq_len and step shapes are read from the x_<name> shapes)

Optional
    lengths_<name>   (N,) int in [0, T], valid steps (default T: no padding)
    presence         (N, M) 0/1, 1 = modality present (default all 1); every
                     row needs at least one present modality
    name             0-d str, the dataset name (default: the file name)

Strings must be numpy unicode arrays (np.array(list_of_str), dtype "<U..."),
never object arrays: files are read with allow_pickle=False. Example:

    np.savez("mine.npz", labels=y, split=np.array(splits), groups=np.array(ids),
             x_audio=audio, lengths_audio=audio_len,
             class_names=np.array(["neg", "pos"]), modality_names=np.array(["audio"]),
             modality_kinds=np.array(["features"]))
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from sdk.atomic import atomic_write_bytes, sha256_file
from sdk.data.dataset import SPLITS, MultimodalDataset
from sdk.data.validate import check_values
from sdk.spec import FEATURES, FRAMES, MODALITY_KINDS, TOKENS, ModalitySpec, Normalization, SpecError


def load_npz(path: str | Path) -> MultimodalDataset:
    """A dataset from a `.npz` file in the format of the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz dataset {path} does not exist (see sdk/data/npz.py for the format)")
    arrays = _read_arrays(path)
    where = str(path)

    labels = _need(arrays, "labels", where, "(N,) integer class indices")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: 'labels' must be a 1-d integer array (N,), got {labels.dtype} {labels.shape}")
    n = len(labels)
    split = _strings(arrays, "split", where, n)
    groups = _strings(arrays, "groups", where, n)
    bad = sorted(set(split.tolist()) - set(SPLITS))
    if bad:
        raise ValueError(f"{where}: 'split' has values {bad}; each must be one of {SPLITS}")

    class_names, modalities = _description(arrays, where)
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(class_names):
        raise ValueError(f"{where}: 'labels' must be in [0, {len(class_names)}) for {len(class_names)} class names")

    inputs, lengths = {}, {}
    for m in modalities:
        x = _need(arrays, f"x_{m.name}", where, f"the inputs of modality {m.name!r}")
        if x.shape != (n, *m.input_shape()):
            raise ValueError(f"{where}: 'x_{m.name}' has shape {x.shape}, expected {(n, *m.input_shape())} "
                             f"(N, seq_len, *step shape) for a {m.kind!r} modality")
        if m.kind != TOKENS and not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise ValueError(f"{where}: 'x_{m.name}' must hold real numbers, got {x.dtype}"
                             + ("; for complex values store the magnitude, or the real and imaginary parts as "
                                "separate features" if np.issubdtype(x.dtype, np.complexfloating) else ""))
        if m.kind == TOKENS:
            if not np.issubdtype(x.dtype, np.integer):
                raise ValueError(f"{where}: 'x_{m.name}' holds token ids and must be an integer array, got {x.dtype}")
            if x.min(initial=0) < 0 or x.max(initial=0) >= m.vocab_size:
                raise ValueError(f"{where}: 'x_{m.name}' has ids outside [0, {m.vocab_size}) (the vocabulary size)")
            inputs[m.name] = x.astype(np.int64)
        else:
            inputs[m.name] = x.astype(np.float32)
        key = f"lengths_{m.name}"
        if key in arrays:
            ln = arrays[key]
            if ln.shape != (n,) or not np.issubdtype(ln.dtype, np.integer):
                raise ValueError(f"{where}: '{key}' must be an integer array of shape ({n},), got {ln.dtype} {ln.shape}")
            if ln.min(initial=0) < 0 or ln.max(initial=0) > m.seq_len:
                raise ValueError(f"{where}: '{key}' must be in [0, {m.seq_len}]")
            lengths[m.name] = ln.astype(np.int64)
        else:
            lengths[m.name] = np.full(n, m.seq_len, np.int64)

    presence = arrays.get("presence")
    if presence is None:
        presence = np.ones((n, len(modalities)), np.float32)
    elif presence.shape != (n, len(modalities)):
        raise ValueError(f"{where}: 'presence' has shape {presence.shape}, expected {(n, len(modalities))} "
                         f"(N, modalities {[m.name for m in modalities]})")
    presence = (np.asarray(presence, np.float32) > 0).astype(np.float32)
    if n and (presence.sum(axis=1) == 0).any():
        row = int(np.flatnonzero(presence.sum(axis=1) == 0)[0])
        raise ValueError(f"{where}: 'presence' row {row} has no modality present; every sample needs one")

    name = (str(arrays["name"]) if "name" in arrays else "") or path.stem
    source = {"loader": "npz", "path": str(path.resolve()), "sha256": sha256_file(path)}
    dataset = MultimodalDataset(modalities=modalities, class_names=class_names, inputs=inputs, lengths=lengths,
                                presence=presence, labels=labels.astype(np.int64), groups=groups, split=split,
                                name=name, source=source)
    check_values(dataset)
    return dataset


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the file, or a ValueError that says what is wrong with it (never a traceback)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as err:
        raise ValueError(f"{path} cannot be read ({err.strerror})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(f"{path} is a single .npy array, not an .npz archive; save the arrays with "
                         "np.savez(path, labels=..., split=..., ...) (format: sdk/data/npz.py)")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{path} is not an .npz file (it does not start like a zip archive); "
                         "write it with np.savez (format: sdk/data/npz.py)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise ValueError(f"{path}: cannot read ({err}); strings must be unicode arrays "
                             "(np.array(list_of_str)), not object arrays") from None
        raise ValueError(f"{path} is a damaged .npz file ({err}); write it again") from None
    except Exception as err:  # zipfile.BadZipFile, zlib.error, EOFError, OSError: a truncated or corrupt archive
        raise ValueError(f"{path} is a damaged or truncated .npz file ({type(err).__name__}: {err}); "
                         "write it again (np.savez)") from None


def save_npz(dataset: MultimodalDataset, path: str | Path) -> Path:
    """Write `dataset` to `path` (with a `spec` description), atomically."""
    path = Path(path)
    spec = {"class_names": list(dataset.class_names),
            "modalities": [dataclasses.asdict(m) for m in dataset.modalities]}
    arrays = {
        "labels": np.asarray(dataset.labels, np.int64),
        "split": np.asarray(dataset.split).astype(str),
        "groups": np.asarray(dataset.groups).astype(str),
        "presence": np.asarray(dataset.presence, np.float32),
        "spec": np.array(json.dumps(spec)),
        "name": np.array(dataset.name),
    }
    for m in dataset.modalities:
        arrays[f"x_{m.name}"] = dataset.inputs[m.name]
        arrays[f"lengths_{m.name}"] = np.asarray(dataset.lengths[m.name], np.int64)
    return atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))


def _need(arrays: dict, key: str, where: str, what: str) -> np.ndarray:
    if key not in arrays:
        raise ValueError(f"{where}: missing array '{key}' ({what}); it has {sorted(arrays)}. "
                         "See sdk/data/npz.py for the format")
    return arrays[key]


def _strings(arrays: dict, key: str, where: str, n: int) -> np.ndarray:
    x = _need(arrays, key, where, f"({n},) str")
    if x.shape != (n,):
        raise ValueError(f"{where}: '{key}' has shape {x.shape}, expected ({n},) like 'labels'")
    return x.astype(str)


def _description(arrays: dict, where: str) -> tuple[list[str], list[ModalitySpec]]:
    """Class names and modality specs, from `spec` or from class_names/modality_names/modality_kinds."""
    if "spec" in arrays:
        try:
            spec = json.loads(str(arrays["spec"]))
            class_names = [str(c) for c in spec["class_names"]]
            modalities = []
            for m in spec["modalities"]:
                m = dict(m)
                m["normalization"] = Normalization(**m.get("normalization", {}))
                modalities.append(ModalitySpec(**m))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{where}: 'spec' must be a JSON string "
                             f'{{"class_names": [...], "modalities": [...]}} ({err})') from None
    else:
        class_names = _need(arrays, "class_names", where, "(C,) str, or a JSON 'spec'").astype(str).tolist()
        names = _need(arrays, "modality_names", where, "(M,) str, or a JSON 'spec'").astype(str).tolist()
        kinds = _need(arrays, "modality_kinds", where, f"(M,) str, each one of {MODALITY_KINDS}").astype(str).tolist()
        if len(kinds) != len(names):
            raise ValueError(f"{where}: 'modality_kinds' has {len(kinds)} entries, 'modality_names' {len(names)}")
        modalities = [_infer_modality(arrays, name, kind, where) for name, kind in zip(names, kinds)]
    if len(class_names) < 2:
        raise ValueError(f"{where}: need at least two class names, got {class_names}")
    if not modalities:
        raise ValueError(f"{where}: no modalities described")
    for m in modalities:
        try:
            m.validate()
        except SpecError as err:
            raise ValueError(f"{where}: {err}") from None
    return class_names, modalities


def _infer_modality(arrays: dict, name: str, kind: str, where: str) -> ModalitySpec:
    if kind not in MODALITY_KINDS:
        raise ValueError(f"{where}: modality {name!r} has kind {kind!r}; use one of {MODALITY_KINDS}")
    x = _need(arrays, f"x_{name}", where, f"the inputs of modality {name!r}")
    rank = {FEATURES: 3, FRAMES: 5, TOKENS: 2}[kind]
    if x.ndim != rank:
        raise ValueError(f"{where}: 'x_{name}' has shape {x.shape}; a {kind!r} modality needs {rank} dimensions "
                         + {FEATURES: "(N, T, F)", FRAMES: "(N, T, C, H, W)", TOKENS: "(N, T)"}[kind])
    if kind == FEATURES:
        return ModalitySpec(name, kind, x.shape[1], feature_dim=x.shape[2])
    if kind == FRAMES:
        return ModalitySpec(name, kind, x.shape[1], channels=x.shape[2], height=x.shape[3], width=x.shape[4])
    vocab = _need(arrays, f"vocab_{name}", where, f"the vocabulary of tokens modality {name!r}, (V,) str")
    return ModalitySpec(name, kind, x.shape[1], vocabulary=vocab.astype(str).tolist())
