"""`python -m export`: export a checkpoint to ExecuTorch, LiteRT and ONNX (fp32, int8) and verify each.

    python -m export --checkpoint runs/mosi --format executorch,litert,onnx \\
        --precision fp32,int8 --calibration 128 --out dist/mosi --min-metric 0.75

Writes DIST_DIR/<format>/model_<precision>.<suffix> with <artifact>.json (the
manifest) beside each, DIST_DIR/report.json and report.md. Exit status: 0 when
every artifact is ✅ (and at or above --min-metric), 1 otherwise, 2 on bad usage.
Without --checkpoint a small model is trained on the built-in synthetic data first
(into DIST_DIR/trained).

DIST_DIR is committed as a whole (sdk.atomic.staged_dir): everything is written into a
hidden sibling staging directory and swapped in at the end, so a kill leaves the
previous export (artifacts, manifests and report.json of one checkpoint) or the
complete new one; report.json records the checkpoint's sha256 and each artifact's.
An existing DIST_DIR is replaced; a non-empty directory without report.json is refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from export.formats import FORMATS, PRECISIONS, parse_list

#: An existing --out holding this is a previous export (replaced as a whole); any other non-empty one is refused.
DIST_MARKER = "report.json"


def qnn_unavailable() -> str:
    """Why the Qualcomm QNN `.pte` route cannot run here (always a reason: it is documented, not wired in).

    ExecuTorch's QNN backend lowers through the Qualcomm AI Engine Direct (QNN) SDK: its host libraries
    (libQnnHtp.so and friends under $QNN_SDK_ROOT/lib/x86_64-linux-clang) must be present at export time
    and its device libraries pushed beside the app. That SDK is a registration-gated download from
    Qualcomm, not a PyPI package, so it cannot be installed here."""
    import os

    root = os.environ.get("QNN_SDK_ROOT")
    fix = ("install the Qualcomm AI Engine Direct (QNN) SDK from Qualcomm, set QNN_SDK_ROOT to it, and follow "
           "ExecuTorch's Qualcomm backend guide; then export with its QnnPartitioner")
    if not root:
        return f"--delegates qnn: the Qualcomm QNN SDK is not installed (QNN_SDK_ROOT is not set); {fix}"
    if not (Path(root) / "lib" / "x86_64-linux-clang" / "libQnnHtp.so").is_file():
        return f"--delegates qnn: QNN_SDK_ROOT={root} holds no lib/x86_64-linux-clang/libQnnHtp.so: not a QNN SDK; {fix}"
    return ("--delegates qnn: the QNN SDK is installed but this exporter does not lower to QNN yet; use ExecuTorch's "
            "Qualcomm backend scripts with the manifest of the XNNPACK export")


def coreml_compute_units(value: str | None, delegates: list[str]) -> str:
    """The --coreml-compute-units value checked against the choices (default ExecuTorch's, "all");
    it must come with --delegates coreml, the only artifact it changes."""
    from export.executorch import COREML_COMPUTE_UNITS, check_coreml_compute_units

    if value is None:
        return COREML_COMPUTE_UNITS[0]
    units = value.strip().lower()
    try:
        check_coreml_compute_units(units)
    except ValueError:
        raise ValueError(f"--coreml-compute-units {value!r}: choose from {', '.join(COREML_COMPUTE_UNITS)}") from None
    if "coreml" not in delegates:
        raise ValueError("--coreml-compute-units sets the Core ML .pte's compute units: add --delegates coreml")
    return units


class _UsageError(ValueError):
    """Bad input found after the staging directory exists (exit 2, nothing committed)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="run directory or model.pt (default: train a built-in model)")
    parser.add_argument("--format", default=",".join(FORMATS), help=f"comma-separated: {', '.join(FORMATS)}")
    parser.add_argument("--precision", default=",".join(PRECISIONS), help="comma-separated: fp32, int8")
    parser.add_argument("--calibration", type=int, default=128, help="training samples for static int8")
    parser.add_argument("--out", default="dist", help="output directory")
    parser.add_argument("--data", help="dataset path (default: where training found it)")
    parser.add_argument("--min-metric", type=float, help="exit 1 when any artifact's test accuracy is below this")
    parser.add_argument("--max-test-samples", type=int, help="verify on the first N test samples only (quick runs)")
    parser.add_argument("--delegates", default="", help="also try these ExecuTorch partitioners: coreml,vulkan (qnn: says what it needs)")
    parser.add_argument("--coreml-compute-units", metavar="UNITS",
                        help="with --delegates coreml: the compute units the Core ML .pte is lowered for, "
                             "one of all (default, ExecuTorch's), cpu_and_gpu, cpu_and_ne, cpu_only; "
                             "recorded in its manifest as notes.delegation.compute_units")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        formats = parse_list(args.format, FORMATS, "format")
        precisions = parse_list(args.precision, PRECISIONS, "precision")
        if args.calibration < 0:
            raise ValueError("--calibration must be >= 0")
        delegates = parse_list(args.delegates, ("coreml", "vulkan", "qnn"), "delegate") if args.delegates else []
        if "qnn" in delegates:
            raise ValueError(qnn_unavailable())
        compute_units = coreml_compute_units(args.coreml_compute_units, delegates)
        from sdk.atomic import check_output_dir, staged_dir

        out = check_output_dir(Path(args.out), ours=(DIST_MARKER,))  # before any training or export
        loaded = _load(args.checkpoint, args.data) if args.checkpoint else None
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from export.pipeline import export_other_delegates, run
    from export.report import write_report

    try:
        with staged_dir(out, ours=(DIST_MARKER,)) as stage:
            checkpoint = args.checkpoint
            if loaded is None:
                checkpoint = _train_builtin(stage / "trained", args.quiet)
                try:
                    loaded = _load(checkpoint, args.data)
                except (ValueError, FileNotFoundError) as err:
                    raise _UsageError(str(err)) from None
            model, payload, splits, checkpoint_sha = loaded
            report = run(model, splits, formats, precisions, stage, args.calibration, progress=not args.quiet,
                         max_test_samples=args.max_test_samples)
            if delegates:
                report["other_delegates"] = export_other_delegates(model, splits, stage, delegates,
                                                                   coreml_compute_units=compute_units)
            report["command"] = "python -m export " + " ".join(sys.argv[1:] if argv is None else argv)
            shown = "trained/model.pt" if args.checkpoint is None else str(checkpoint)
            report["checkpoint"] = {"path": shown, "sha256": checkpoint_sha}
            table = write_report(stage, report)
    except _UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table)
    for check in report["checks"]:
        print(f"{'pass' if check['passed'] else 'FAIL'}: {check['name']} ({check['value']})")
    print(f"{len(report['artifacts'])} artifacts in {report['seconds']:.0f} s; report: {Path(args.out) / 'report.json'}")
    failed = [a for a in report["artifacts"] if a["status"] != "ok"]
    if args.min_metric is not None:
        below = [a for a in report["artifacts"]
                 if a["test"]["accuracy"] is None or a["test"]["accuracy"] < args.min_metric]
        for a in below:
            accuracy = "none" if a["test"]["accuracy"] is None else f"{a['test']['accuracy']:.4f}"
            print(f"FAIL: {a['format']} {a['precision']} test accuracy {accuracy} < --min-metric {args.min_metric}")
        failed += below
    return 1 if failed else 0


def _load(checkpoint, data_path) -> tuple:
    """(model, payload, splits, sha256 of the checkpoint file)."""
    from export.pipeline import load_splits
    from sdk.atomic import sha256_file
    from sdk.checkpoint import load_checkpoint, resolve_checkpoint

    model, payload = load_checkpoint(checkpoint)
    splits = load_splits(model, payload, data_path)
    return model, payload, splits, sha256_file(resolve_checkpoint(checkpoint))


def _train_builtin(out: Path, quiet: bool) -> Path:
    from sdk.train import main as train

    argv = ["--dataset", "synthetic", "--out", str(out), "--epochs", "3"] + (["--quiet"] if quiet else [])
    if train(argv) != 0:
        raise _UsageError("training the built-in model failed; pass --checkpoint")
    return out


if __name__ == "__main__":
    sys.exit(main())
