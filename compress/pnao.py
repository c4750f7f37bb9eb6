"""PNAO: progressive network architecture optimization by structured pruning ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization", Algorithm 1).

    python -m compress.pnao --rounds 5                          # trains a synthetic base first
    python -m compress.pnao --checkpoint runs/mosi --rounds 5 --out runs/pnao_mosi
    torchrun --nproc_per_node 2 -m compress.pnao ...          # data-parallel (sdk.distributed)

1. Θ^0: sparse training, loss + α‖Θ‖₁ (eq. 8; `--l1`). A checkpoint trained without it
   gets the last `--rewind-epochs` epochs of its schedule replayed with the L1 term.
2-3. Node importance γ = mean |row| (eq. 10) and one global mask γ ≥ k·max γ (eq. 11; `--naor`).
4. The masked nodes are removed physically (compress.prune, torch-pruning DepGraph);
   widths stay multiples of `--round-to`.
5. Learning-rate rewinding (Renda et al. 2020): retrain from the pruned weights over the
   last `--rewind-epochs` epochs of the original schedule (with the L1 term still on).
6. Repeat for `--rounds`; every round is evaluated and the best on validation is kept
   (among the rounds within `--max-params` of the base's parameters, when given).

Validation comes from train (`--val-from train`) except on MOSI, whose released train
features leak their labels (a split carved from train scores ~0.99 for every round):
there half of the test videos validate and the other half is the reported test.

Writes RUN_DIR/pnao.json ({"rounds": [...], "best_round", "seconds", "best_checkpoint"}),
pnao_details.json (widths, what each round pruned, full metrics), rounds.png (Fig. 3),
weights.png (Fig. 4), best/model.pt (its spec holds the pruned widths) and one atomic
checkpoint per finished round in RUN_DIR/rounds/; `--resume` continues after the last one.
Crash safety (sdk.atomic): each round checkpoint is written atomically; best/, pnao.json,
pnao_details.json and the figures are committed together (the run directory is swapped
in with rounds/ and base/ carried over), so a kill leaves the previous result or the new
one, never a mix. A run without `--resume` first removes the rounds of an earlier run.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from compress.importance import NORMALIZERS, plan_pruning
from compress.measure import latency_ms, model_size, weight_histogram
from compress.plots import plot_rounds, plot_weight_distributions
from compress.prune import build_graph, check_prunable, current_widths, node_groups, prune_nodes, rebuild
from sdk import distributed
from sdk.atomic import check_output_dir, sha256_file, staged_dir
from sdk.checkpoint import load_checkpoint, save_checkpoint, write_json
from sdk.model import EmotionModel, count_parameters
from sdk.training import SplitTensors, TrainConfig, config_from_dict, evaluate_split, fit

REPORTED_METRICS = ("accuracy", "weighted_f1")
#: Datasets whose validation is carved from the test groups by default: MOSI's released
#: train features leak their labels, so train-carved validation is flat at ~0.99.
VAL_FROM_TEST = ("mosi",)
#: The result of a run, replaced together by `finish`; everything else in RUN_DIR (rounds/, base/) is kept.
FINAL_OUTPUTS = ("best", "pnao.json", "pnao_details.json", "rounds.png", "weights.png")


@dataclass
class PnaoOptions:
    rounds: int = 5
    naor: float = 0.05  # k of eq. 11
    round_to: int = 8
    rewind_epochs: int = 10
    l1: float = 1e-5  # α of eq. 8
    tolerance: float = 0.0  # best round: the smallest model within this of the best validation metric
    max_params: float | None = None  # best round only among those with params <= this fraction of the base
    val_from: str = "train"  # where the validation split is carved from: "train" or "test"
    normalizer: str = "none"  # γ per group before eq. 11: "none" (as written) or "mean" (compress.importance)
    naor_step: float = 0.0  # round r >= 1 masks at k + (r - 1) * naor_step (`round_naor`)
    distill: float = 0.0  # retraining also matches round 0's outputs with this weight (sdk.training.distillation_loss)

    def same_run(self, other: "PnaoOptions", pruned: bool = True) -> bool:
        """Whether a resumed run may continue `other` (the rounds and the selection rule may change).
        With no pruned round yet (`pruned=False`: only round 0, the sparse base, is done) the pruning
        options may change too: k, its step, the normalizer, round-to and distillation act from round 1."""
        free = {"rounds": 0, "tolerance": 0.0, "max_params": None}
        if not pruned:
            free.update(naor=0.0, naor_step=0.0, normalizer="none", round_to=1, distill=0.0)
        return dataclasses.replace(self, **free) == dataclasses.replace(other, **free)


def rewind_retrain(model: EmotionModel, data: dict[str, SplitTensors], config: TrainConfig, options: PnaoOptions,
                   round_index: int, progress: bool, teacher: EmotionModel | None = None) -> dict:
    """Replay the last `rewind_epochs` epochs of the schedule (the LR is a function of the epoch).

    With `options.distill > 0` and a teacher (round 0, the unpruned model after the L1 pass), the
    retraining also matches the teacher's outputs (knowledge distillation, Hinton et al. 2015): a
    departure from Algorithm 1, whose retraining is LR rewinding alone. On the stage-wise live model
    the fused stream's few epochs cannot re-teach encoders that were trained on whole datasets;
    the teacher's soft outputs on every row carry what they knew (RESULTS.md, PNAO on the live model).
    """
    config = dataclasses.replace(config, l1=options.l1, seed=config.seed + 1000 * round_index, distill=options.distill)
    start = max(0, config.epochs - options.rewind_epochs)
    return fit(model, data, config, start_epoch=start, end_epoch=config.epochs, progress=progress, teacher=teacher)


def evaluate_round(model: EmotionModel, data: dict[str, SplitTensors], round_index: int) -> tuple[dict, dict]:
    """The round's row of pnao.json and its details (full metrics, widths, |θ| histogram)."""
    size = model_size(model)
    metrics = {split: evaluate_split(model, data[split]) for split in ("val", "test") if split in data}
    record = {
        "round": round_index,
        "params": size["params"],
        "macs": size["macs"],
        "val": {k: metrics["val"][k] for k in REPORTED_METRICS},
        "test": {k: metrics["test"][k] for k in REPORTED_METRICS} if "test" in metrics else {},
        "latency_ms": latency_ms(model),
    }
    details = {"round": round_index, "metrics": metrics, "widths": current_widths(model),
               "weight_histogram": weight_histogram(model)}
    return record, details


