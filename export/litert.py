"""LiteRT: `litert_torch.convert` -> `.tflite`; int8 with ai-edge-quantizer recipes.

int8 `quantization="dynamic"` (the default for LiteRT) is the `dynamic_wi8_afp32`
recipe: int8 weights, fp32 activations, so the masked-softmax term
`(presence - 1) * 1e9` is untouched. `"static"` is `static_wi8_ai8` calibrated on
training samples; it quantizes every supported op's activations, the 1e9 mask
included, and measured larger (0.38 of fp32, int16 bias and scale tensors) on the
MOSI model, so it is the fallback, not the default.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from export.manifest import tool_versions as _versions
from sdk.atomic import write_bytes
from sdk.runtime.runners import litert_interpreter, litert_signature


#: A recipe entry that keeps the log-mel front end (sdk.frontend) fp32, as the ONNX and
#: ExecuTorch int8 paths do: with dynamic-range int8 the DFT conv would quantize raw PCM
#: to one int8 scale per tensor (quiet speech keeps a few levels) and the mel conv a power
#: spectrum spanning many decades. The converter names every op's output tensor after its
#: module path, so the front end's ops all match this regex; a later recipe entry wins.
FRONTEND_FP32 = {"regex": ".*LogMelFrontEnd_frontend.*", "operation": "*", "algorithm_key": "no_quantize",
                 "op_config": {}}


def tool_versions() -> dict[str, str]:
    return _versions("litert-torch", "ai-edge-litert", "ai-edge-quantizer")


def export(model, example_inputs, path, precision="fp32", calibration=(), quantization="dynamic",
           embed: dict | None = None, fp32_source: Path | None = None) -> dict:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(fp32_source) if fp32_source else None
        if source is None or not source.is_file():
            import litert_torch

            source = path if precision == "fp32" else Path(tmp) / "fp32.tflite"
            litert_torch.convert(model, tuple(example_inputs)).export(str(source))
        if precision == "fp32":
            if source != path:
                write_bytes(path, source.read_bytes())
            return {}
        return {"quantization": _quantize(source, path, calibration, quantization)}


def _quantize(source: Path, target: Path, calibration, mode: str) -> dict:
    from ai_edge_quantizer import quantizer, recipe

    if mode == "static":
        if not calibration:
            raise ValueError("static int8 needs calibration samples (--calibration N > 0)")
        q = quantizer.Quantizer(str(source), recipe.static_wi8_ai8())
        interpreter = litert_interpreter(source)
        signature, names = litert_signature(interpreter)
        data = {signature: [{n: t.numpy() for n, t in zip(names, sample)} for sample in calibration]}
        result = q.quantize(q.calibrate(data, num_threads=1), enable_progress_report=False)
        notes = {"mode": "static", "recipe": "static_wi8_ai8", "calibration_samples": len(calibration)}
    else:
        q = quantizer.Quantizer(str(source), recipe.dynamic_wi8_afp32() + [FRONTEND_FP32])
        result = q.quantize(enable_progress_report=False)
        notes = {"mode": "dynamic", "recipe": "dynamic_wi8_afp32", "weights": "int8",
                 "activations": "fp32 (the 1e9 presence mask stays exact)",
                 "kept_fp32": "log-mel front end (ops under LogMelFrontEnd)"}
    target.unlink(missing_ok=True)
    result.export_model(str(target), overwrite=True)
    return notes


def load(path, threads: int = 1):
    """The artifact in the SDK's own LiteRT runner (sdk.runtime.runners.LiteRTRunner): verified as it will run."""
    from sdk.runtime.backends import load_runner

    return load_runner("litert", path, threads)


def runtime_names(path) -> dict:
    key, names = litert_signature(litert_interpreter(path))
    return {"signature": key, "inputs": names}
