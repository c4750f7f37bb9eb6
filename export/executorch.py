"""ExecuTorch: `torch.export` -> `to_edge_transform_and_lower` (XNNPACK) -> `.pte`.

int8 goes through PT2E with torchao's `ComposableQuantizer([EmbeddingQuantizer(),
XNNPACKQuantizer])`. The XNNPACK quantizer (static per-channel, calibrated on
training samples; `quantization="dynamic"` for dynamically quantized activations)
annotates only linear and convolution nodes: the masked-softmax term
`(presence - 1) * 1e9`, the gating stay fp32 (an int8 `add` could not hold 1e9);
the recurrent `baddbmm` is first rewritten as per-direction `linear`
(export.rewrite) so its weights become int8 too. The embedding quantizer gives
every `nn.Embedding` table (the token modality's vocabulary, most of the live
model's weights) weight-only uint8 with one scale and zero point per row;
XNNPACK has no embedding op, so `dequantize_per_channel -> embedding` stays
outside the delegate and `to_executorch` with `do_quant_fusion_and_const_prop`
(ExecuTorch's QuantFusionPass) fuses it into
`quantized_decomposed::embedding_byte`, which reads the uint8 table directly: no
fp32 copy of the table is left in the .pte. That kernel lives in
libexecutorch_kernels_quantized (linked by sdk/runtime/native_build.py; in
ExecuTorch's Python runtime, `import executorch.kernels.quantized` registers it).

Delegation report (`delegation_report`): nodes inside XNNPACK subgraphs versus
call_function nodes left to ExecuTorch's portable kernels. `getitem` nodes that
only unpack a delegate's outputs are bookkeeping and not counted. Nodes whose
every input is a lifted constant (the `_to_dim_order_copy` of scalar constants
that `torch.export` lifts) are counted as non-delegated in `delegated_fraction`
and also listed as `constant_only_nodes`, with the fraction that leaves them out
as `delegated_fraction_excluding_constants`.
"""
from __future__ import annotations

import operator
from collections import Counter
from pathlib import Path

import torch

from export.manifest import tool_versions as _versions
from sdk.atomic import write_bytes

ANNOTATED_OPS = {torch.ops.aten.linear.default, torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default}


def tool_versions() -> dict[str, str]:
    return _versions("executorch", "torchao")


def _xnnpack_partitioner():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner()


RELU_OPS = {torch.ops.aten.relu.default, torch.ops.aten.relu_.default}


def in_module(node, class_name: str) -> bool:
    """Whether an exported graph node was traced inside a module of class `class_name`."""
    stack = node.meta.get("nn_module_stack") or {}
    return any(isinstance(v, tuple) and len(v) > 1 and class_name in str(v[1]) for v in stack.values())


def in_frontend(node) -> bool:
    """Whether an exported graph node belongs to a waveform modality's LogMelFrontEnd (kept fp32)."""
    return in_module(node, "LogMelFrontEnd")


