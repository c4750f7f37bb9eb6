"""ONNX: `torch.onnx.export(dynamo=True)`, onnx.checker full check, onnxruntime int8 quantization.

int8 is QDQ static (calibrated on training samples) for MatMul/Gemm/Conv only:
the masked-softmax term `(presence - 1) * 1e9` and the gating arithmetic stay fp32,
since one int8 scale cannot hold both 1e9 and attention scores. `quantization=
"dynamic"` gives int8 weights with activations quantized at run time instead.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from export.formats import OUTPUT_NAMES, input_names
from export.manifest import EMBEDDED_KEY, tool_versions as _versions
from sdk.atomic import write_bytes

QUANTIZED_OP_TYPES = ["MatMul", "Gemm", "Conv"]
#: Dynamic int8 also stores embedding tables (Gather on an initializer) as int8: the live
#: model's text embedding is 977 k of its 1.59 M parameters, and without this its ONNX int8
#: file was 0.73 of fp32.
DYNAMIC_OP_TYPES = QUANTIZED_OP_TYPES + ["Gather"]


def tool_versions() -> dict[str, str]:
    return _versions("onnx", "onnxruntime", "onnxscript")


def export(model, example_inputs, path, precision="fp32", calibration=(), quantization="static",
           embed: dict | None = None) -> dict:
    import onnx
    import torch  # here, not at the top: `load` (the runtime path) must not pull torch in

    path = Path(path)
    names = input_names(model.spec)
    notes: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        program = torch.onnx.export(model, tuple(example_inputs), dynamo=True, input_names=names,
                                    output_names=list(OUTPUT_NAMES), verbose=False)
        program.save(str(fp32_path))
        if precision == "int8":
            notes["quantization"] = _quantize(fp32_path, Path(tmp) / "int8.onnx", names, calibration, quantization)
            fp32_path = Path(tmp) / "int8.onnx"
        proto = onnx.load(str(fp32_path))
        # The dynamo exporter annotates every node with its stack trace, class hierarchy and
        # FX name: debugging data, over half the file of a small model. Phones need none of it.
        # value_info (intermediate shape annotations) is optional for every runtime too.
        for node in proto.graph.node:
            del node.metadata_props[:]
        del proto.graph.value_info[:]
        onnx.checker.check_model(proto, full_check=True)
        notes["checker"] = "onnx.checker full_check passed"
        if embed is not None:
            del proto.metadata_props[:]
            entry = proto.metadata_props.add()
            entry.key, entry.value = EMBEDDED_KEY, json.dumps(embed)
        write_bytes(path, proto.SerializeToString())
    return notes


def untranspose_gemm_weights(proto) -> int:
    """Store each Gemm(transB=1) weight initializer transposed and set transB=0; returns how many.

    Numerically the same graph. ORT's dynamic quantizer turns Gemm(transB=1) into MatMul by
    transposing B in place once per node, assuming B has no other user; a weight that an
    unrolled recurrence shares across k steps is then transposed k times, which leaves a
    square matrix silently wrong when k is even (MFDR's GCPU: top-1 agreement fell to 0.93).
    With transB=0 already, there is nothing left for it to transpose.
    """
    from onnx import numpy_helper

    initializers = {t.name: t for t in proto.graph.initializer}
    users: dict[str, list] = {}
    for node in proto.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def trans_b(node) -> int:
        return next((a.i for a in node.attribute if a.name == "transB"), 0)

    done = 0
    for name, tensor in initializers.items():
        gemms = [n for n in users.get(name, []) if n.op_type == "Gemm" and n.input[1] == name and trans_b(n) == 1]
        if not gemms:
            continue
        transposed = numpy_helper.from_array(numpy_helper.to_array(tensor).T.copy(), name)
        if len(gemms) < len(users[name]):  # other users keep the original: the Gemms get their own copy
            transposed.name = f"{name}__transposed"
            proto.graph.initializer.append(transposed)
        else:
            tensor.CopyFrom(transposed)
        for node in gemms:
            node.input[1] = transposed.name
            next(a for a in node.attribute if a.name == "transB").i = 0
        done += 1
    return done


def frontend_nodes(proto) -> list[str]:
    """Names of the nodes that read a log-mel front-end constant (its DFT and mel convs):
    they stay fp32 in int8 models (one int8 scale cannot hold a power spectrum's range)."""
    fixed = {init.name for init in proto.graph.initializer if "frontend" in init.name}
    return [node.name for node in proto.graph.node if node.name and fixed.intersection(node.input)]


def depthwise_conv_nodes(proto) -> list[str]:
    """Names of the grouped (depthwise) Conv nodes: they stay fp32 in dynamic int8.

    Dynamic int8 here is per-tensor (per-channel crashes onnxruntime's MatMulIntegerToFloat
    on the live model), and one scale over a depthwise kernel's channels, whose ranges
    differ by orders of magnitude, flattens most of them; their weights are a few thousand
    values, so keeping them fp32 costs almost no size."""
    def group(node) -> int:
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    return [node.name for node in proto.graph.node if node.op_type == "Conv" and node.name and group(node) > 1]


#: Dynamic int8 leaves a MatMul/Gemm/Conv fp32 when its weight has at most this many values.
SMALL_WEIGHT_VALUES = 4096


def small_weight_nodes(proto, max_values: int | None = None) -> list[str]:
    """Names of the MatMul/Gemm/Conv nodes whose weights hold at most `max_values` values
    (64x64 and smaller): they stay fp32 in dynamic int8.

    On the live model these are 9 nodes beyond the depthwise convs (the face and mel CNNs'
    stems and first pointwise convs, two small linear maps), and quantizing each one's input
    to int8 at run time cost more
    fidelity than bytes: with them fp32, top-1 agreement with fp32 went from 0.978 to 0.989 over
    the export's 1,080 paired test rows x 7 subsets, at 0.345 of the fp32 file
    (RESULTS.md, "Export of the live model")."""
    limit = SMALL_WEIGHT_VALUES if max_values is None else max_values  # read at call time (tests lower it)
    sizes = {init.name: int(np.prod(init.dims)) for init in proto.graph.initializer}
    return [node.name for node in proto.graph.node
            if node.op_type in QUANTIZED_OP_TYPES and node.name
            and 0 < max([sizes.get(name, 0) for name in node.input[1:]] + [0]) <= limit]


def _quantize(source: Path, target: Path, names, calibration, mode: str) -> dict:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode == "dynamic":
        # The dynamo exporter's value_info disagrees with ORT's shape inference: drop it first.
        lean = onnx.load(str(source))
        del lean.graph.value_info[:]
        untranspose_gemm_weights(lean)
        source = source.with_name("lean.onnx")
        onnx.save(lean, str(source))
        fp32_nodes = frontend_nodes(lean)
        depthwise = depthwise_conv_nodes(lean)
        small = sorted(set(small_weight_nodes(lean)) - set(depthwise) - set(fp32_nodes))
        # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2 only) onnxruntime's u8 x s8
        # MatMulInteger sums pairs of products in int16 (vpmaddubsw) and saturates with full-range
        # weights: measured on this AVX2 machine, 17 % of the output range wrong on two chained
        # 16x16 Gemms (tests/test_export.py), 0.4 % in numpy with the same quantized values.
        quantize_dynamic(str(source), str(target), op_types_to_quantize=DYNAMIC_OP_TYPES,
                         weight_type=QuantType.QInt8, per_channel=False, reduce_range=True,
                         nodes_to_exclude=fp32_nodes + depthwise + small)
        kept = [f"log-mel front end ({len(fp32_nodes)} nodes)"] * bool(fp32_nodes)
        kept += [f"depthwise convs ({len(depthwise)} nodes)"] * bool(depthwise)
        kept += [f"weights of <= {SMALL_WEIGHT_VALUES} values ({len(small)} nodes)"] * bool(small)
        return {"mode": "dynamic", "ops": DYNAMIC_OP_TYPES, "weights": "int8 per-tensor (7-bit range)",
                "activations": "int8, ranges computed at run time",
                **({"kept_fp32": ", ".join(kept)} if kept else {})}
    if not calibration:
        raise ValueError("static int8 needs calibration samples (--calibration N > 0)")
    prepared = source.with_name("prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{n: t.numpy() for n, t in zip(names, sample)} for sample in calibration])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=QUANTIZED_OP_TYPES, per_channel=True,
                    nodes_to_exclude=frontend_nodes(onnx.load(str(prepared))),
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return {"mode": "static", "format": "QDQ", "ops": QUANTIZED_OP_TYPES, "weights": "int8 per-channel symmetric",
            "activations": "int8 asymmetric, MinMax-calibrated", "calibration_samples": len(calibration),
            "kept_fp32": "masked softmax (presence-1)*1e9, gating, LayerNorm, elementwise ops"}


def load(path, threads: int = 1):
    """The artifact in the SDK's own ONNX runner (sdk.runtime.runners.OnnxRunner): verified as it will run."""
    from sdk.runtime.backends import load_runner

    return load_runner("onnx", path, threads)


def mobile_report(path) -> dict:
    """onnxruntime's mobile usability checker (NNAPI / Core ML partitions) and ORT-format conversion."""
    path = Path(path)
    result = {}
    checker = subprocess.run([sys.executable, "-m", "onnxruntime.tools.check_onnx_model_mobile_usability",
                              str(path)], capture_output=True, text=True, timeout=300)
    lines = (checker.stdout + checker.stderr).splitlines()
    result["mobile_usability"] = [ln.split(" - ", 1)[-1] for ln in lines if ln.strip()][-40:]
    with tempfile.TemporaryDirectory() as tmp:
        converted = subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort",
                                    str(path), "--output_dir", tmp], capture_output=True, text=True, timeout=300)
        ort_files = sorted(Path(tmp).glob("*.ort"))
        if converted.returncode == 0 and ort_files:
            target = path.with_suffix(".ort")
            write_bytes(target, ort_files[0].read_bytes())
            result["ort_format"] = {"path": target.name, "size_bytes": target.stat().st_size}
        else:
            result["ort_format"] = {"error": (converted.stderr or converted.stdout)[-500:]}
    return result
