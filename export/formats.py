"""The export formats as one table (Ultralytics style) and the interface each format module implements.

Every format module (`export.onnx`, `export.executorch`, `export.litert`) provides:

    export(model, example_inputs, path, precision, calibration, quantization) -> dict
        write the artifact at `path`; return notes for the manifest and report
        (e.g. {"quantization": {...}, "delegation": {...}}).
    load(path, threads=1) -> sdk.runtime.runners.Runner: (list[np.ndarray]) -> (logits, gate_weights)
        the artifact in the runtime SDK's own runner (onnxruntime, the native ExecuTorch runner,
        ai_edge_litert): an artifact is verified by the loader that will run it.
    tool_versions() -> dict[str, str]

Inputs are always the modality tensors in spec order then `presence` (batch 1,
static shapes); outputs are `logits` and `gate_weights` (sdk.model's signature).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from sdk.runtime.manifest import OUTPUT_NAMES, input_names  # noqa: F401 - the runtime's names, re-exported

PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class Format:
    name: str  # the --format value
    suffix: str  # file suffix of the artifact
    precisions: tuple[str, ...]
    runtime: str  # the runtime that verifies it
    module: str  # the module implementing the interface above

    def implementation(self):
        return importlib.import_module(self.module)

    def artifact_name(self, precision: str) -> str:
        return f"model_{precision}{self.suffix}"


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("executorch", ".pte", PRECISIONS, "ExecuTorch native runner (XNNPACK)", "export.executorch"),
        Format("litert", ".tflite", PRECISIONS, "ai_edge_litert Interpreter", "export.litert"),
        Format("onnx", ".onnx", PRECISIONS, "onnxruntime (CPU)", "export.onnx"),
    )
}


def parse_list(text: str, allowed, what: str) -> list[str]:
    """'a,b' -> ['a', 'b'], with an error naming the allowed values."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ValueError(f"unknown {what} {bad or text!r}; choose from {', '.join(allowed)} (comma-separated)")
    return items
