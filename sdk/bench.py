"""Host benchmark of every exported artifact, with PyTorch eager as the reference row.

    python -m sdk.bench --models dist/mosi --threads 1 --json bench.json

For each artifact under `--models` (.pte, .tflite, .onnx with a manifest) and the
checkpoint it was exported from (PyTorch eager), a fresh process loads it and
measures:

    load_ms     cold load: `EmotionRecognizer.load` in a new process (runtime import,
                manifest + sha256 check, session/program creation)
    first_ms    the first `predict` after loading
    p50/p90/p99 over `--runs` warm `predict` calls after `--warmup` more
                (end to end: validation, normalization, padding, inference, softmax)
    runtime_p50_ms  the runtime call alone (no preprocessing), same protocol
    peak_rss_mb peak resident memory of that process (VmHWM), imports included

The model's FLOPs are counted on the checkpoint (torch.utils.flop_counter, batch 1,
every modality present) and the FLOP floor is FLOPs / the machine's one-thread fp32
peak (`peak_gflops`: the best GFLOP/s over square and tall-skinny GEMMs, the log-mel
front end's DFT conv1ds and 3x3 / 1x1 conv2ds, PEAK_SHAPES). Each row's p50 is given
as a ratio to PyTorch eager, and every latency of a forward pass (first, p50, p90,
p99, runtime p50) as a ratio to that floor.

Writes the JSON (`{"peak_gflops", "peak_shape", "peak_shapes": {shape: GFLOP/s},
"flop_floor_ms", "rows": [{"backend", "precision", "path", "load_ms", "first_ms",
"p50_ms", "p90_ms", "p99_ms", "peak_rss_mb", "flops", "ratio_to_torch",
"ratios_to_flop_floor": {column: ratio}, ...}]}`),
a Markdown table (stdout and OUT.md) and a plot (OUT.png) beside it.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sdk.runtime.backends import ARTIFACT_SUFFIXES, BACKENDS  # noqa: F401 - ARTIFACT_SUFFIXES re-exported
from sdk.runtime.backends import find_artifacts as discover


# ------------------------------------------------------------------ worker (runs in a fresh process)
def example_inputs(spec, seed: int = 0) -> dict:
    """One sample with every modality present: raw values mean + std * N(0, 1), random token ids."""
    rng = np.random.default_rng(seed)
    sample = {}
    for m in spec.modalities:
        if m.kind == "tokens":
            sample[m.name] = rng.integers(3, m.vocab_size, size=m.seq_len)
            continue
        if m.kind == "waveform":  # PCM: a 220 Hz tone in noise (the log-mel statistics are not PCM's)
            t = np.arange(m.seq_len) / m.sample_rate
            sample[m.name] = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=m.seq_len)).astype(np.float32)
            continue
        x = rng.normal(size=m.input_shape()).astype(np.float32)
        if m.normalization.mean:
            shape = (-1,) if m.kind == "features" else (-1, 1, 1)
            x = x * np.reshape(m.normalization.std, shape) + np.reshape(m.normalization.mean, shape)
        sample[m.name] = x.astype(np.float32)
    return sample


class StatsError(ValueError):
    """Latency samples without statistics; `kind` is "no_samples" or "non_finite"."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def latency_stats(samples_ms) -> dict[str, float]:
    """count, min, max, mean and p50/p90/p99 of latencies in ms.

    The one percentile definition of emoedge (host bench, Android and iOS benchmarks,
    contract/latency_stats.json): linear interpolation between the closest ranks
    (numpy's default, Hyndman & Fan type 7). For the sorted samples x[0..n-1] and
    q in [0, 100]: h = (n - 1) * q / 100, p_q = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
    """
    ms = np.asarray(samples_ms, dtype=np.float64).reshape(-1)
    if ms.size == 0:
        raise StatsError("no latency samples; run at least one iteration", "no_samples")
    if not np.isfinite(ms).all():
        raise StatsError("latency samples must be finite numbers of milliseconds", "non_finite")
    return {"count": int(ms.size), "min_ms": float(ms.min()), "max_ms": float(ms.max()), "mean_ms": float(ms.mean()),
            **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 90, 99)}}


def percentiles(times_s: list[float]) -> dict[str, float]:
    stats = latency_stats(np.asarray(times_s) * 1e3)
    return {key: stats[key] for key in ("p50_ms", "p90_ms", "p99_ms")}


