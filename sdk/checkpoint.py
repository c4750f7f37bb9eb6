"""Checkpoints: one file holding the spec, the weights and the training config.

A checkpoint reloads without any model definition beyond `sdk.model`: the spec
(with any pruned widths) says how to rebuild the network. Writes are atomic.

Loading never runs code from the file: `torch.load(weights_only=True)` only
rebuilds tensors and plain containers (dict, list, str, numbers), so a planted
pickle that calls `os.system` is refused before anything executes. Saving keeps
to those types (`plain`), so every checkpoint we write loads that way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sdk.atomic import atomic_write_bytes, write_json  # noqa: F401 - the project's one atomic writer, re-exported
from sdk.model import EmotionModel, build_model
from sdk.spec import ModelSpec

CHECKPOINT_NAME = "model.pt"


def plain(value: Any, where: str = "checkpoint") -> Any:
    """`value` with numpy scalars/arrays turned into Python numbers/lists; refuses other objects.

    A checkpoint holds only what `torch.load(weights_only=True)` rebuilds without
    running code: tensors, dicts, lists, tuples, str, int, float, bool, None.
    """
    if value is None or isinstance(value, (str, bool, int, float, torch.Tensor)):
        return value
    if isinstance(value, dict):
        return {k: plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{where}: {type(value).__name__} cannot go into a checkpoint (only tensors, "
                    "dicts, lists, str and numbers load with weights_only=True)")


def save_checkpoint(path: Path, model: EmotionModel, extra: dict[str, Any] | None = None) -> Path:
    """Save to `path` (a file, or a directory that gets `model.pt`)."""
    path = Path(path)
    if path.suffix != ".pt":
        path = path / CHECKPOINT_NAME
    payload = {"spec": plain(model.spec.to_dict()), "state_dict": model.state_dict(), **plain(extra or {})}
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
    """Rebuild the model from the checkpoint's spec and load its weights (eval mode).

    Raises ValueError for anything that is not a checkpoint we wrote: a truncated
    or foreign file, or a pickle that would run code (refused by weights_only=True
    before any of it runs).
    """
    path = resolve_checkpoint(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
            raise ValueError("no 'spec' and 'state_dict' entries")
        spec = ModelSpec.from_dict(payload["spec"])
        model = build_model(spec)
        model.load_state_dict(payload["state_dict"])
    except Exception as err:  # a truncated, foreign or unsafe file
        reason = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        raise ValueError(f"{path} is not a readable emoedge checkpoint ({reason}); it is refused without running "
                         "anything in it. Re-run training (python -m sdk.train) to recreate it, and load "
                         "checkpoints only from sources you trust") from None
    model.eval()
    return model, payload
