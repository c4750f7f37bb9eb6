"""The training loop: focal loss, AdamW, clipping, modality dropout, noise, early stopping.

`fit` is used by `python -m sdk.train` and by PNAO's sparse pre-training and
learning-rate-rewinding retraining: the learning rate is a pure function of the
epoch (`TrainConfig.lr_at`), so a run can replay any stretch of the schedule.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from sdk import distributed
from sdk.data import MultimodalDataset, normalize
from sdk.data.augment import inject_noise, modality_dropout
from sdk.losses import FocalLoss, inverse_frequency_weights
from sdk.metrics import classification_metrics
from sdk.model import EmotionModel
from sdk.spec import ModelSpec


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: training stops instead of writing a NaN model."""


@dataclass
class TrainConfig:
    epochs: int = 60  # the length of the learning-rate schedule (cosine decay)
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    patience: int = 12  # early stopping: epochs without a better validation metric
    keep: str = "best"  # "best": weights of the best validation epoch; "last": run the whole schedule
    monitor: str = "weighted_f1"
    focal_gamma: float = 2.0
    class_weights: str = "none"  # "none" or "inverse" (inverse class frequency)
    modality_dropout: float = 0.3  # chance to drop each present modality (one always stays)
    noise: float = 0.5  # chance to apply time/feature masking, frame or word dropout per sample
    feature_noise: float = 0.0  # std of Gaussian noise added to feature steps (normalized units)
    target_dropout: float = 0.0  # chance to blank the last step (the target utterance) of a sample
    l1: float = 0.0  # sparse training: + l1 * sum |theta| (PNAO, "Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" eq. 8)
    #: knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"):
    #: with a teacher given to `fit`, loss = (1 - distill) * task + distill * T^2 * KL(teacher_T || student_T)
    #: at temperature T = distill_temperature (PNAO's retraining, compress.pnao --distill)
    distill: float = 0.0
    distill_temperature: float = 2.0
    seed: int = 0

    def lr_at(self, epoch: int) -> float:
        """Cosine decay from `lr` to `lr * min_lr_ratio` over `epochs` epochs."""
        progress = min(epoch, self.epochs) / max(1, self.epochs)
        low = self.lr * self.min_lr_ratio
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * progress))


@dataclass
class SplitTensors:
    """One split as model inputs: tensors in spec order, presence, labels."""

    inputs: list[torch.Tensor]
    presence: torch.Tensor
    labels: torch.Tensor
    #: (B, M) bool: modalities modality dropout must not hide (None: any may go)
    keep: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> "SplitTensors":
        return SplitTensors([x[index] for x in self.inputs], self.presence[index], self.labels[index])


def to_tensors(dataset: MultimodalDataset, spec: ModelSpec) -> dict[str, SplitTensors]:
    """Normalize with the spec's statistics and split into train / val / test tensors."""
    arrays = normalize(dataset, spec.modalities)
    out = {}
    for split in ("train", "val", "test"):
        mask = dataset.split == split
        if not mask.any():
            continue
        out[split] = SplitTensors(
            [torch.from_numpy(arrays[name][mask]) for name in spec.modality_names],
            torch.from_numpy(dataset.presence[mask].astype(np.float32)),
            torch.from_numpy(dataset.labels[mask].astype(np.int64)),
        )
    return out