def measure(path: str, backend: str, threads: int, runs: int, warmup: int) -> dict:
    """The worker's measurements of one model (see the module docstring)."""
    start = time.perf_counter()
    from sdk.runtime import EmotionRecognizer

    recognizer = EmotionRecognizer.load(path, backend=backend, num_threads=threads)
    load_ms = (time.perf_counter() - start) * 1e3
    sample = example_inputs(recognizer.spec)
    start = time.perf_counter()
    recognizer.predict(**sample)
    first_ms = (time.perf_counter() - start) * 1e3
    for _ in range(warmup):
        recognizer.predict(**sample)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        recognizer.predict(**sample)
        times.append(time.perf_counter() - start)
    arrays, presence = recognizer._preparer.arrays(**sample)
    inputs = arrays + [presence]
    runtime_times = []
    for _ in range(runs):
        start = time.perf_counter()
        recognizer._run(inputs)
        runtime_times.append(time.perf_counter() - start)
    return {
        "load_ms": load_ms, "first_ms": first_ms, **percentiles(times),
        "runtime_p50_ms": percentiles(runtime_times)["p50_ms"],
        "peak_rss_mb": peak_rss_mb(),
        "runtime": getattr(recognizer._run, "runtime", None),  # onnxruntime, litert, native, torch
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process: VmHWM (Linux; reset by exec, unlike ru_maxrss, which a
    child started by subprocess inherits from its parent), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ parent
#: The one-thread peak's shapes: name -> builder of (function, its inputs). Square GEMMs, a
#: tall-skinny GEMM, the log-mel front end's block GEMM (sdk.frontend at 16 kHz, 3 s: 298 frames
#: x 160 samples of a block into 400 DFT rows) and two conv forms of its DFT (kernel = stride = 80
#: into 406 rows, an earlier form; the framed DFT, kernel 400 stride 160 into 400 rows), a 3x3 and
#: a pointwise 1x1 conv2d.
PEAK_SHAPES = {
    "gemm 256": lambda t: (t.mm, (t.randn(256, 256), t.randn(256, 256))),
    "gemm 512": lambda t: (t.mm, (t.randn(512, 512), t.randn(512, 512))),
    "gemm 1024": lambda t: (t.mm, (t.randn(1024, 1024), t.randn(1024, 1024))),
    "gemm 4096x256 @ 256x256": lambda t: (t.mm, (t.randn(4096, 256), t.randn(256, 256))),
    "gemm 298x160 @ 160x400 (log-mel block)": lambda t: (t.mm, (t.randn(298, 160), t.randn(160, 400))),
    "conv1d dft chunks 1x48000 -> 406 k80 s80": lambda t: (
        lambda x, w: t.nn.functional.conv1d(x, w, stride=80), (t.randn(1, 1, 48000), t.randn(406, 1, 80))),
    "conv1d dft frames 1x48000 -> 400 k400 s160": lambda t: (
        lambda x, w: t.nn.functional.conv1d(x, w, stride=160), (t.randn(1, 1, 48000), t.randn(400, 1, 400))),
    "conv2d 3x3 32 -> 64 @ 48x48": lambda t: (
        lambda x, w: t.nn.functional.conv2d(x, w, padding=1), (t.randn(1, 32, 48, 48), t.randn(64, 32, 3, 3))),
    "conv2d 1x1 64 -> 64 @ 24x24": lambda t: (t.nn.functional.conv2d, (t.randn(1, 64, 24, 24), t.randn(64, 64, 1, 1))),
}


def shape_gflops(fn, inputs, flops: int, repeats: int, seconds: float) -> float:
    """GFLOP/s of the fastest call of `fn(*inputs)`: after one warm-up call, at least `repeats` timed
    calls and more until `seconds` have passed. The fastest single call, not a mean, so that other
    processes taking the CPU during some calls do not lower the peak."""
    fn(*inputs)
    best, count, start = float("inf"), 0, time.perf_counter()
    while count < repeats or time.perf_counter() - start < seconds:
        call = time.perf_counter()
        fn(*inputs)
        best = min(best, time.perf_counter() - call)
        count += 1
    return flops / best / 1e9


def peak_gflops(shapes: dict | None = None, repeats: int = 3, seconds: float = 0.2) -> dict:
    """This machine's one-thread fp32 throughput: the best GFLOP/s over `shapes` (default PEAK_SHAPES).

    Each shape's FLOPs are counted as the model's are (torch.utils.flop_counter), and its
    GFLOP/s is that of its fastest call (`shape_gflops`, about `seconds` per shape). Runs at one
    torch thread and restores the previous thread count.
    Returns {"peak_gflops", "peak_shape", "shapes": {name: GFLOP/s}}.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        measured = {}
        with torch.no_grad():
            for name, build in (PEAK_SHAPES if shapes is None else shapes).items():
                fn, inputs = build(torch)
                with FlopCounterMode(display=False) as counter:
                    fn(*inputs)
                flops = counter.get_total_flops()
                if not flops:
                    raise ValueError(f"peak shape {name!r} counts 0 FLOPs; give it a matmul or convolution")
                measured[name] = shape_gflops(fn, inputs, flops, repeats, seconds)
    finally:
        torch.set_num_threads(threads)
    best = max(measured, key=measured.get)
    return {"peak_gflops": measured[best], "peak_shape": best, "shapes": measured}


def count_flops(checkpoint: Path) -> int:
    """FLOPs of one batch-1 forward pass with every modality present (matmuls and convolutions)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sdk.checkpoint import load_checkpoint
    from sdk.inputs import prepare_inputs

    model, _ = load_checkpoint(checkpoint)
    tensors, presence = prepare_inputs(model.spec, **example_inputs(model.spec))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*tensors, presence)
    return int(counter.get_total_flops())


