"""Stage-wise training: start a fused model's encoders from single-modality models.

The live recipe (sdk.data.live) can train each modality's encoder alone on its own
set (`--modalities audio` etc.) and then train the fused model with those encoders
copied in (`--encoders-from audio=RUN,video=RUN,text=RUN`). With `--freeze-encoders`
the copied encoders keep their weights and their BatchNorm statistics (they stay in
eval mode while the rest trains), so the fusion layers (cross-modal attention, the
gate, the FFN and the classifier) learn on top of encoders that were each trained on a
full pass of their own data. Freezing also keeps absent modalities' zero inputs, which
the fused model still runs through every encoder, out of the face CNN's BatchNorm
statistics.
"""
from __future__ import annotations

from pathlib import Path

from sdk.checkpoint import load_checkpoint


class EncoderInitError(ValueError):
    """A --encoders-from entry that cannot be used (names the entry and the fix)."""


def parse_encoders_from(text: str) -> dict[str, Path]:
    """'audio=runs/a,video=runs/v' -> {"audio": Path("runs/a"), "video": Path("runs/v")}."""
    out: dict[str, Path] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise EncoderInitError(f"--encoders-from entry {item!r} is not NAME=RUN_DIR "
                                   "(e.g. audio=runs/live_audio)")
        out[name.strip()] = Path(path.strip())
    return out


def _comparable(modality) -> dict:
    """The fields of a modality spec that decide what its encoder computes."""
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(modality).items() if k != "name"}


def copy_encoders(model, sources: dict[str, Path], freeze: bool = False) -> dict[str, dict]:
    """Copy `encoders.<name>.*` from each source checkpoint into `model` (optionally frozen).

    Each source must be a checkpoint whose spec has a modality of that name with the same
    kind, shape, normalisation and vocabulary, and the same encoder widths; anything else is
    an EncoderInitError naming the difference. Returns per modality the source path, its
    parameter count and whether it was frozen.
    """
    names = model.spec.modality_names
    info: dict[str, dict] = {}
    for name, path in sources.items():
        if name not in names:
            raise EncoderInitError(f"--encoders-from names {name!r}, but the model's modalities are {names}")
        try:
            source, _ = load_checkpoint(path)
        except (ValueError, FileNotFoundError) as err:
            raise EncoderInitError(f"--encoders-from {name}={path}: {err}") from None
        theirs = {m.name: m for m in source.spec.modalities}
        if name not in theirs:
            raise EncoderInitError(f"--encoders-from {name}={path}: that model has no modality {name!r} "
                                   f"(it has {list(theirs)}); train it with --modalities {name}")
        ours = next(m for m in model.spec.modalities if m.name == name)
        if _comparable(theirs[name]) != _comparable(ours):
            raise EncoderInitError(f"--encoders-from {name}={path}: its {name!r} input differs from this model's "
                                   "(kind, window, normalisation or vocabulary); train it with the same dataset "
                                   "options")
        state = source.encoders[name].state_dict()
        target = model.encoders[name]
        try:
            target.load_state_dict(state)
        except RuntimeError as err:
            raise EncoderInitError(f"--encoders-from {name}={path}: encoder shapes differ ({str(err).splitlines()[0]}); "
                                   "use the same --hidden-size and widths for both") from None
        if freeze:
            for p in target.parameters():
                p.requires_grad_(False)
            model.frozen_encoders.add(name)
        info[name] = {"from": str(path), "parameters": sum(p.numel() for p in target.parameters()),
                      "frozen": freeze}
    return info