def quantize_pt2e(model, example_inputs, calibration, quantization: str):
    """PT2E int8: the embedding quantizer on embedding tables, the XNNPACK quantizer on linear
    and conv nodes (composed); returns the converted module."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.composable_quantizer import ComposableQuantizer
    from torchao.quantization.pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer

    dynamic = quantization == "dynamic"
    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))
    # The conv annotator applies the filter to its whole partition (the conv node and its
    # weight and bias nodes), the linear one to the linear node only: let non-call_function
    # nodes through, or no conv is ever annotated and their weights stay fp32.
    # The log-mel front end (sdk.frontend) stays fp32: one int8 scale cannot hold a power
    # spectrum's dynamic range (quiet bands would round to 0 and read log(1e-6)).
    # In the live face CNN (conv + ReLU blocks), the quantizer annotates conv and ReLU as one
    # partition: let those ReLUs through too, or its convs stay fp32.
    quantizer.set_filter_function(
        lambda node: node.op != "call_function"
        or (node.target in ANNOTATED_OPS and not in_frontend(node))
        or (node.target in RELU_OPS and in_module(node, "FaceEncoder")))
    from export.rewrite import linear_recurrence

    captured = torch.export.export(linear_recurrence(model), tuple(example_inputs)).module()
    # Embedding tables (the token modality's vocabulary) get uint8 weights, one scale and zero
    # point per row (weight-only; XNNPACK has no embedding, so the lookup stays outside the
    # delegate and QuantFusionPass turns dequantize + embedding into quantized_decomposed::embedding_byte).
    prepared = prepare_pt2e(captured, ComposableQuantizer([EmbeddingQuantizer(), quantizer]))
    if not dynamic:
        if not calibration:
            raise ValueError("static int8 needs calibration samples (--calibration N > 0)")
        with torch.no_grad():
            for sample in calibration:
                prepared(*sample)
    return convert_pt2e(prepared)


def lower(module, example_inputs, partitioner=None):
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(module, tuple(example_inputs))
    partitioners = [partitioner if partitioner is not None else _xnnpack_partitioner()]
    return to_edge_transform_and_lower(program, partitioner=partitioners)


def export(model, example_inputs, path, precision="fp32", calibration=(), quantization="static",
           embed: dict | None = None, partitioner=None) -> dict:
    notes: dict = {}
    module = model
    if precision == "int8":
        module = quantize_pt2e(model, example_inputs, calibration, quantization)
        notes["quantization"] = {
            "mode": quantization, "flow": "PT2E, ComposableQuantizer(EmbeddingQuantizer, XNNPACKQuantizer)",
            "ops": "linear, conv, embedding",
            "weights": "linear/conv: int8 per-channel symmetric; embedding: uint8 per-row affine "
                       "(weight-only, quantized_decomposed::embedding_byte)",
            "activations": "int8 asymmetric, " + ("computed at run time" if quantization == "dynamic"
                                                   else "MinMax-calibrated"),
            "calibration_samples": 0 if quantization == "dynamic" else len(calibration),
            "kept_fp32": "masked softmax (presence-1)*1e9, gating, LayerNorm, elementwise ops",
        }
    edge = lower(module, example_inputs, partitioner)
    notes["delegation"] = delegation_report(edge)
    program = edge.to_executorch(backend_config(precision))
    if precision == "int8":
        notes["quantization"]["embedding_byte_ops"] = count_ops(program, "embedding_byte")
    write_bytes(Path(path), program.buffer)
    return notes


def backend_config(precision: str):
    """`to_executorch` config: int8 runs ExecuTorch's quant fusion + constant propagation
    (`do_quant_fusion_and_const_prop`, QuantFusionPass), so a `dequantize_per_channel -> embedding`
    left outside XNNPACK becomes `quantized_decomposed::embedding_byte` reading the uint8 table."""
    from executorch.exir import ExecutorchBackendConfig

    return ExecutorchBackendConfig(do_quant_fusion_and_const_prop=precision == "int8")


def count_ops(program, name: str) -> int:
    """How many of an ExecuTorch program's non-delegated operator calls are named `name`
    (e.g. "embedding_byte")."""
    graph = program.exported_program().graph_module.graph
    return sum(1 for node in graph.nodes if node.op == "call_function" and name in str(node.target))


def delegation_report(edge) -> dict:
    program = edge.exported_program()
    graph_module = program.graph_module
    signature = program.graph_signature
    constants = set(signature.inputs_to_lifted_tensor_constants) | set(signature.inputs_to_parameters) | set(
        signature.inputs_to_buffers)
    delegated, subgraphs, backends = 0, 0, Counter()
    outside: Counter = Counter()
    constant_only: Counter = Counter()
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if "executorch_call_delegate" in str(node.target):
            subgraphs += 1
            lowered = getattr(graph_module, node.args[0].target)
            backends[lowered.backend_id] += 1
            delegated += sum(1 for n in lowered.original_module.graph.nodes
                             if n.op == "call_function" and n.target is not operator.getitem)
            continue
        name = getattr(node.target, "__name__", str(node.target))
        inputs = [a for a in node.all_input_nodes]
        if inputs and all(a.op == "placeholder" and a.name in constants for a in inputs):
            constant_only[name] += 1
        outside[name] += 1
    total = delegated + sum(outside.values())
    constant_count = sum(constant_only.values())
    return {
        "delegated_nodes": delegated,
        "non_delegated_nodes": sum(outside.values()),
        "delegated_subgraphs": subgraphs,
        "backends": dict(backends),
        "non_delegated_ops": dict(outside),
        "constant_only_nodes": dict(constant_only),
        "delegated_fraction": delegated / total if total else 0.0,
        "delegated_fraction_excluding_constants": delegated / (total - constant_count) if total > constant_count else 0.0,
    }


def load(path, threads: int = 1):
    """The .pte in the SDK's own runner (sdk.runtime.native through sdk.runtime.runners.ExecuTorchRunner):
    export verifies an artifact with the loader that will run it, not with executorch.runtime."""
    from sdk.runtime.backends import load_runner

    return load_runner("executorch", path, threads)


#: Core ML compute units, as ExecuTorch's Core ML backend writes its `compute_units` compile spec
#: (coremltools' `ComputeUnit` names in lower case) and as the iOS core reads them from the manifest
#: (ios_demo/Sources/EmoEdgeCore/Accelerator.swift, `ComputeUnits`). The first is ExecuTorch's default.
COREML_COMPUTE_UNITS = ("all", "cpu_and_gpu", "cpu_and_ne", "cpu_only")

#: Core ML's compute precision with ExecuTorch's default compile specs: an "fp32" Core ML .pte computes in fp16.
COREML_COMPUTE_PRECISION = "float16"


def check_coreml_compute_units(units: str) -> str:
    """`units` if it is one of COREML_COMPUTE_UNITS, else a ValueError naming the choices."""
    if units not in COREML_COMPUTE_UNITS:
        raise ValueError(f"Core ML compute units {units!r} are not one of {', '.join(COREML_COMPUTE_UNITS)} "
                         "(coremltools ComputeUnit names: all = CPU, GPU and Neural Engine; cpu_and_ne = CPU and "
                         "Neural Engine; cpu_and_gpu; cpu_only)")
    return units


def coreml_partitioner(compute_units: str = COREML_COMPUTE_UNITS[0]):
    """A CoreMLPartitioner whose compile specs fix the compute units the .pte asks Core ML for
    (`CoreMLBackend.generate_compile_specs(compute_unit=...)`; the other specs keep ExecuTorch's defaults:
    fp16 compute precision, no minimum deployment target)."""
    check_coreml_compute_units(compute_units)
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    unit = ct.ComputeUnit[compute_units.upper()]
    return CoreMLPartitioner(compile_specs=CoreMLBackend.generate_compile_specs(compute_unit=unit))


def other_partitioners() -> dict:
    """Core ML and Vulkan partitioners, for the attempts the report records."""
    found = {}
    try:
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        found["coreml"] = CoreMLPartitioner
    except Exception as err:  # noqa: BLE001 - the reason goes in the report
        found["coreml"] = err
    try:
        from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner

        found["vulkan"] = VulkanPartitioner
    except Exception as err:  # noqa: BLE001
        found["vulkan"] = err
    return found