def round_naor(options: PnaoOptions, round_index: int) -> float:
    """k of eq. 11 in round `round_index` (>= 1): `naor`, raised by `naor_step` every later round.

    With `normalizer="mean"` a fixed k prunes once and then stops: after the least important
    nodes of a layer are gone, its mean γ rises and every survivor sits above k · max again
    (measured on the live model: rounds 2-4 at k = 0.52 removed nothing). A rising k keeps
    each round pruning."""
    return options.naor + (round_index - 1) * options.naor_step


def prune_round(model: EmotionModel, options: PnaoOptions, round_index: int = 1) -> tuple[EmotionModel, dict]:
    """Eqs. 10-11 and physical removal; returns the rebuilt, smaller model and what was cut."""
    graph = build_graph(model)
    groups = node_groups(model)
    naor = round_naor(options, round_index)
    plan = plan_pruning(graph, groups, naor, options.round_to, options.normalizer)
    for group in groups:
        prune_nodes(graph, group, plan.pruned[group.name])
    return rebuild(model), {"naor": naor, "threshold": plan.threshold, "groups": plan.summary()}


def select_best(records: list[dict], tolerance: float, max_params: float | None = None,
                monitor: str = "weighted_f1") -> int:
    """The round with the best validation metric; ties (within `tolerance`) go to the fewest parameters.

    With `max_params`, only rounds with at most that fraction of round 0's parameters
    compete (a size budget); if none meets it, the smallest round is returned.
    """
    if max_params is not None:
        budget = max_params * records[0]["params"]
        within = [r for r in records if r["params"] <= budget]
        if not within:
            return min(records, key=lambda r: (r["params"], r["round"]))["round"]
        records = within
    top = max(r["val"][monitor] for r in records)
    candidates = [r for r in records if r["val"][monitor] >= top - tolerance - 1e-12]
    return min(candidates, key=lambda r: (r["params"], r["round"]))["round"]


def round_path(out: Path, round_index: int) -> Path:
    return out / "rounds" / f"round_{round_index}.pt"


def last_completed(out: Path) -> tuple[EmotionModel, dict] | None:
    """The newest readable round checkpoint (a torn write never replaces a good one: writes are atomic)."""
    paths = sorted((out / "rounds").glob("round_*.pt"), key=lambda p: int(p.stem.split("_")[1]), reverse=True)
    for path in paths:
        try:
            return load_checkpoint(path)
        except ValueError:
            continue
    return None


