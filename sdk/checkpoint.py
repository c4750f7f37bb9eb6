"""Checkpoints: one file holding the spec, the weights and the training config.

A checkpoint reloads without any model definition beyond `sdk.model`: the spec
(with any pruned widths) says how to rebuild the network. Writes are atomic.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from sdk.model import EmotionModel, build_model
from sdk.spec import ModelSpec

CHECKPOINT_NAME = "model.pt"


def atomic_write_bytes(path: Path, write) -> None:
    """Call `write(file)` on a temp file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(Path(path), lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def save_checkpoint(path: Path, model: EmotionModel, extra: dict[str, Any] | None = None) -> Path:
    """Save to `path` (a file, or a directory that gets `model.pt`)."""
    path = Path(path)
    if path.suffix != ".pt":
        path = path / CHECKPOINT_NAME
    payload = {"spec": model.spec.to_dict(), "state_dict": model.state_dict(), **(extra or {})}
    atomic_write_bytes(path, lambda f: torch.save(payload, f))
    return path


def resolve_checkpoint(path: Path | str) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; pass a run directory made by `python -m sdk.train --out DIR` or its model.pt"
        )
    return path


def load_checkpoint(path: Path | str) -> tuple[EmotionModel, dict[str, Any]]:
    """Rebuild the model from the checkpoint's spec and load its weights (eval mode)."""
    path = resolve_checkpoint(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        spec = ModelSpec.from_dict(payload["spec"])
    except Exception as err:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable emoedge checkpoint ({err}); re-run training to recreate it") from err
    model = build_model(spec)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload
