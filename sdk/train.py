"""Train a model: `python -m sdk.train --dataset {synthetic,mosi,meld,npz} --data PATH --out RUN_DIR`.

Writes into RUN_DIR: model.pt (spec + weights + train config), spec.json,
metrics.json, history.json, curves.png, confusion.png. The run directory is
committed as a whole (sdk.atomic.staged_dir): a kill leaves the previous run or
the complete new one, never a mix; an existing RUN_DIR is replaced, a non-empty
directory that is not a run directory is refused before training.

Data-parallel on N processes: `torchrun --nproc_per_node N -m sdk.train ...` (same
flags; --batch-size stays the global batch per step, see sdk.distributed). Rank 0
evaluates, prints and writes RUN_DIR.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from sdk import distributed
from sdk.atomic import check_output_dir, sha256_file, staged_dir
from sdk.checkpoint import save_checkpoint, write_json
from sdk.data import DATASETS, MultimodalDataset, fit_normalization, load_dataset
from sdk.data.validate import check_values
from sdk.metrics import confusion
from sdk.model import EmotionModel, build_model, count_parameters
from sdk.plots import plot_confusion, plot_training_curves
from sdk.spec import ARCHITECTURES, FUSION_TYPES, Components, ModelSpec
from sdk.training import TrainConfig, TrainingDiverged, evaluate_split, fit, predict, to_tensors

#: Per-dataset model defaults. MOSI and MELD samples end with the target utterance,
#: so its step ("last") is what gets classified; the context reaches it through the GRU.
DATASET_DEFAULTS = {
    "synthetic": {"pooling": "mean"},
    "mosi": {"pooling": "last"},
    "meld": {"pooling": "last", "conv_stride": 2},
    "npz": {"pooling": "mean"},
    "live": {"pooling": "mean"},
    "ravdess_speech": {"pooling": "mean"},
    "fer2013": {"pooling": "mean"},
    "goemotions": {"pooling": "mean"},
    "isear": {"pooling": "mean"},
}

#: Per-dataset training defaults (a flag given on the command line wins).
#: MOSI: the released train features were made by extractors fitted on the train
#: labels, so a validation split carved from train is ~0.99 accurate and useless for
#: early stopping (RESULTS.md has the probe). We therefore run the whole cosine
#: schedule and keep the last weights, add feature noise so train features stop being
#: near-separable, and blank the target step of 30 % of samples so the model learns
#: to read the preceding context (the signal that transfers to unseen videos).
TRAIN_DEFAULTS = {
    "mosi": {"epochs": 30, "keep": "last", "feature_noise": 1.0, "target_dropout": 0.3},
    "meld": {"epochs": 20, "patience": 5, "batch_size": 64},
    # live (sdk.data.live): an epoch is rows_per_epoch re-paired rows; sized for <= 30 min at --threads 1
    "live": {"epochs": 8, "patience": 8, "batch_size": 32, "modality_dropout": 0.5, "noise": 0.3},
    # the live sources trained alone (single-modality comparison models)
    "ravdess_speech": {"epochs": 40, "patience": 10, "batch_size": 32},
    "fer2013": {"epochs": 3, "patience": 3, "batch_size": 64, "noise": 0.0},  # ~7 min an epoch at one thread
    "goemotions": {"epochs": 6, "patience": 2, "batch_size": 64},
    "isear": {"epochs": 20, "patience": 5, "batch_size": 32},
}


def build_spec(dataset: MultimodalDataset, **overrides) -> ModelSpec:
    """A spec for `dataset`: its modalities with normalization fitted on train, its classes."""
    options = {**DATASET_DEFAULTS.get(dataset.loader, {}), **overrides}
    if options.get("architecture") == "mfdr":
        from sdk.mfdr import MFDR_DEFAULTS

        # Store every MFDR option, so a checkpoint keeps its meaning if a default changes.
        options["mfdr"] = {**MFDR_DEFAULTS, **options.get("mfdr", {})}
    return ModelSpec(
        modalities=fit_normalization(dataset), class_names=list(dataset.class_names), dataset=dataset.loader, **options
    ).validate()


def select_modalities(dataset: MultimodalDataset, names: list[str]) -> MultimodalDataset:
    """Keep only the named modalities (e.g. a text-only model); samples with none of them are dropped."""
    unknown = set(names) - set(dataset.modality_names)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; {dataset.name} has {dataset.modality_names}")
    keep = [i for i, n in enumerate(dataset.modality_names) if n in names]
    reduced = dataclasses.replace(
        dataset,
        modalities=[dataset.modalities[i] for i in keep],
        inputs={n: dataset.inputs[n] for n in names},
        lengths={n: dataset.lengths[n] for n in names},
        presence=dataset.presence[:, keep],
    )
    return reduced.subset(reduced.presence.sum(axis=1) > 0)


def checkpoint_data(model, payload: dict, data_path=None, val_source: str = "train", for_training: bool = False) -> dict:
    """The data a checkpoint was trained on, as train / val / test tensors.

    Reloads the checkpoint's dataset with the loader options it was trained with,
    keeps the spec's modalities, carves the same validation split (same seed) and
    normalizes with the spec's statistics. Used by evaluate, PNAO and export.
    `val_source="test"` carves validation from half of the test groups instead
    (see MultimodalDataset.with_validation).

    A live checkpoint gives bounded materialised splits (256 training rows: enough to
    calibrate int8, far too few to train on); `for_training=True` gives its training
    stream instead (rows re-paired every epoch, as `sdk.train --dataset live` trains),
    for PNAO's retraining.
    """
    spec = model.spec
    if spec.dataset == "live":  # index-based pairing (sdk.data.live)
        from sdk.data.live import checkpoint_live_data

        live = checkpoint_live_data(model, payload, data_path)
        if for_training:
            return dict(live.splits)
        return live.materialized()
    loader, data_path = data_source(spec, payload, data_path)
    dataset = load_dataset(loader, data_path, **dict(payload.get("data_options", {})))
    if dataset.modality_names != spec.modality_names:
        dataset = select_modalities(dataset, spec.modality_names)
    seed = payload.get("train_config", {}).get("seed", 0)
    if val_source == "test":
        return to_tensors(dataset.with_validation(0.5, seed=seed, source="test"), spec)
    return to_tensors(dataset.with_validation(seed=seed), spec)


def data_source(spec, payload: dict, data_path=None) -> tuple[str, str | None]:
    """(loader name, path) that rebuild a checkpoint's data; never a built-in set by a file's name.

    A model trained from a user's file (`--dataset npz`) records the file's path and
    sha256 (`data_source` in model.pt). Without `--data` that file is read again and
    must be unchanged; with `--data` the given file is used (a warning says when it
    differs from the training file).
    """
    source = payload.get("data_source") or {}
    loader = source.get("loader") or spec.dataset or "synthetic"
    if loader not in DATASETS:
        raise ValueError(
            f"this checkpoint was trained on data named {spec.dataset!r}, which is not a built-in dataset "
            f"({', '.join(DATASETS)}), and it does not record the file it came from (it predates data sources). "
            "Re-train it with this version (`python -m sdk.train --dataset npz --data FILE.npz`)"
        )
    if loader != "npz":
        return loader, data_path
    recorded = source.get("path")
    path = Path(data_path) if data_path is not None else Path(recorded) if recorded else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"the npz file this model was trained on ({recorded}) is not there; pass it with --data FILE.npz"
        )
    if source.get("sha256") and sha256_file(path) != source["sha256"]:
        if data_path is None:
            raise ValueError(f"{path} changed since this model was trained on it (sha256 differs); "
                             "pass --data FILE.npz to use it anyway, or the original file")
        print(f"warning: {path} is not the file this model was trained on (sha256 differs from "
              f"{recorded}); evaluating on it as asked", file=sys.stderr)
    return loader, str(path)


#: What a run directory holds (model.pt marks one; see write_run).
RUN_FILES = ("model.pt", "spec.json", "metrics.json", "history.json", "curves.png", "confusion.png")


def check_config(config: TrainConfig) -> None:
    """Refuse settings that would train nothing, before any data is loaded."""
    if config.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, not {config.epochs} (0 epochs would write an untrained model)")
    if config.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, not {config.batch_size}")


def check_splits(dataset: MultimodalDataset) -> None:
    """Every run needs train samples (to learn) and test samples (to report); refuse an empty one clearly."""
    counts = {split: int((dataset.split == split).sum()) for split in ("train", "val", "test")}
    empty = [split for split in ("train", "test") if counts[split] == 0]
    if empty:
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        raise ValueError(f"{dataset.name}: no {' and no '.join(empty)} samples ({shown}); label some samples "
                         f"'{empty[0]}' in the data's split (for npz: the `split` array, see sdk/data/npz.py)")


def write_run(out: Path, model: EmotionModel, spec: ModelSpec, extra: dict, metrics: dict, history: list,
              monitor: str, confusion_matrix=None) -> Path:
    """Write RUN_FILES into `out`, committed together (sdk.atomic.staged_dir).

    metrics.json also records the sha256 of model.pt, so a reader can tell the two belong together.
    """
    with staged_dir(out, ours=RUN_FILES) as stage:
        checkpoint = save_checkpoint(stage, model, extra)
        write_json(stage / "spec.json", spec.to_dict())
        write_json(stage / "metrics.json", {**metrics, "checkpoint_sha256": sha256_file(checkpoint)})
        write_json(stage / "history.json", history)
        plot_training_curves(history, stage / "curves.png", monitor)
        if confusion_matrix is not None:
            plot_confusion(confusion_matrix, spec.class_names, stage / "confusion.png")
    return Path(out)


def train_run(
    dataset: MultimodalDataset,
    out: Path | None,
    config: TrainConfig,
    progress: bool = True,
    val_fraction: float = 0.15,
    data_options: dict | None = None,
    **spec_options,
) -> tuple[EmotionModel, dict]:
    """Train on `dataset` and (if `out`) write the run directory. Returns (model, metrics).

    `data_options` (the loader's options, e.g. context) are stored in the checkpoint
    so that `sdk.evaluate` and PNAO rebuild the same samples.
    """
    started = time.perf_counter()
    check_config(config)
    check_splits(dataset)
    check_values(dataset)
    if out is not None and distributed.is_main():
        check_output_dir(out, ours=RUN_FILES)  # before training: an unwritable --out must not cost the run
    torch.manual_seed(config.seed)
    dataset = dataset.with_validation(val_fraction, seed=config.seed)
    spec = build_spec(dataset, **spec_options)
    tensors = to_tensors(dataset, spec)
    model = build_model(spec)
    result = fit(model, tensors, config, progress=progress)
    metrics = {
        "dataset": dataset.name,
        "params": count_parameters(model),
        "train_seconds": time.perf_counter() - started,
        "best_epoch": result["best_epoch"],
        "epochs_run": len(result["history"]),
        "val": evaluate_split(model, tensors["val"]),
        "test": evaluate_split(model, tensors["test"]) if "test" in tensors else {},
        "sizes": {split: len(t) for split, t in tensors.items()},
        "config": dataclasses.asdict(config),
    }
    if distributed.world_size() > 1:
        metrics["world_size"] = distributed.world_size()
    if out is not None and distributed.is_main():
        extra = {"train_config": dataclasses.asdict(config), "metrics": metrics, "data_options": data_options or {},
                 "data_source": dataset.source}
        matrix = None
        if "test" in tensors:
            probs, _ = predict(model, tensors["test"])
            matrix = confusion(tensors["test"].labels.numpy(), probs.argmax(1), spec.num_classes)
        write_run(Path(out), model, spec, extra, metrics, result["history"], config.monitor, matrix)
    return model, metrics


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--architecture", choices=ARCHITECTURES, default="mfusher",
                   help="mfusher ('A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition') or mfdr "
                        "('MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion "
                        "Recognition'; needs --modalities audio,text)")
    g.add_argument("--mfdr", default="{}", help='MFDR options as JSON, e.g. \'{"adaptive": false, "window": 3}\'')
    g.add_argument("--fusion", choices=FUSION_TYPES, default="gated")
    g.add_argument("--hidden-size", type=int, default=128, help="BiGRU output width (both directions)")
    g.add_argument("--ffn-size", type=int, default=128)
    g.add_argument("--dropout", type=float, default=0.2)
    g.add_argument("--pooling", choices=("mean", "last"), help="default: last for mosi/meld, mean otherwise")
    g.add_argument("--conv-stride", type=int,
                   help="stride of the first temporal conv: T steps reach the BiGRU as ceil(T / stride) "
                        "(default: 2 for meld, 1 otherwise)")
    g.add_argument("--modalities", help="comma-separated subset to train on, e.g. text")
    g.add_argument("--dense-conv", action="store_true", help="ablation: dense instead of depthwise conv")
    g.add_argument("--lstm", action="store_true", help="ablation: BiLSTM instead of BiGRU")
    g.add_argument("--no-attention", action="store_true", help="ablation: no cross-modal attention")
    g.add_argument("--no-gating", action="store_true", help="ablation: mean of present modalities")
    g.add_argument("--cross-entropy", action="store_true", help="ablation: cross-entropy instead of focal loss")


def spec_options(args: argparse.Namespace) -> dict:
    try:
        mfdr = json.loads(args.mfdr)
    except json.JSONDecodeError as err:
        raise SystemExit(f"error: --mfdr is not valid JSON ({err})")
    options = {
        "architecture": args.architecture,
        "mfdr": mfdr,
        "fusion": args.fusion,
        "hidden_size": args.hidden_size,
        "ffn_size": args.ffn_size,
        "dropout": args.dropout,
        "components": Components(
            depthwise_conv=not args.dense_conv,
            recurrent="lstm" if args.lstm else "gru",
            cross_attention=not args.no_attention,
            gating=not args.no_gating,
            focal_loss=not args.cross_entropy,
        ),
    }
    if args.pooling:
        options["pooling"] = args.pooling
    if args.conv_stride is not None:
        options["conv_stride"] = args.conv_stride
    return options


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, default="synthetic")
    g.add_argument("--data", help="dataset directory or .npz file (default: $EMOEDGE_DATA or ../shared/datasets)")
    g.add_argument("--context", type=int, help="utterances of context before the target (mosi, meld)")
    g.add_argument("--live-options", help='live: JSON loader options, e.g. \'{"rows_per_epoch": 6000}\' '
                   "(see sdk.data.live.DEFAULT_OPTIONS)")
    g.add_argument("--encoders-from", help="live: start encoders from single-modality runs, "
                   "e.g. audio=runs/live_audio,video=runs/live_video,text=runs/live_text (sdk.encoder_init)")
    g.add_argument("--freeze-encoders", nargs="?", const="all", default=None, metavar="NAMES",
                   help="live: keep the --encoders-from encoders fixed (weights and BatchNorm statistics); "
                        "with names (e.g. video,text) only those, and the other copied encoders fine-tune")


def data_options_from_args(args: argparse.Namespace) -> dict:
    return {"context": args.context} if args.context is not None and args.dataset in ("mosi", "meld") else {}


def load_from_args(args: argparse.Namespace) -> MultimodalDataset:
    """Apply --threads and load the dataset the arguments name (raises FileNotFoundError/ValueError)."""
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, args.data, **data_options_from_args(args))
    if getattr(args, "modalities", None):
        dataset = select_modalities(dataset, [m.strip() for m in args.modalities.split(",")])
    return dataset


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training (defaults: TrainConfig, then the dataset's TRAIN_DEFAULTS)")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        value = getattr(defaults, field.name)
        g.add_argument(flag, type=type(value), default=None, help=f"default {value}")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig defaults, overridden by the dataset's TRAIN_DEFAULTS, then by explicit flags."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name, None) is not None  # commands may expose only some training flags
    }
    return TrainConfig(**{**TRAIN_DEFAULTS.get(args.dataset, {}), **given})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--out", default="runs/train", help="run directory to write")
    add_spec_arguments(parser)
    add_train_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with distributed.process_group():  # no-op unless launched by torchrun with several processes
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:  # refuse bad settings and an unwritable --out before loading data or training
        check_config(config_from_args(args))
        if distributed.is_main():
            check_output_dir(args.out, ours=RUN_FILES)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dataset == "live":  # paired by label, trained and evaluated by its protocol (sdk.data.live)
        from sdk.data.live import run_live

        return run_live(args)
    try:
        dataset = load_from_args(args)
        check_splits(dataset)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        model, metrics = train_run(dataset, Path(args.out), config_from_args(args), progress=not args.quiet,
                                   data_options=data_options_from_args(args), **spec_options(args))
    except (ValueError, TrainingDiverged) as err:  # bad values in the data, or a loss that became NaN/inf
        print(f"error: {err}", file=sys.stderr)
        return 2
    distributed.barrier()  # rank 0 has written the run directory
    if not distributed.is_main():
        return 0
    test = metrics["test"]
    print(
        f"{dataset.name}: {metrics['params']:,} parameters, {metrics['train_seconds']:.0f} s, "
        f"best epoch {metrics['best_epoch']}; test accuracy {test.get('accuracy', float('nan')):.4f}, "
        f"UA {test.get('unweighted_accuracy', float('nan')):.4f}, weighted F1 {test.get('weighted_f1', float('nan')):.4f}, "
        f"macro F1 {test.get('macro_f1', float('nan')):.4f}"
    )
    print(f"wrote {args.out}/ (model.pt, metrics.json, curves.png, confusion.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
