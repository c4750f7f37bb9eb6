"""The "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 6.5 ablation table, and the fusion heads compared the same way.

    python -m sdk.ablation --dataset mosi --seeds 0 1 2 --out runs/ablation

Every row is trained with the same data, schedule and seeds as the full model;
the table reports parameters, mean test accuracy (and weighted F1) over the seeds,
and the difference to the full model. Results go to ablation.json and ablation.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

from tqdm.auto import tqdm

from sdk.checkpoint import atomic_write_bytes, write_json
from sdk.spec import FUSION_TYPES, Components
from sdk.train import (
    add_data_arguments,
    add_train_arguments,
    config_from_args,
    data_options_from_args,
    load_from_args,
    train_run,
)

#: (row name, spec overrides) for "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 6.5.
SWITCHES = [
    ("Full model", {}),
    ("- No depthwise conv (dense)", {"components": Components(depthwise_conv=False)}),
    ("- BiGRU -> LSTM", {"components": Components(recurrent="lstm")}),
    ("- No cross-modal attention", {"components": Components(cross_attention=False)}),
    ("- No adaptive gating (mean)", {"components": Components(gating=False)}),
    ("- Focal loss -> CE", {"components": Components(focal_loss=False)}),
]
HEADS = [(f"fusion: {name}", {"fusion": name}) for name in FUSION_TYPES if name != "gated"]


def _mfdr(**options):
    return {"architecture": "mfdr", "mfdr": options}


#: Seed 002 Table 3 for MFDR (run with --modalities audio,text). On MOSI a "step" is an
#: utterance, so window widths are counted in utterances.
MFDR_ROWS = [
    ("MFDR (adaptive, window 3)", _mfdr()),
    ("fixed window 1", _mfdr(adaptive=False, window=1)),
    ("fixed window 3", _mfdr(adaptive=False, window=3)),
    ("fixed window 5", _mfdr(adaptive=False, window=5)),
    ("full-size attention", _mfdr(full_attention=True)),
    ("w/o context", _mfdr(context=False)),
    ("GRU instead of GCPU", _mfdr(recurrent="gru", context=False)),
    ("max-pooling instead of DFC", _mfdr(pooling="max")),
    ("avg-pooling instead of DFC", _mfdr(pooling="avg")),
]


def run_rows(dataset, rows, config, seeds, data_options):
    results = []
    for name, overrides in tqdm(rows, desc="ablation", unit="row"):
        runs = []
        for seed in seeds:
            cfg = dataclasses.replace(config, seed=seed)
            _, metrics = train_run(dataset, None, cfg, progress=False, data_options=data_options, **overrides)
            runs.append(metrics)
        acc = [m["test"]["accuracy"] for m in runs]
        wf1 = [m["test"]["weighted_f1"] for m in runs]
        results.append({
            "name": name,
            "params": runs[0]["params"],
            "accuracy": statistics.mean(acc),
            "accuracy_std": statistics.pstdev(acc),
            "weighted_f1": statistics.mean(wf1),
            "accuracies": acc,
            "train_seconds": statistics.mean(m["train_seconds"] for m in runs),
        })
    base = results[0]["accuracy"]
    for r in results:
        r["delta"] = r["accuracy"] - base
    return results


def to_markdown(results) -> str:
    lines = ["| Configuration | Params | Acc (mean ± std) | WF1 | Δ acc |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['params']:,} | {r['accuracy']:.4f} ± {r['accuracy_std']:.4f} | "
            f"{r['weighted_f1']:.4f} | {r['delta']:+.4f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.ablation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    add_train_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", choices=("all", "switches", "heads", "mfdr"), default="all")
    parser.add_argument("--modalities", help="comma-separated subset, e.g. audio,text (needed for --rows mfdr)")
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args(argv)
    try:
        dataset = load_from_args(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = {"all": SWITCHES + HEADS, "switches": SWITCHES, "heads": SWITCHES[:1] + HEADS, "mfdr": MFDR_ROWS}[args.rows]
    results = run_rows(dataset, rows, config_from_args(args), args.seeds, data_options_from_args(args))
    table = to_markdown(results)
    print(table)
    out = Path(args.out)
    write_json(out / "ablation.json", {"dataset": dataset.name, "seeds": args.seeds, "rows": results})
    atomic_write_bytes(out / "ablation.md", lambda f: f.write((table + "\n").encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
