"""Export every (format, precision), write manifests, verify each artifact, build the report."""
from __future__ import annotations

import time
import traceback
from pathlib import Path

import torch
from tqdm.auto import tqdm

from export import verify
from export.golden import reference_cases, write_golden
from export.formats import FORMATS
from export.manifest import build_manifest, check_artifact, finalize
from export.report import empty_entry
from export.rewrite import fold_batch_norms, fold_generated_kernels
from sdk.atomic import crash_point

#: int8 quantization tried first per format; a static result that fails verification
#: is redone dynamically (ONNX, ExecuTorch) and the reason recorded.
#: ONNX: dynamic, because on our batch-1 models static QDQ was both larger (35.7 % of fp32:
#: 381 Q/DQ nodes) and slower in ONNX Runtime (0.80 ms against 0.47 ms fp32) than dynamic.
FIRST_INT8_MODE = {"onnx": "dynamic", "executorch": "static", "litert": "dynamic"}


def load_splits(model, payload: dict, data_path=None) -> dict:
    """The checkpoint's dataset, normalized with the spec, as train / val / test tensors."""
    from sdk.train import checkpoint_data

    return checkpoint_data(model, payload, data_path)


def calibration_samples(train, count: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """`count` training samples (random, fixed seed), each a batch-1 tuple of model inputs."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:count]
    return [tuple(x[i : i + 1] for x in train.inputs) + (train.presence[i : i + 1],) for i in order.tolist()]


def fixed_front_end_bytes(model) -> int:
    """Bytes of the log-mel front ends' fixed fp32 constants (sdk.frontend; 0 without a waveform input)."""
    from sdk.frontend import LogMelFrontEnd

    return sum(b.numel() * 4 for m in model.modules() if isinstance(m, LogMelFrontEnd) for b in m.buffers())


def export_one(model, fmt, precision, out: Path, example, calibration, mode,
               fp32_paths: dict) -> tuple[Path, dict, str]:
    """Export one artifact and write its manifest; returns (path, notes, the artifact's sha256)."""
    implementation = fmt.implementation()
    path = out / fmt.name / fmt.artifact_name(precision)
    path.parent.mkdir(parents=True, exist_ok=True)
    tools = implementation.tool_versions()
    embed = build_manifest(model.spec, fmt.name, precision, path, tools=tools)
    kwargs = {"embed": embed} if fmt.name == "onnx" else {}
    if fmt.name == "litert" and precision == "int8":
        kwargs["fp32_source"] = fp32_paths.get(fmt.name)
    notes = implementation.export(model, example, path, precision, calibration, mode, **kwargs)
    crash_point(f"exported:{path.name}")  # tests/crash_points.py: a kill between the artifact and its manifest
    if fmt.name == "onnx":
        notes.update(implementation.mobile_report(path))
    runtime_names = implementation.runtime_names(path) if hasattr(implementation, "runtime_names") else {}
    manifest = build_manifest(model.spec, fmt.name, precision, path, notes=notes, tools=tools,
                              runtime_names=runtime_names)
    return path, notes, finalize(manifest, path)["sha256"]


def run(model, splits: dict, formats: list[str], precisions: list[str], out: Path, calibration: int = 128,
        progress: bool = True, max_test_samples: int | None = None) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)
    model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    test, train = splits["test"], splits["train"]
    reference = verify.build_reference(model, test, max_test_samples)
    golden_reference = reference_cases(model, test)  # golden vectors: the model as trained, like `reference`
    ref_metrics = reference.metrics
    torch_latency = verify.latency_ms(lambda xs: model(*[torch.from_numpy(x) for x in xs]), test, repeats=50)
    calib = calibration_samples(train, calibration)
    exported = fold_batch_norms(fold_generated_kernels(model))  # the reference above stays the model as trained
    fixed_bytes = fixed_front_end_bytes(model)
    example = calibration_samples(train, 1)[0]
    artifacts, details, fp32_paths = [], {}, {}
    jobs = [(f, p) for f in formats for p in ("fp32", "int8") if p in precisions]
    for name, precision in tqdm(jobs, desc="export", disable=not progress):
        fmt = FORMATS[name]
        entry = empty_entry(name, precision)
        detail: dict = {}
        modes = [FIRST_INT8_MODE[name]] if precision == "int8" else [None]
        if precision == "int8" and modes[0] == "static":
            modes.append("dynamic")
        previous = None
        for mode in modes:
            entry = empty_entry(name, precision)
            try:  # not under no_grad: PT2E per-channel weight observers then lose their channel axis
                path, notes, sha256 = export_one(exported, fmt, precision, out, example, calib, mode, fp32_paths)
            except Exception as err:  # noqa: BLE001 - recorded in the report, the run goes on
                entry["error"] = f"export failed: {type(err).__name__}: {err}".splitlines()[0][:500]
                if previous is not None:  # the fallback failed: keep the first attempt (its files are in place)
                    entry, detail = previous[0], {**previous[1], "fallback_error": entry["error"]}
                    break
                detail = {"traceback": traceback.format_exc()[-2000:]}
                continue
            entry["path"] = str(path.relative_to(out))
            entry["size_bytes"] = path.stat().st_size
            entry["sha256"] = sha256
            detail = {"notes": notes, **({"previous_attempt": detail} if detail else {})}
            golden_file = write_golden(path, name, precision, sha256, model.spec, golden_reference)
            detail["golden"] = str(golden_file.relative_to(out))
            delegation = notes.get("delegation")
            if delegation:
                entry["delegated_fraction"] = delegation["delegated_fraction"]
            try:
                check_artifact(path)
                runner = fmt.implementation().load(path, threads=1)
                result = verify.evaluate(runner, reference)
                entry["latency_ms_p50"] = verify.latency_ms(runner, test)
                runner.close()  # the SDK's runner (sdk.runtime.runners): release the runtime now
            except Exception as err:  # noqa: BLE001
                entry["status"] = "verify_failed"
                entry["error"] = f"verification failed: {type(err).__name__}: {err}".splitlines()[0][:500]
                continue
            entry["test"] = result["test"]
            entry["max_abs_prob_diff"] = result["max_abs_prob_diff"]
            entry["top1_agreement"] = result["top1_agreement"]
            detail["subsets"] = result["subsets"]
            ratio = None
            if precision == "int8" and name in fp32_paths:
                fp32_size = fp32_paths[name].stat().st_size
                detail["size_ratio_to_fp32"] = entry["size_bytes"] / fp32_size
                # the fixed log-mel constants stay fp32 in every int8 artifact by design (see the
                # exporters): the size check compares what quantization can shrink
                ratio = (entry["size_bytes"] - fixed_bytes) / (fp32_size - fixed_bytes)
                if fixed_bytes:
                    detail["size_ratio_to_fp32_without_fixed_front_end"] = ratio
            failures = verify.check(precision, result, ref_metrics["accuracy"], ratio)
            entry["status"] = "verify_failed" if failures else "ok"
            entry["error"] = "; ".join(failures) or None
            if precision == "fp32" and not failures:
                fp32_paths[name] = path
            if not failures or mode == modes[-1]:
                break
            previous = (entry, detail)
            detail = {"mode": mode, "failed": failures}
            if precision == "int8":
                detail["fallback_reason"] = f"{mode} int8 failed verification: {'; '.join(failures)}"
        if precision == "int8" and detail.get("previous_attempt", {}).get("failed"):
            detail["fallback_reason"] = detail["previous_attempt"].get("fallback_reason")
        artifacts.append(entry)
        details[f"{name}/{precision}"] = detail
    report = {
        "artifacts": artifacts,
        "seconds": time.perf_counter() - started,
        "reference": {**{k: ref_metrics[k] for k in ("accuracy", "weighted_f1")}, "latency_ms_p50": torch_latency,
                      "test_samples": len(reference.subsets[reference.full]), "subsets": list(reference.subsets),
                      "size_bytes": sum(p.numel() * p.element_size() for p in model.parameters())},
        "checks": summary_checks(artifacts),
        "details": details,
    }
    return report


