"""Datasets: one in-memory form (`MultimodalDataset`) and a loader per source.

    ds = load_dataset("synthetic")                 # built in, no files
    ds = load_dataset("synthetic_live")            # built in: raw PCM, 48x48 faces, sentences (live model)
    ds = load_dataset("mosi")                      # real data, found as below
    ds = load_dataset("meld", path="/data/meld", context=3)
    ds = load_dataset("npz", path="mine.npz")      # your own features, see sdk/data/npz.py
    ds = load_dataset("fer2013")                   # also ravdess_speech, goemotions, isear (sdk/data/<name>.py)
    ds = load_dataset("live")                      # those four paired by label (sdk/data/live.py)

Where real data is looked for when no path is given (`default_data_path`):
the directory in the environment variable EMOEDGE_DATA (holding mosi/ and
meld/), else `<repo root>/../shared/datasets`, else `<repo root>/shared/datasets`.
"""
from __future__ import annotations

import os
from pathlib import Path

from sdk.data.dataset import SPLITS, MultimodalDataset, fit_normalization, normalize

#: Raw-signal sets with the shared 7 emotions (sdk.data.emotions), each usable alone,
#: and `live`, all four paired by label for the one live model (sdk.data.live).
LIVE_SOURCES = ("ravdess_speech", "fer2013", "goemotions", "isear")
DATASETS = ("synthetic", "synthetic_live", "mosi", "meld", "npz", *LIVE_SOURCES, "live")
#: Datasets read from a directory `<data dir>/<name>/`.
DIRECTORY_DATASETS = ("mosi", "meld", *LIVE_SOURCES)
ENV_VAR = "EMOEDGE_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["DATASETS", "SPLITS", "MultimodalDataset", "default_data_path", "fit_normalization",
           "load_dataset", "normalize"]


def data_roots() -> list[Path]:
    """The candidate directories holding mosi/ and meld/, in the order they are tried."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [Path(env).expanduser()]
    return [REPO_ROOT.parent / "shared" / "datasets", REPO_ROOT / "shared" / "datasets"]


def default_data_path(name: str) -> Path | None:
    """`<root>/<name>` for the first data root that has it (see the module docstring), else None.

    With EMOEDGE_DATA set, only that directory is considered.
    """
    if name not in DIRECTORY_DATASETS:
        return None
    for root in data_roots():
        if (root / name).is_dir():
            return root / name
    return None


def load_dataset(name: str, path: str | Path | None = None, **options) -> MultimodalDataset:
    """Load dataset `name` (one of DATASETS) from `path` (or the default location).

    For mosi and meld, `path` may be the dataset's own directory or a data
    directory holding it (`<path>/<name>/`). `options` go to the loader
    (e.g. context=, seed=, n_samples=).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if name == "synthetic":
        from sdk.data.synthetic import load_synthetic

        return load_synthetic(**options)
    if name == "synthetic_live":  # the live kinds (waveform, 48x48 faces, text), built in: sdk/data/synthetic.py
        from sdk.data.synthetic import load_synthetic_live

        return load_synthetic_live(**options)
    if name == "npz":
        if path is None:
            raise ValueError("dataset 'npz' needs a file: pass --data FILE.npz (format: see sdk/data/npz.py)")
        from sdk.data.npz import load_npz

        return load_npz(path, **options)

    if name == "live":
        from sdk.data.live import load_live

        return load_live(path, **options)
    directory = _resolve_directory(name, path)
    if name in LIVE_SOURCES:
        return load_source(name, directory, **options)
    if name == "mosi":
        from sdk.data.mosi import load_mosi

        return load_mosi(directory, **options)
    from sdk.data.meld import load_meld

    return load_meld(directory, **options)


def load_source(name: str, directory: Path, **options) -> MultimodalDataset:
    """One of LIVE_SOURCES from its own directory."""
    if name == "ravdess_speech":
        from sdk.data.ravdess import load_ravdess

        return load_ravdess(directory, **options)
    if name == "fer2013":
        from sdk.data.fer2013 import load_fer2013

        return load_fer2013(directory, **options)
    if name == "goemotions":
        from sdk.data.goemotions import load_goemotions

        return load_goemotions(directory, **options)
    from sdk.data.isear import load_isear

    return load_isear(directory, **options)


def resolve_directory(name: str, path: str | Path | None) -> Path:
    """The directory of dataset `name`: `path` itself or `path/<name>`, else the default location."""
    return _resolve_directory(name, path)


def _resolve_directory(name: str, path: str | Path | None) -> Path:
    if path is not None:
        path = Path(path).expanduser()
        if (path / name).is_dir():
            return path / name
        if path.is_dir():
            return path
        raise FileNotFoundError(
            f"{name} data not found: {path} is not a directory. Pass --data DIR with DIR the {name} "
            f"directory or a directory holding {name}/ (or set {ENV_VAR})"
        )
    found = default_data_path(name)
    if found is None:
        looked = ", ".join(str(root / name) for root in data_roots())
        source = f" (from {ENV_VAR})" if os.environ.get(ENV_VAR) else ""
        raise FileNotFoundError(
            f"{name} data not found; looked in {looked}{source}. Fix: pass --data DIR "
            f"(a directory holding {name}/) or set {ENV_VAR}=DIR. See ../shared/datasets/README.md "
            f"for the files {name} needs."
        )
    return found