@torch.no_grad()
def predict(model: EmotionModel, data: SplitTensors, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, C) and gate weights (N, M) in eval mode."""
    model.eval()
    probs, weights = [], []
    for start in range(0, len(data), batch_size):
        part = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        logits, gate = model(*part.inputs, part.presence)
        probs.append(torch.softmax(logits, dim=-1))
        weights.append(gate)
    return torch.cat(probs).numpy(), torch.cat(weights).numpy()


def evaluate_split(model: EmotionModel, data: SplitTensors) -> dict[str, float]:
    probs, _ = predict(model, data)
    return classification_metrics(data.labels.numpy(), probs.argmax(axis=1))


def make_loss(spec: ModelSpec, config: TrainConfig, train_labels: torch.Tensor) -> torch.nn.Module:
    """Focal loss (gamma from the config) or, for the focal-loss ablation, cross-entropy."""
    weights = None
    if config.class_weights == "inverse":
        weights = inverse_frequency_weights(train_labels, spec.num_classes)
    gamma = config.focal_gamma if spec.components.focal_loss else 0.0
    return FocalLoss(gamma=gamma, class_weights=weights)


def l1_norm(model: torch.nn.Module) -> torch.Tensor:
    """sum |theta| over weight matrices and kernels (biases, norms and embedding tables excluded).

    An embedding table is no PNAO node group (its rows are words, not nodes), and under Adam
    the L1 gradient of a row whose word is not in the batch (no task gradient) moves it by
    about lr every step whatever alpha is: the term would erase the rare words' vectors
    (measured on the live model: validation WF1 0.650 -> 0.614 after one epoch with
    alpha = 1e-6, 0.636 without the term)."""
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return sum(p.abs().sum() for p in model.parameters() if p.dim() > 1 and id(p) not in tables)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                      rows: torch.Tensor | None = None) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean (Hinton et al. 2015, eq. 2's
    gradient scale kept by the T^2 factor). With `rows` ((B,) bool) only those rows count, still
    divided by the whole batch, so the term weighs as much as the share of taught rows."""
    t = float(temperature)
    per_row = torch.nn.functional.kl_div(torch.log_softmax(student / t, dim=-1),
                                         torch.log_softmax(teacher / t, dim=-1),
                                         reduction="none", log_target=True).sum(-1)
    if rows is not None:
        per_row = per_row * rows.to(per_row.dtype)
    return per_row.mean() * t * t