def prepare_rounds(out: Path, resume: bool) -> None:
    """Remove temp files of a killed round write; without --resume, also the rounds of an earlier run
    (so that a later --resume can never continue that run's rounds by mistake)."""
    rounds = out / "rounds"
    if not rounds.is_dir():
        return
    for tmp in rounds.glob(".round_*.pt.*.tmp"):
        tmp.unlink(missing_ok=True)
    if not resume:
        stale = sorted(rounds.glob("round_*.pt"))
        for path in stale:
            path.unlink()
        if stale:
            print(f"note: removed {len(stale)} round checkpoint(s) of an earlier run from {rounds} "
                  "(pass --resume to continue that run instead)", file=sys.stderr)


def run_pnao(
    model: EmotionModel,
    data: dict[str, SplitTensors],
    config: TrainConfig,
    out: Path,
    options: PnaoOptions,
    resume: bool = False,
    progress: bool = True,
    extra: dict | None = None,
    on_round: Callable[[int, dict], None] | None = None,
) -> dict:
    """Algorithm 1 on `model` (the base, round 0). Returns the content of pnao.json."""
    out = Path(out)
    extra = dict(extra or {})
    started = time.perf_counter()
    state = {"records": [], "details": [], "seconds": 0.0}
    if distributed.is_main():
        prepare_rounds(out, resume)
    distributed.barrier()
    previous = last_completed(out) if resume else None
    if previous is not None:
        model, payload = previous
        state = payload["pnao"]
        stored = PnaoOptions(**state["options"])
        if not options.same_run(stored, pruned=len(state["records"]) > 1):
            raise ValueError(f"--resume: {out} was started with {stored}, not {options}; use another --out")
    elif resume and distributed.is_main():
        print(f"--resume: no finished round in {out}/rounds, starting from round 0", file=sys.stderr)
    state["options"] = dataclasses.asdict(options)
    done = len(state["records"])
    teacher = None  # round 0, loaded from its checkpoint when the first pruned round needs it (--distill)
    main = distributed.is_main()  # under torchrun: every rank prunes and retrains, rank 0 evaluates and writes
    bar = tqdm(range(done, options.rounds + 1), desc="PNAO", unit="round", disable=not (progress and main),
               initial=done, total=options.rounds + 1)
    for round_index in bar:
        if round_index == 0:
            pruned = {"threshold": None, "groups": {}}
            if config.l1 <= 0:  # Θ^0 must come from sparse training (Algorithm 1 step 1)
                rewind_retrain(model, data, config, options, 0, progress)
        else:
            if options.distill > 0 and teacher is None:
                distributed.barrier()  # rank 0 wrote round 0
                teacher, _ = load_checkpoint(round_path(out, 0))
                teacher.eval()
            model, pruned = prune_round(model, options, round_index)
            rewind_retrain(model, data, config, options, round_index, progress, teacher)
        if not main:
            continue
        record, details = evaluate_round(model, data, round_index)
        details["pruned"] = pruned
        state["records"].append(record)
        state["details"].append(details)
        state["seconds"] = state.get("seconds", 0.0) + (time.perf_counter() - started)
        started = time.perf_counter()
        save_checkpoint(round_path(out, round_index), model, {**extra, "pnao": state})
        bar.set_postfix(params=record["params"], val=f"{record['val']['weighted_f1']:.3f}")
        if on_round:
            on_round(round_index, record)
    result = finish(out, state, options, extra) if main else None
    return distributed.broadcast(result)


def finish(out: Path, state: dict, options: PnaoOptions, extra: dict) -> dict:
    """Pick the best round, copy its checkpoint to best/, write pnao.json and the figures.

    The five FINAL_OUTPUTS are written into a staging copy of `out` and swapped in together
    (sdk.atomic.staged_dir); pnao.json records best/model.pt's sha256.
    """
    records = state["records"][: options.rounds + 1]
    best = select_best(records, options.tolerance, options.max_params)
    model, _ = load_checkpoint(round_path(out, best))
    with staged_dir(out, keep=FINAL_OUTPUTS) as stage:
        best_path = save_checkpoint(stage / "best", model, {**extra, "pnao_round": best, "pnao_record": records[best]})
        write_json(stage / "best" / "spec.json", model.spec.to_dict())
        result = {"rounds": records, "best_round": best, "seconds": state["seconds"],
                  "best_checkpoint": str(best_path.relative_to(stage)), "best_sha256": sha256_file(best_path),
                  "val_from": options.val_from}
        write_json(stage / "pnao_details.json", {"options": dataclasses.asdict(options), "rounds": state["details"]})
        plot_rounds(records, stage / "rounds.png", best)
        plot_weight_distributions({d["round"]: d["weight_histogram"] for d in state["details"]},
                                  stage / "weights.png")
        write_json(stage / "pnao.json", result)
    return result


