"""What width pruning can buy at most: the ExecuTorch int8 latency of a model's graph with
every learned width scaled down.

PNAO ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and
Pruning-based Network Architecture Optimization" sec. 3.3) removes nodes, i.e. narrows the
widths listed by `compress.prune.current_widths`; it never removes a layer, a recurrent
step or the fixed log-mel front end. So the same graph with every width scaled by s (kept a
multiple of `round_to`, at least `round_to`; s = 0 is the narrowest graph PNAO can reach)
bounds from below the latency of any pruned round of that shape, whatever its accuracy.
Latency does not depend on the weights' values, so the narrowed models keep random weights
(static int8 calibrated on a few synthetic samples).

    python -m compress.floor --checkpoint runs/live --scales 1,0.5,0.25,0 --out runs/live_floor

Every variant is exported to a temporary `.pte`, loaded in the SDK's own ExecuTorch runner
(sdk.runtime.native, one thread) and timed in interleaved rounds in one process, so slow
phases of a busy machine hit every variant alike. Writes OUT/floor.json and prints a table.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from compress.measure import count_macs
from compress.prune import current_widths
from sdk.atomic import write_json
from sdk.checkpoint import load_checkpoint
from sdk.model import EmotionModel, count_parameters


def scaled_widths(widths: dict[str, int], scale: float, round_to: int) -> dict[str, int]:
    """Each width times `scale`, rounded to a multiple of `round_to`, never under `round_to`
    nor over the original width."""
    return {name: min(width, max(round_to, int(round(width * scale / round_to)) * round_to))
            for name, width in widths.items()}


def narrowed(model: EmotionModel, scale: float, round_to: int) -> EmotionModel:
    """`model` itself at scale 1; otherwise its spec with scaled widths and random weights."""
    if scale == 1.0:
        return model
    spec = dataclasses.replace(model.spec, widths=scaled_widths(current_widths(model), scale, round_to))
    return EmotionModel(spec).eval()


def sample(spec, seed: int) -> tuple[torch.Tensor, ...]:
    """One batch-1 input tuple (every modality present) from sdk.bench's synthetic sample."""
    from sdk.bench import example_inputs

    values = example_inputs(spec, seed)
    inputs = []
    for m in spec.modalities:
        x = torch.from_numpy(np.asarray(values[m.name])).unsqueeze(0)
        inputs.append(x.long() if m.kind == "tokens" else x.float())
    return (*inputs, torch.ones(1, len(spec.modalities)))


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1000, q))


def measure(models: dict[float, EmotionModel], runs: int, directory: Path, progress: bool = True) -> dict:
    """Export each model to ExecuTorch int8 and time them interleaved: scale -> p50 / p10 ms."""
    from export.executorch import export
    from sdk.runtime.native import NativeProgram

    programs = {}
    for scale, model in tqdm(models.items(), desc="export int8 .pte", unit="model", disable=not progress):
        example = sample(model.spec, 0)
        calibration = [sample(model.spec, seed) for seed in range(1, 9)]
        path = directory / f"scale_{scale}.pte"
        export(model, example, path, "int8", calibration=calibration)
        programs[scale] = NativeProgram(path, 1)
    inputs = [x.numpy() for x in sample(next(iter(models.values())).spec, 0)]
    times: dict[float, list[float]] = {scale: [] for scale in programs}
    for program in programs.values():  # warm-up
        for _ in range(10):
            program.run(inputs)
    rounds = max(1, runs // 20)
    for _ in tqdm(range(rounds), desc="bench", unit="round", disable=not progress):
        for scale, program in programs.items():
            for _ in range(20):
                start = time.perf_counter()
                program.run(inputs)
                times[scale].append(time.perf_counter() - start)
    return {scale: {"p50_ms": percentile_ms(t, 50), "p10_ms": percentile_ms(t, 10), "runs": len(t)}
            for scale, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compress.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the unpruned model (run directory or model.pt)")
    parser.add_argument("--scales", default="1,0.5,0.25,0", help="comma-separated width scales in [0, 1]")
    parser.add_argument("--round-to", type=int, default=8, help="widths stay multiples of this (PNAO's --round-to)")
    parser.add_argument("--runs", type=int, default=300, help="timed runs per variant")
    parser.add_argument("--out", required=True, help="output directory (floor.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        scales = [float(s) for s in args.scales.split(",")]
    except ValueError:
        print(f"error: --scales must be numbers separated by commas, got {args.scales!r}", file=sys.stderr)
        return 2
    if not scales or any(not 0.0 <= s <= 1.0 for s in scales) or 1.0 not in scales:
        print(f"error: --scales must lie in [0, 1] and include 1 (the unpruned reference), got {args.scales!r}",
              file=sys.stderr)
        return 2
    if args.round_to < 1:
        print("error: --round-to must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    try:
        model, _ = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model.eval()
    scales = [1.0] + [s for s in scales if s != 1.0]
    models = {s: narrowed(model, s, args.round_to) for s in scales}
    with tempfile.TemporaryDirectory(prefix="emoedge-floor-") as tmp:
        latency = measure(models, args.runs, Path(tmp), progress=not args.quiet)
    reference = latency[1.0]["p50_ms"]
    rows = []
    for s, m in models.items():
        rows.append({"scale": s, "widths": current_widths(m), "params": count_parameters(m), "macs": count_macs(m),
                     **latency[s], "p50_vs_unpruned": latency[s]["p50_ms"] / reference})
    write_json(Path(args.out) / "floor.json", {"checkpoint": str(args.checkpoint), "round_to": args.round_to,
                                                "backend": "executorch int8 (XNNPACK), 1 thread", "rows": rows})
    print("| width scale | params | MACs | ExecuTorch int8 p50 ms (p10) | p50 vs unpruned |")
    print("|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['scale']:g} | {r['params']:,} | {r['macs'] / 1e6:.1f} M | {r['p50_ms']:.2f} ({r['p10_ms']:.2f}) "
              f"| {r['p50_vs_unpruned']:.2f} |")
    print(f"wrote {Path(args.out) / 'floor.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
