"""Evaluate one model on every modality subset: `python -m sdk.evaluate --checkpoint RUN_DIR --subsets all`.

For each non-empty subset S of the model's modalities (7 for three), the test
samples are run with only S marked present (a sample's own missing modalities stay
missing; samples with none of S are skipped) and the table shows accuracy,
weighted F1 and the mean gate weight of each modality ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 6.4).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

from sdk.checkpoint import load_checkpoint, write_json
from sdk.data import LIVE_SOURCES
from sdk.metrics import classification_metrics
from sdk.model import EmotionModel
from sdk.spec import subset_name
from sdk.train import checkpoint_data
from sdk.training import SplitTensors, predict


def modality_subsets(names: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset, largest first."""
    return [s for k in range(len(names), 0, -1) for s in itertools.combinations(names, k)]


def restrict_to_subset(data: SplitTensors, names: list[str], subset: tuple[str, ...]) -> SplitTensors:
    """The samples with at least one modality of `subset`, with only `subset` marked present.

    A sample's own missing modalities stay missing; samples left with none are dropped.
    """
    keep = torch.tensor([1.0 if n in subset else 0.0 for n in names])
    presence = data.presence * keep
    rows = presence.sum(dim=1) > 0
    return SplitTensors([x[rows] for x in data.inputs], presence[rows], data.labels[rows])


def evaluate_subsets(model: EmotionModel, data: SplitTensors, subsets: list[tuple[str, ...]]) -> dict:
    names = model.spec.modality_names
    results = {}
    for subset in subsets:
        part = restrict_to_subset(data, names, subset)
        probs, weights = predict(model, part)
        metrics = classification_metrics(part.labels.numpy(), probs.argmax(axis=1))
        results[subset_name(subset)] = {
            **metrics,
            "samples": len(part),
            "gate_weights": {n: float(weights[:, i].mean()) for i, n in enumerate(names)},
        }
    return results


def format_table(results: dict, names: list[str]) -> str:
    header = f"{'subset':<22} {'n':>5} {'acc':>7} {'UA':>7} {'WF1':>7}  " + " ".join(f"{'w_' + n:>8}" for n in names)
    lines = [header, "-" * len(header)]
    for subset, r in results.items():
        gates = " ".join(f"{r['gate_weights'][n]:>8.3f}" for n in names)
        lines.append(
            f"{subset:<22} {r['samples']:>5} {r['accuracy']:>7.4f} {r['unweighted_accuracy']:>7.4f} "
            f"{r['weighted_f1']:>7.4f}  {gates}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="run directory or model.pt")
    parser.add_argument("--subsets", default="all", help="'all', or subsets like 'text,audio+text'")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--data", help="dataset path (default: where training found it)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    try:
        model, payload = load_checkpoint(args.checkpoint)
        if model.spec.dataset in ("live", *LIVE_SOURCES):  # the live recipe's fixed protocol (sdk.data.live)
            return _evaluate_live(model, payload, args)
        data = checkpoint_data(model, payload, args.data)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    spec = model.spec
    if args.split not in data:
        print(f"error: {spec.dataset} has no {args.split} split", file=sys.stderr)
        return 2
    names = spec.modality_names
    if args.subsets == "all":
        subsets = modality_subsets(names)
    else:
        subsets = [tuple(s.split("+")) for s in args.subsets.split(",")]
        bad = [s for s in subsets if not set(s) <= set(names)]
        if bad:
            print(f"error: unknown modalities in {bad}; this model has {names}", file=sys.stderr)
            return 2
    results = evaluate_subsets(model, data[args.split], subsets)
    print(format_table(results, names))
    if args.json:
        write_json(Path(args.json), {"checkpoint": str(args.checkpoint), "split": args.split,
                                     "samples": len(data[args.split]), "subsets": results})
    return 0


def _evaluate_live(model: EmotionModel, payload: dict, args: argparse.Namespace) -> int:
    """The live model (or one trained on a live source alone): its protocol's unimodal test parts and,
    with several modalities, every subset of the paired test."""
    from sdk.data.live import DEFAULT_OPTIONS, PROTOCOL, checkpoint_live_data, evaluate_protocol, format_protocol

    if args.split != "test" or args.subsets != "all":
        print("error: a live model is evaluated by its fixed protocol: use --split test --subsets all", file=sys.stderr)
        return 2
    options = payload.get("data_options", {})
    print(PROTOCOL.format(test_repeats=options.get("test_repeats", DEFAULT_OPTIONS["test_repeats"])))
    data = checkpoint_live_data(model, payload, args.data)
    results = evaluate_protocol(model, data)
    print(format_protocol(results))
    if args.json:
        write_json(Path(args.json), {"checkpoint": str(args.checkpoint), "split": "test", "protocol": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