def format_table(result: dict) -> str:
    base = result["rounds"][0]
    header = (f"{'round':>5} {'params':>9} {'%':>6} {'MACs':>11} {'%':>6} {'val acc':>8} {'val WF1':>8} "
              f"{'test acc':>8} {'test WF1':>8} {'ms':>7}")
    lines = [header, "-" * len(header)]
    for r in result["rounds"]:
        mark = " *" if r["round"] == result["best_round"] else ""
        test = r["test"] or {"accuracy": float("nan"), "weighted_f1": float("nan")}
        lines.append(
            f"{r['round']:>5} {r['params']:>9,} {100 * r['params'] / base['params']:>5.1f}% {r['macs']:>11,} "
            f"{100 * r['macs'] / base['macs']:>5.1f}% {r['val']['accuracy']:>8.4f} {r['val']['weighted_f1']:>8.4f} "
            f"{test['accuracy']:>8.4f} {test['weighted_f1']:>8.4f} {r['latency_ms']:>7.2f}{mark}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI
def load_base(args: argparse.Namespace, out: Path, options: PnaoOptions, progress: bool):
    """(model, payload, tensors, val_from): the given checkpoint, or a base trained with the L1 term on `--dataset`."""
    from sdk.train import checkpoint_data, config_from_args, data_options_from_args, load_from_args, train_run

    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = out / "base"
        if not (args.resume and (checkpoint / "model.pt").is_file()):
            config = dataclasses.replace(config_from_args(args), l1=options.l1)
            if distributed.is_main():
                print(f"no --checkpoint: training a sparse base model on {args.dataset} into {checkpoint}",
                      file=sys.stderr)
            train_run(load_from_args(args), checkpoint, config, progress=progress,
                      data_options=data_options_from_args(args))
    distributed.barrier()  # under torchrun rank 0 wrote the base
    model, payload = load_checkpoint(checkpoint)
    check_prunable(model)
    val_from = args.val_from or ("test" if model.spec.dataset in VAL_FROM_TEST else "train")
    return model, payload, checkpoint_data(model, payload, args.data, val_source=val_from, for_training=True), val_from


def sweep_naor(model: EmotionModel, options: PnaoOptions, naors: list[float]) -> list[dict]:
    """What one pruning step (eqs. 10-11, no retraining) at each k would leave of `model`:
    parameters and MACs as fractions of the model's, and the widths. Pick k from a sparse
    round-0 checkpoint (OUT/rounds/round_0.pt) before a long run: with --normalizer mean the
    importances crowd around 1, and the fraction removed can jump over a few hundredths of k."""
    params, macs = count_parameters(model), model_size(model)["macs"]
    rows = []
    for naor in naors:
        pruned, info = prune_round(copy.deepcopy(model), dataclasses.replace(options, naor=naor, naor_step=0.0), 1)
        rows.append({"naor": naor, "threshold": info["threshold"], "params": count_parameters(pruned) / params,
                     "macs": model_size(pruned)["macs"] / macs, "widths": current_widths(pruned)})
    return rows


def main(argv: list[str] | None = None) -> int:
    from sdk.train import add_data_arguments

    parser = argparse.ArgumentParser(prog="python -m compress.pnao", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="run directory or model.pt to prune (default: train a base first)")
    add_data_arguments(parser)
    parser.add_argument("--out", default="runs/pnao", help="run directory to write")
    defaults = PnaoOptions()
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="PNAO rounds N")
    parser.add_argument("--naor", type=float, default=defaults.naor, help="k of eq. 11: prune γ < k·max γ")
    parser.add_argument("--normalizer", choices=NORMALIZERS, default=defaults.normalizer,
                        help="divide each layer's importances by their mean before eq. 11 (mean), or not (none: "
                             "as written; on the live model it prunes attention before any CNN channel)")
    parser.add_argument("--naor-step", type=float, default=defaults.naor_step,
                        help="raise k by this every round after the first (with --normalizer mean a fixed k "
                             "prunes only once)")
    parser.add_argument("--distill", type=float, default=defaults.distill,
                        help="retrain pruned rounds also on round 0's outputs with this weight in [0, 1) "
                             "(knowledge distillation; 0 = Algorithm 1's LR rewinding alone)")
    parser.add_argument("--round-to", type=int, default=defaults.round_to, help="keep widths multiples of this")
    parser.add_argument("--rewind-epochs", type=int, default=defaults.rewind_epochs,
                        help="retrain over the last E epochs of the original LR schedule")
    parser.add_argument("--l1", type=float, default=defaults.l1, help="α of eq. 8 (sparse training)")
    parser.add_argument("--tolerance", type=float, default=defaults.tolerance,
                        help="best round = fewest parameters within this of the best validation weighted F1")
    parser.add_argument("--max-params", type=float, default=None,
                        help="size budget: best round only among those with at most this fraction of the base's "
                             "parameters (e.g. 0.6)")
    parser.add_argument("--val-from", choices=("train", "test"), default=None,
                        help="carve validation from train, or from half of the test groups "
                             f"(default: test for {', '.join(VAL_FROM_TEST)}, train otherwise)")
    parser.add_argument("--seed", type=int, help="retraining seed (default: the checkpoint's training seed)")
    parser.add_argument("--resume", action="store_true", help="continue after the last finished round in --out")
    parser.add_argument("--sweep-naor", metavar="K[,K...]",
                        help="print what one pruning step at each k would leave of --checkpoint (no training, "
                             "nothing written), then exit")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    with distributed.process_group():  # no-op unless launched by torchrun with several processes
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.distill < 1:
        print(f"error: --distill is the weight of the distillation term in [0, 1), not {args.distill}", file=sys.stderr)
        return 2
    if args.max_params is not None and not 0 < args.max_params <= 1:
        print(f"error: --max-params is a fraction of the base's parameters in (0, 1], not {args.max_params}",
              file=sys.stderr)
        return 2
    options = PnaoOptions(args.rounds, args.naor, args.round_to, args.rewind_epochs, args.l1, args.tolerance,
                          args.max_params, normalizer=args.normalizer, naor_step=args.naor_step,
                          distill=args.distill)
    if args.sweep_naor is not None:
        return _sweep(args, options)
    out = Path(args.out)
    progress = not args.quiet
    try:
        if distributed.is_main():
            check_output_dir(out, replaces=False)  # before training a base or pruning
        model, payload, data, val_from = load_base(args, out, options, progress)
        options = dataclasses.replace(options, val_from=val_from)
        config = config_from_dict(payload.get("train_config", {}))
        if args.seed is not None:  # another draw of the retraining (batches, dropout), same base model
            config = dataclasses.replace(config, seed=args.seed)
        extra = {"train_config": dataclasses.asdict(config), "data_options": payload.get("data_options", {}),
                 "data_source": payload.get("data_source", {})}  # an npz-trained base keeps its file
        result = run_pnao(model, data, config, out, options, resume=args.resume, progress=progress, extra=extra)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not distributed.is_main():
        return 0
    print(format_table(result))
    budget = f", within {options.max_params:.0%} of the base's parameters" if options.max_params else ""
    print(f"best round {result['best_round']} (validation weighted F1{budget}; validation carved from "
          f"{options.val_from}); {result['seconds']:.0f} s")
    print(f"wrote {out}/ (pnao.json, pnao_details.json, rounds.png, weights.png, {result['best_checkpoint']})")
    return 0


def _sweep(args: argparse.Namespace, options: PnaoOptions) -> int:
    try:
        naors = [float(k) for k in args.sweep_naor.split(",")]
    except ValueError:
        print(f"error: --sweep-naor takes numbers separated by commas, got {args.sweep_naor!r}", file=sys.stderr)
        return 2
    if args.checkpoint is None:
        print("error: --sweep-naor needs --checkpoint (e.g. a PNAO run's rounds/round_0.pt)", file=sys.stderr)
        return 2
    try:
        model, _ = load_checkpoint(args.checkpoint)
        check_prunable(model)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"| k | threshold | params left | MACs left |  ({args.normalizer} normalizer, round-to {args.round_to})")
    print("|---:|---:|---:|---:|")
    for row in sweep_naor(model.eval(), options, naors):
        print(f"| {row['naor']:g} | {row['threshold']:.3f} | {row['params']:.1%} | {row['macs']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
