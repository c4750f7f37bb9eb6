"""The PNAO trade-off on deployable artifacts: per round, int8 latency, size and accuracy.

    python -m compress.tradeoff --pnao runs/live_pnao --baseline runs/live --out dist/live_tradeoff

For the unpruned model (`--baseline`) and every round checkpoint of a PNAO run
(`--pnao`/rounds/round_<i>.pt), in that order:

1. `python -m export` writes the int8 artifacts of `--formats` (the baseline also gets
   fp32, the reference of the size fraction; `--baseline-dist` reuses an existing export
   of the baseline instead);
2. `python -m sdk.evaluate --subsets all` gives the protocol's test accuracy per modality
   and on the paired test (live models; other datasets: the test split's subsets);
3. once every model is exported, `python -m sdk.bench --threads 1` measures each one's
   artifacts in fresh processes, one model after another (p50 of one window, end to
   end, and its ratio to that model's own FLOP floor), so the latencies of all rows
   come from one stretch of time on the machine.

Each step runs in its own process, so every latency comes from a process that imported
only what a user's would. A model whose three results exist is skipped (`--resume` is the
default: delete OUT/<name> to redo one). Writes OUT/tradeoff.json, tradeoff.md (one table:
params, MACs, p50 per format, size per format as a fraction of the unpruned fp32 artifact,
accuracy per test part) and tradeoff.png (accuracy against int8 p50, one point per round).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tqdm.auto import tqdm

from export.formats import FORMATS
from sdk.atomic import save_figure, write_json, write_text
from sdk.checkpoint import load_checkpoint

#: Test parts shown in the table: (label, path into sdk.evaluate's live protocol JSON).
LIVE_COLUMNS = (
    ("speech (RAVDESS)", ("unimodal", "ravdess_speech", "accuracy")),
    ("faces (FER2013)", ("unimodal", "fer2013", "accuracy")),
    ("GoEmotions", ("unimodal", "goemotions", "accuracy")),
    ("ISEAR", ("unimodal", "isear", "accuracy")),
    ("paired A+T+V", ("paired_subsets", "audio+text+video", "accuracy")),
)


def entries(pnao: Path, baseline: Path | None, rounds: str) -> list[tuple[str, Path]]:
    """(name, checkpoint) for the baseline and the chosen rounds of the PNAO run."""
    number = {p: int(p.stem.split("_")[1]) for p in (pnao / "rounds").glob("round_*.pt")}
    if not number:
        raise FileNotFoundError(f"no round checkpoints in {pnao}/rounds: run `python -m compress.pnao --out {pnao}` first")
    found = sorted(number, key=number.get)
    if rounds != "all":
        wanted = {int(r) for r in rounds.split(",")}
        found = [p for p in found if number[p] in wanted]
    out = [("unpruned", baseline)] if baseline is not None else []
    return out + [(p.stem, p) for p in found]


def run_step(command: list[str], log: Path) -> None:
    """Run one step in a fresh process; its output goes to `log`, and a failure names the log."""
    with open(log, "w") as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT).returncode
    if status not in (0, 1):  # export exits 1 when an artifact misses a check; the report says which
        raise RuntimeError(f"`{' '.join(command)}` failed with status {status}; see {log}")


def artifacts_dir(name: str, out: Path, args: argparse.Namespace) -> Path:
    if name == "unpruned" and args.baseline_dist:
        return Path(args.baseline_dist)
    return out / name / "dist"


def export_and_evaluate(name: str, checkpoint: Path, out: Path, args: argparse.Namespace) -> None:
    """Export and evaluate one model (each step skipped when its result exists)."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    dist = artifacts_dir(name, out, args)
    if not (dist / "report.json").is_file():
        precision = "fp32,int8" if name == "unpruned" else "int8"
        command = [sys.executable, "-m", "export", "--checkpoint", str(checkpoint), "--format", args.formats,
                   "--precision", precision, "--out", str(dist), "--quiet"]
        if args.max_test_samples:
            command += ["--max-test-samples", str(args.max_test_samples)]
        run_step(command, folder / "export.log")
    if not (folder / "evaluate.json").is_file():
        run_step([sys.executable, "-m", "sdk.evaluate", "--checkpoint", str(checkpoint), "--subsets", "all",
                  "--json", str(folder / "evaluate.json")], folder / "evaluate.log")


def bench(name: str, checkpoint: Path, out: Path, args: argparse.Namespace) -> None:
    """sdk.bench on one model's artifacts (skipped when bench.json exists)."""
    folder = out / name
    if not (folder / "bench.json").is_file():
        run_step([sys.executable, "-m", "sdk.bench", "--models", str(artifacts_dir(name, out, args)), "--checkpoint",
                  str(checkpoint), "--threads", str(args.threads), "--runs", str(args.runs), "--json",
                  str(folder / "bench.json"), "--no-progress"], folder / "bench.log")