def find_artifacts(models: Path) -> list[tuple[Path, dict]]:
    """(artifact, manifest) for every artifact a backend here can run, in a stable order."""
    # e.g. executorch-coreml .pte files cannot run on this host
    return [(path, manifest) for path, manifest in discover(models) if manifest.get("format") in BACKENDS]


def find_checkpoint(models: Path, manifests: list[dict]) -> Path | None:
    """The checkpoint the artifacts came from: `--checkpoint` in report.json's command, else runs/<dataset>."""
    report = models / "report.json"
    if report.is_file():
        match = re.search(r"--checkpoint[ =](\S+)", json.loads(report.read_text()).get("command", ""))
        candidate = Path(match.group(1)) if match else None
        if candidate is not None and (candidate.is_file() or (candidate / "model.pt").is_file()):
            return candidate
    for manifest in manifests:
        candidate = Path("runs") / manifest.get("spec", {}).get("dataset", "")
        if (candidate / "model.pt").is_file():
            return candidate
    return None


def run_worker(path: Path, backend: str, threads: int, runs: int, warmup: int, timeout: float = 600) -> dict:
    command = [sys.executable, "-m", "sdk.bench", "--worker", str(path), "--backend", backend,
               "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"worker exit {done.returncode}: {tail[0][:300]}"}
    return json.loads(lines[-1])


def benchmark(models: Path, checkpoint: Path | None, threads: int, runs: int, warmup: int,
              progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    artifacts = find_artifacts(models)
    if not artifacts:
        raise FileNotFoundError(f"no artifacts with manifests under {models}; export some with `python -m export`")
    checkpoint = checkpoint or find_checkpoint(models, [m for _, m in artifacts])
    jobs = ([(checkpoint, "torch", "fp32")] if checkpoint else []) + [
        (path, manifest["format"], manifest.get("precision", "fp32")) for path, manifest in artifacts]
    peak = peak_gflops()
    flops = count_flops(checkpoint) if checkpoint else None
    rows = []
    for path, backend, precision in tqdm(jobs, desc="bench", disable=not progress):
        measured = run_worker(path, backend, threads, runs, warmup)
        rows.append({"backend": backend, "precision": precision, "path": str(path),
                     **{k: measured.get(k) for k in ("load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms",
                                                     "peak_rss_mb")},
                     "flops": flops, "runtime_p50_ms": measured.get("runtime_p50_ms"),
                     **({"runtime": measured["runtime"]} if measured.get("runtime") else {}),
                     **({"error": measured["error"]} if "error" in measured else {})})
    floor_ms = flops / (peak["peak_gflops"] * 1e9) * 1e3 if flops else None
    add_ratios(rows, floor_ms)
    return {"peak_gflops": peak["peak_gflops"], "peak_shape": peak["peak_shape"], "peak_shapes": peak["shapes"],
            "flop_floor_ms": floor_ms, "threads": threads, "runs": runs, "warmup": warmup,
            "checkpoint": str(checkpoint) if checkpoint else None, "rows": rows}


#: The latency columns that time a forward pass, each given as a ratio to the FLOP floor
#: (load_ms runs none, so it has no such ratio).
FLOOR_COLUMNS = ("first_ms", "p50_ms", "p90_ms", "p99_ms", "runtime_p50_ms")


def add_ratios(rows: list[dict], floor_ms: float | None) -> None:
    """Each row's p50 as a ratio to PyTorch eager's (`ratio_to_torch`) and every FLOOR_COLUMNS
    latency as a ratio to the FLOP floor (`ratios_to_flop_floor`; None where either is missing)."""
    torch_p50 = next((r["p50_ms"] for r in rows if r["backend"] == "torch" and r["p50_ms"]), None)
    for row in rows:
        p50 = row["p50_ms"]
        row["ratio_to_torch"] = p50 / torch_p50 if p50 and torch_p50 else None
        row["ratios_to_flop_floor"] = {key: row[key] / floor_ms if row.get(key) and floor_ms else None
                                       for key in FLOOR_COLUMNS}


def format_markdown(result: dict) -> str:
    def f(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    def latency(row, key, digits):  # "0.290 (4.0×)": ms and its ratio to the FLOP floor
        ratio = row["ratios_to_flop_floor"].get(key)
        return f(row[key], digits) + ("" if ratio is None else f" ({ratio:.1f}×)")

    floor = result["flop_floor_ms"]
    columns = ["Backend", "Precision", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms", "runtime p50 ms",
               "× PyTorch", "peak RSS MB"]
    lines = [
        f"Threads: {result['threads']} · warm runs: {result['runs']} (after {result['warmup']} warm-up) · "
        f"one-thread peak: {result['peak_gflops']:.1f} GFLOP/s ({result['peak_shape']}) · model: "
        + (f"{result['rows'][0]['flops'] / 1e6:.2f} MFLOPs, FLOP floor {floor * 1e3:.1f} µs" if floor else "FLOPs unknown"),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in result["rows"]:
        if r.get("error"):
            lines.append(f"| {r['backend']} | {r['precision']} | ❌ {r['error']} |" + "|" * (len(columns) - 3))
            continue
        backend = f"{r['backend']} ({r['runtime']})" if r.get("runtime") else r["backend"]
        lines.append(f"| {backend} | {r['precision']} | {f(r['load_ms'], 0)} | {latency(r, 'first_ms', 2)} | "
                     f"{latency(r, 'p50_ms', 3)} | {latency(r, 'p90_ms', 3)} | {latency(r, 'p99_ms', 3)} | "
                     f"{latency(r, 'runtime_p50_ms', 3)} | {f(r['ratio_to_torch'])} | {f(r['peak_rss_mb'], 0)} |")
    shapes = " · ".join(f"{name} {gflops:.1f}" for name, gflops in result["peak_shapes"].items())
    lines += ["", "p50/p90/p99: end-to-end `predict` (validation, normalization, inference, softmax); "
              "runtime p50: the runtime call alone. (N×): the latency over the FLOP floor (the model's FLOPs at "
              "the one-thread peak, the best of these shapes' GFLOP/s: " + shapes + "). "
              "Peak RSS: the whole benchmark process, imports included."]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r.get("p50_ms")]
    labels = [f"{r['backend']} {r['precision']}" for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    y = np.arange(len(rows))
    p50 = np.array([r["p50_ms"] for r in rows])
    p90 = np.array([r["p90_ms"] for r in rows])
    ax.barh(y, p50, color=["#888" if r["backend"] == "torch" else "#3b7dd8" for r in rows], label="p50")
    ax.errorbar(p50, y, xerr=[np.zeros_like(p50), p90 - p50], fmt="none", ecolor="black", capsize=3, label="p90")
    if result["flop_floor_ms"]:
        ax.axvline(result["flop_floor_ms"], color="red", linestyle="--", label="FLOP floor")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"ms per predict ({result['threads']} thread{'s' if result['threads'] > 1 else ''}, log scale)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    from sdk.atomic import save_figure

    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdk.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--models", type=Path, default=Path("dist/mosi"), help="directory of exported artifacts")
    parser.add_argument("--checkpoint", type=Path, help="PyTorch reference (default: from report.json or runs/<dataset>)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200, help="warm runs measured (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up runs before measuring (default 20)")
    parser.add_argument("--json", type=Path, default=None, help="result JSON (default: MODELS/bench.json)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--threads and --runs must be >= 1, --warmup >= 0")
    if args.worker:
        print(json.dumps(measure(str(args.worker), args.backend, args.threads, args.runs, args.warmup)))
        return 0
    if not args.models.is_dir():
        print(f"error: {args.models} is not a directory; export models with `python -m export --out DIR`",
              file=sys.stderr)
        return 2
    try:
        from sdk.atomic import check_output_file

        check_output_file(args.json or args.models / "bench.json", "--json")  # before minutes of measuring
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = benchmark(args.models, args.checkpoint, args.threads, args.runs, args.warmup,
                           progress=not args.no_progress)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from sdk.atomic import write_json, write_text

    out = args.json or args.models / "bench.json"
    markdown = format_markdown(result)
    # Each file is atomic; the JSON (what other tools read) lands last, after its table and figure.
    write_text(out.with_suffix(".md"), markdown + "\n")
    plot(result, out.with_suffix(".png"))
    write_json(out, result)
    print(markdown)
    print(f"\nwrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