def fit(
    model: EmotionModel,
    data: dict[str, SplitTensors],
    config: TrainConfig,
    start_epoch: int = 0,
    end_epoch: int | None = None,
    early_stopping: bool = True,
    progress: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
    teacher: torch.nn.Module | None = None,
) -> dict:
    """Train epochs [start_epoch, end_epoch) and keep the weights of the best validation epoch.

    With a `teacher` and `config.distill > 0`, the loss mixes in the distillation term
    (`distillation_loss`) on the same batch, modalities hidden as for the student. A teacher with a
    `rows(presence)` method (sdk.encoder_init.ModalityTeachers) teaches only the rows it returns.

    With `config.keep == "last"` there is no early stopping and the final weights are
    kept (for data whose validation split cannot be trusted, e.g. MOSI: see RESULTS.md).
    Returns {"history": [...], "best_epoch", "best_val", "seconds"}; the model
    holds the best weights afterwards.

    Under `torchrun` with several processes (`sdk.distributed.setup()` called first)
    the model trains wrapped in DistributedDataParallel: `config.batch_size` stays the
    global batch per step, every rank draws the same permutation and augmentation for
    the whole batch (shared seed) and computes the loss on its contiguous shard,
    weighted so DDP's gradient average equals the one-process gradient of the whole
    batch. Rank 0 evaluates; its validation metrics are broadcast, so all ranks make
    the same early-stopping choice. Only rank 0 shows progress and calls `on_epoch`.
    """
    end_epoch = config.epochs if end_epoch is None else end_epoch
    torch.manual_seed(config.seed + start_epoch)
    generator = torch.Generator().manual_seed(config.seed + start_epoch)
    train, val = data["train"], data.get("val", data["train"])
    loss_fn = make_loss(model.spec, config, train.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr_at(start_epoch), weight_decay=config.weight_decay)
    modalities = model.spec.modalities
    best_score, best_epoch, best_state, stale = -math.inf, start_epoch, copy.deepcopy(model.state_dict()), 0
    history = []
    started = time.perf_counter()
    net = distributed.wrap(model)  # the model itself for one process
    main = distributed.is_main()
    bar = tqdm(range(start_epoch, end_epoch), desc="train", unit="epoch", disable=not (progress and main), leave=False)
    for epoch in bar:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        order = torch.randperm(len(train), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(train), config.batch_size):
            batch = train.batch(order[start : start + config.batch_size])
            presence = batch.presence
            if config.modality_dropout > 0 and len(modalities) > 1:
                presence = modality_dropout(presence, config.modality_dropout, generator, keep=batch.keep)
            named = dict(zip(model.spec.modality_names, batch.inputs))
            if config.noise > 0:
                named = inject_noise(named, modalities, generator, p=config.noise, gaussian=config.feature_noise)
            if config.target_dropout > 0:
                named = drop_last_step(named, config.target_dropout, generator)
            inputs = [named[m.name] * _mask(presence, i, named[m.name]) for i, m in enumerate(modalities)]
            labels = batch.labels
            if net is not model:
                inputs, presence, labels, weight = _shard(inputs, presence, labels)
            logits, _ = net(*inputs, presence)
            loss = loss_fn(logits, labels)
            if teacher is not None and config.distill > 0:
                with torch.no_grad():
                    target, _ = teacher(*inputs, presence)
                rows = teacher.rows(presence) if hasattr(teacher, "rows") else None
                loss = (1 - config.distill) * loss + config.distill * distillation_loss(
                    logits, target, config.distill_temperature, rows)
            if net is not model:
                loss = loss * weight
            if config.l1 > 0:
                loss = loss + config.l1 * l1_norm(model)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {loss.item()} at epoch {epoch}, step {start // config.batch_size} "
                    f"(lr {config.lr_at(epoch):.3g}); nothing was written. Lower --lr, or check the data for "
                    "extreme values"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            total += loss.item()
            batches += 1
        train_loss = distributed.all_reduce_mean(total / max(1, batches))  # the global batches' mean loss
        val_metrics = distributed.broadcast(evaluate_split(model, val) if main else None)
        record = {"epoch": epoch, "lr": config.lr_at(epoch), "train_loss": train_loss, "val": val_metrics}
        history.append(record)
        score = val_metrics[config.monitor]
        if score > best_score:
            best_score, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{score:.3f}", best=f"{best_score:.3f}")
        if on_epoch and main:
            on_epoch(epoch, record)
        if early_stopping and config.keep == "best" and stale >= config.patience:
            break
    if config.keep == "last":
        best_epoch, best_score = history[-1]["epoch"], history[-1]["val"][config.monitor]
    else:
        model.load_state_dict(best_state)
    model.eval()
    return {
        "history": history,
        "best_epoch": best_epoch,
        "best_val": best_score,
        "kept": config.keep,
        "seconds": time.perf_counter() - started,
    }


def _shard(inputs: list[torch.Tensor], presence: torch.Tensor, labels: torch.Tensor):
    """This rank's contiguous part of a global batch and its loss weight.

    The weight n_rank / n * world_size turns DDP's mean over ranks of the per-rank
    mean losses into the mean loss over the whole batch (exact: `FocalLoss` is a
    plain mean over samples, class weights included). A rank with no samples (batch smaller
    than the world) runs one sample with weight 0, since every rank must join backward.
    """
    n = len(labels)
    lo, hi = distributed.shard(n)
    weight = (hi - lo) / n * distributed.world_size()
    if hi == lo:
        lo, hi, weight = 0, 1, 0.0
    return [x[lo:hi] for x in inputs], presence[lo:hi], labels[lo:hi], weight


def drop_last_step(inputs: dict[str, torch.Tensor], p: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Blank the last step of every modality for a random `p` of the samples.

    For context datasets (mosi, meld) the last step is the target utterance: without
    it the model must predict from the preceding context, so it learns to use it.
    """
    first = next(iter(inputs.values()))
    rows = torch.rand(first.shape[0], generator=generator) < p
    out = {}
    for name, x in inputs.items():
        keep = torch.ones_like(x, dtype=torch.bool)
        keep[:, -1] = ~rows.reshape(-1, *([1] * (x.dim() - 2)))
        out[name] = torch.where(keep, x, torch.zeros_like(x))
    return out


def _mask(presence: torch.Tensor, i: int, x: torch.Tensor) -> torch.Tensor:
    """Presence of modality i shaped to broadcast over x (dropped modalities become zero)."""
    m = presence[:, i].reshape(-1, *([1] * (x.dim() - 1)))
    return m.to(x.dtype)


def config_from_dict(data: dict) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in names})