def summarize(name: str, checkpoint: Path, dist: Path, folder: Path) -> dict:
    from compress.measure import model_size

    model, _ = load_checkpoint(checkpoint)
    report = json.loads((dist / "report.json").read_text())
    bench = json.loads((folder / "bench.json").read_text())
    evaluation = json.loads((folder / "evaluate.json").read_text())
    artifacts = {f"{a['format']}/{a['precision']}": {"size_bytes": a["size_bytes"], "status": a["status"],
                                                     "top1_agreement": a.get("top1_agreement")}
                 for a in report["artifacts"]}
    for row in bench["rows"]:
        key = f"{row['backend']}/{row['precision']}"
        if row["backend"] == "torch":
            continue
        if key not in artifacts:  # a directory assembled from several exports: its report lists only the last one
            artifacts[key] = {"size_bytes": Path(row["path"]).stat().st_size, "status": None, "top1_agreement": None}
        artifacts[key].update(p50_ms=row["p50_ms"], runtime_p50_ms=row["runtime_p50_ms"],
                              floor_ratio=row["ratios_to_flop_floor"]["p50_ms"])
    return {"name": name, "checkpoint": str(checkpoint), **model_size(model), "artifacts": artifacts,
            "flop_floor_ms": bench["flop_floor_ms"], "peak_gflops": bench["peak_gflops"],
            "accuracy": accuracy_columns(evaluation)}


def accuracy_columns(evaluation: dict) -> dict[str, float]:
    """Test accuracy per part: the live protocol's parts, or every subset of the test split."""
    if "protocol" in evaluation:
        out = {}
        for label, path in LIVE_COLUMNS:
            value = evaluation["protocol"]
            for key in path:
                value = value.get(key, {}) if isinstance(value, dict) else {}
            if isinstance(value, float):
                out[label] = value
        return out
    return {subset: row["accuracy"] for subset, row in evaluation.get("subsets", {}).items()}


def format_table(rows: list[dict], formats: list[str]) -> str:
    """Markdown: one row per model; sizes as a fraction of the unpruned fp32 artifact of the same format."""
    base = rows[0]
    reference = {f: base["artifacts"].get(f"{f}/fp32", {}).get("size_bytes") for f in formats}
    accuracy_labels = list(base["accuracy"])
    header = (["model", "params", "MACs"] + [f"{f} int8 p50 ms (x floor)" for f in formats]
              + [f"{f} int8 KB (of fp32)" for f in formats] + accuracy_labels)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["name"], f"{row['params']:,} ({row['params'] / base['params']:.0%})",
                 f"{row['macs'] / 1e6:.1f} M ({row['macs'] / base['macs']:.0%})"]
        for f in formats:
            a = row["artifacts"].get(f"{f}/int8", {})
            cells.append(f"{a['p50_ms']:.2f} ({a['floor_ratio']:.1f}x)" if "p50_ms" in a else "—")
        for f in formats:
            a = row["artifacts"].get(f"{f}/int8", {})
            size = a.get("size_bytes")
            fraction = f" ({size / reference[f]:.1%})" if size and reference[f] else ""
            cells.append(f"{size / 1024:,.0f}{fraction}" if size else "—")
        cells += [f"{row['accuracy'].get(label, float('nan')):.4f}" for label in accuracy_labels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], formats: list[str], path: Path) -> None:
    """Accuracy of every test part against int8 p50, one marker per model, one panel per format."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows[0]["accuracy"])
    fig, axes = plt.subplots(1, len(formats), figsize=(5.5 * len(formats), 4.2), squeeze=False)
    for ax, f in zip(axes[0], formats):
        for label in labels:
            points = [(r["artifacts"][f"{f}/int8"]["p50_ms"], r["accuracy"][label], r["name"]) for r in rows
                      if "p50_ms" in r["artifacts"].get(f"{f}/int8", {}) and label in r["accuracy"]]
            if not points:
                continue
            xs, ys, names = zip(*points)
            ax.plot(xs, ys, "o", label=label)  # no lines: rounds are not ordered by latency
            for x, y, n in zip(xs, ys, names):
                ax.annotate(n.replace("round_", "r"), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{f} int8 p50 per window, ms (1 thread)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"PNAO rounds: accuracy vs {f} int8 latency")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compress.tradeoff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pnao", required=True, help="PNAO run directory (with rounds/round_<i>.pt)")
    parser.add_argument("--baseline", help="the unpruned model (run directory or model.pt)")
    parser.add_argument("--baseline-dist", help="an existing export of --baseline (with fp32) to reuse")
    parser.add_argument("--rounds", default="all", help="'all' or comma-separated round numbers")
    parser.add_argument("--formats", default="executorch,litert", help="comma-separated export formats")
    parser.add_argument("--max-test-samples", type=int, default=300,
                        help="rows the export verifies each artifact on (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200, help="warm runs per artifact in sdk.bench")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",")]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        print(f"error: unknown format(s) {unknown}; choose from {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    if args.baseline_dist and not args.baseline:
        print("error: --baseline-dist needs --baseline (the checkpoint it was exported from)", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        todo = entries(Path(args.pnao), Path(args.baseline) if args.baseline else None, args.rounds)
        for name, ckpt in tqdm(todo, desc="export + evaluate", unit="model"):
            export_and_evaluate(name, ckpt, out, args)
        for name, ckpt in tqdm(todo, desc="bench", unit="model"):  # together, so every row shares the machine's state
            bench(name, ckpt, out, args)
        rows = [summarize(name, ckpt, artifacts_dir(name, out, args), out / name) for name, ckpt in todo]
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = format_table(rows, formats)
    write_json(out / "tradeoff.json", {"formats": formats, "threads": args.threads, "rows": rows})
    write_text(out / "tradeoff.md", table + "\n")
    plot(rows, formats, out / "tradeoff.png")
    print(table)
    print(f"wrote {out}/tradeoff.json, tradeoff.md, tradeoff.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