def summary_checks(artifacts: list[dict]) -> list[dict]:
    """Cross-artifact checks of the issue: ExecuTorch latency vs ONNX Runtime, delegation."""
    by = {(a["format"], a["precision"]): a for a in artifacts}
    checks = []
    et, ort = by.get(("executorch", "fp32")), by.get(("onnx", "fp32"))
    if et and ort and et["latency_ms_p50"] and ort["latency_ms_p50"]:
        ratio = et["latency_ms_p50"] / ort["latency_ms_p50"]
        checks.append({"name": "ExecuTorch fp32 latency <= 1.5x ONNX Runtime fp32", "passed": ratio <= 1.5,
                       "value": f"{et['latency_ms_p50']:.3f} ms / {ort['latency_ms_p50']:.3f} ms = {ratio:.2f}x"})
    if et and et["delegated_fraction"] is not None:
        checks.append({"name": "ExecuTorch fp32 >= 95% of nodes delegated to XNNPACK",
                       "passed": et["delegated_fraction"] >= 0.95, "value": f"{100 * et['delegated_fraction']:.1f}%"})
    return checks


def export_other_delegates(model, splits: dict, out: Path, names=("coreml", "vulkan"),
                           coreml_compute_units: str = "all") -> dict:
    """Core ML- and Vulkan-delegated `.pte` files, where those partitioners lower here.

    They are not verified: the ExecuTorch runner on this Linux host has neither a Core ML
    nor a Vulkan backend, so the report records the delegation and why no parity.
    The Core ML `.pte` is lowered for `coreml_compute_units` (a compile spec inside the file);
    its manifest records them as `notes.delegation.compute_units`, which the iOS app reads.
    """
    from export import executorch

    executorch.check_coreml_compute_units(coreml_compute_units)
    model = fold_batch_norms(fold_generated_kernels(model))
    example = calibration_samples(splits["train"], 1)[0]
    partitioners = executorch.other_partitioners()
    results = {}
    for name in names:
        found = partitioners.get(name)
        if found is None or isinstance(found, Exception):
            results[name] = {"status": "export_failed", "error": f"partitioner unavailable: {found}"}
            continue
        path = out / "executorch" / f"model_fp32_{name}.pte"
        try:
            partitioner = executorch.coreml_partitioner(coreml_compute_units) if name == "coreml" else found()
            with torch.no_grad():
                notes = executorch.export(model, example, path, partitioner=partitioner)
            if name == "coreml":
                notes["delegation"]["compute_units"] = coreml_compute_units
                notes["delegation"]["compute_precision"] = executorch.COREML_COMPUTE_PRECISION
            manifest = build_manifest(model.spec, f"executorch-{name}", "fp32", path, notes=notes,
                                      tools=executorch.tool_versions())
            finalize(manifest, path)
            results[name] = {"status": "exported_unverified", "path": str(path.relative_to(out)),
                             "size_bytes": path.stat().st_size, "delegation": notes["delegation"],
                             "why_unverified": f"no {name} backend in the ExecuTorch runner on this Linux x86 host"}
        except Exception as err:  # noqa: BLE001
            results[name] = {"status": "export_failed", "error": f"{type(err).__name__}: {err}"[:500]}
    return results
