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

import torch

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


def frozen_names(freeze, sources: dict[str, Path]) -> set[str]:
    """Which copied encoders to freeze: True = all of `sources`, False/None = none, or a collection of names
    (the others are copied and fine-tuned with the rest of the model). A name not copied is an error."""
    if freeze is True:
        return set(sources)
    if not freeze:
        return set()
    names = {freeze} if isinstance(freeze, str) else set(freeze)
    stray = sorted(names - set(sources))
    if stray:
        raise EncoderInitError(f"--freeze-encoders names {stray}, which --encoders-from does not copy "
                               f"(it copies {sorted(sources)}); freeze only copied encoders")
    return names


def parse_freeze(text: str | None):
    """--freeze-encoders: absent -> False, given alone ("all") -> True, 'video,text' -> {"video", "text"}."""
    if text is None:
        return False
    if text == "all":
        return True
    return {part.strip() for part in text.split(",") if part.strip()}


def copy_encoders(model, sources: dict[str, Path], freeze=False) -> dict[str, dict]:
    """Copy `encoders.<name>.*` from each source checkpoint into `model`; freeze all (`freeze=True`) or the named ones.

    Each source must be a checkpoint whose spec has a modality of that name with the same
    kind, shape, normalisation and vocabulary, and the same encoder widths; anything else is
    an EncoderInitError naming the difference. Returns per modality the source path, its
    parameter count and whether it was frozen.
    """
    names = model.spec.modality_names
    frozen = frozen_names(freeze, sources)
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
        if name in frozen:
            for p in target.parameters():
                p.requires_grad_(False)
            model.frozen_encoders.add(name)
        info[name] = {"from": str(path), "parameters": sum(p.numel() for p in target.parameters()),
                      "frozen": name in frozen}
    return info


class ModalityTeachers:
    """The single-modality models as teachers of the fused model's one-modality rows (`--distill W`).

    Through the fused model each test part loses 1-2 points against its encoder trained alone
    (RESULTS.md, "Live model on real data"): the attention, gate, FFN and classifier are shared by
    all seven subsets. With `fit(..., teacher=ModalityTeachers(...))` and `TrainConfig.distill > 0`
    a row with one modality present also matches that modality's own model (Hinton et al. 2015,
    "Distilling the Knowledge in a Neural Network"); rows with several modalities learn from their
    labels alone (`rows`). The teachers stay in eval mode and never train.
    """

    def __init__(self, sources: dict[str, Path], model):
        names = model.spec.modality_names
        self.num_classes = model.spec.num_classes
        self.models = {}
        for name, path in sources.items():
            if name not in names:
                raise EncoderInitError(f"--encoders-from names {name!r}, but the model's modalities are {names}")
            teacher, _ = load_checkpoint(path)
            if teacher.spec.modality_names != [name] or teacher.spec.class_names != model.spec.class_names:
                raise EncoderInitError(f"--distill: {path} is not a single-modality {name!r} model with the classes "
                                       f"{model.spec.class_names}; train it with --modalities {name}")
            self.models[names.index(name)] = teacher.eval().requires_grad_(False)

    def rows(self, presence: torch.Tensor) -> torch.Tensor:
        """(B, M) presence -> (B,) bool: the rows with exactly one modality present, and a teacher for it."""
        single = presence.sum(1) == 1
        taught = torch.zeros_like(single)
        for index in self.models:
            taught |= single & (presence[:, index] > 0)
        return taught

    def __call__(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs..., presence) -> (logits, taught rows): each taught row gets its modality's teacher logits,
        the other rows zeros (ignored by the loss through `rows`)."""
        *inputs, presence = args
        taught = self.rows(presence)
        logits = torch.zeros(len(presence), self.num_classes)
        for index, teacher in self.models.items():
            chosen = torch.nonzero(taught & (presence[:, index] > 0)).flatten()
            if len(chosen):
                out, _ = teacher(inputs[index][chosen], torch.ones(len(chosen), 1))
                logits[chosen] = out
        return logits, taught
