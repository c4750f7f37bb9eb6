"""Export: the format table, manifests, tamper checks, ONNX and ExecuTorch on a tiny model.

LiteRT conversion and int8 ExecuTorch lowering are slow: those are marked `slow`.
"""
import importlib
import json
import shutil

import numpy as np
import pytest
import torch

from export.formats import FORMATS, parse_list
from export.manifest import ArtifactError, check_artifact, sidecar_path
from export.report import format_table
from export.rewrite import linear_recurrence
from sdk.model import EmotionModel
from sdk.spec import FEATURES, TOKENS, ModalitySpec, ModelSpec, Normalization
from sdk.training import SplitTensors

REPORT_KEYS = {"format", "precision", "status", "path", "size_bytes", "test", "max_abs_prob_diff",
               "top1_agreement", "latency_ms_p50", "delegated_fraction", "error"}


def tiny_spec():
    return ModelSpec(
        modalities=[
            ModalitySpec("audio", FEATURES, 4, feature_dim=5, normalization=Normalization([0.0] * 5, [1.0] * 5)),
            ModalitySpec("text", FEATURES, 4, feature_dim=6, normalization=Normalization([0.0] * 6, [1.0] * 6)),
        ],
        class_names=["neg", "pos"],
        hidden_size=8, ffn_size=8, attention_heads=2, dataset="synthetic",
    )


def tiny_splits(spec, n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for k, split in enumerate(("train", "test")):
        xs = [torch.randn(n, *m.input_shape(), generator=g) for m in spec.modalities]
        presence = torch.ones(n, len(spec.modalities))
        presence[::3, 0] = 0.0  # some samples miss a modality
        xs[0][::3] = 0.0
        splits[split] = SplitTensors(xs, presence, torch.randint(0, 2, (n,), generator=g))
    return splits


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return EmotionModel(tiny_spec()).eval()


@pytest.fixture(scope="module")
def onnx_run(tiny_model, tmp_path_factory):
    from export.pipeline import run

    out = tmp_path_factory.mktemp("dist")
    # Every weight of this 8-wide model is under export.onnx's small-weight threshold (those stay
    # fp32); lowered to 0 here so the int8 path this module checks quantizes them all.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("export.onnx.SMALL_WEIGHT_VALUES", 0)
        report = run(tiny_model, tiny_splits(tiny_model.spec), ["onnx"], ["fp32", "int8"], out, calibration=8,
                     progress=False)
    return out, report


def test_format_table_names_suffixes_and_precisions():
    assert set(FORMATS) == {"executorch", "litert", "onnx"}
    assert {f.suffix for f in FORMATS.values()} == {".pte", ".tflite", ".onnx"}
    assert all(f.precisions == ("fp32", "int8") for f in FORMATS.values())
    assert parse_list("onnx, litert", FORMATS, "format") == ["onnx", "litert"]
    with pytest.raises(ValueError, match="choose from"):
        parse_list("onnx,tensorrt", FORMATS, "format")


def test_linear_recurrence_rewrite_is_exact(tiny_model):
    x = [torch.randn(3, *m.input_shape()) for m in tiny_model.spec.modalities]
    presence = torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    expected = tiny_model(*x, presence)
    got = linear_recurrence(tiny_model)(*x, presence)
    torch.testing.assert_close(got[0], expected[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got[1], expected[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("layer", ["BiGRU", "BiLSTM"])
def test_linear_recurrence_leaves_no_bmm_for_the_quantizer(layer):
    """Both recurrences, rewritten: the same outputs, and no bmm left (a quantizer has no bmm
    pattern: its weights would stay fp32); the recurrent weights are `linear`s."""
    import sdk.layers

    torch.manual_seed(0)
    rnn = getattr(sdk.layers, layer)(6, 5).eval()
    x = torch.randn(2, 7, 6)
    rewritten = linear_recurrence(rnn)
    torch.testing.assert_close(rewritten(x), rnn(x), atol=1e-6, rtol=1e-5)
    targets = [str(n.target) for n in torch.export.export(rewritten, (x,)).graph.nodes if n.op == "call_function"]
    assert not [t for t in targets if "bmm" in t]
    assert sum("linear" in t for t in targets) == 2 + 2 * 6  # per direction: the input projection, then a step each


def test_onnx_report_has_the_issue_schema_and_fp32_parity(onnx_run):
    from export.report import write_report

    out, report = onnx_run
    write_report(out, report)
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report)) and set(saved) >= {"artifacts", "seconds"}
    assert "| onnx" in (out / "report.md").read_text()
    import hashlib

    for entry in report["artifacts"]:
        assert set(entry) - {"sha256"} == REPORT_KEYS
        assert set(entry["test"]) == {"accuracy", "weighted_f1"}
        assert entry["sha256"] == hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest()
    fp32 = next(a for a in report["artifacts"] if a["precision"] == "fp32")
    assert fp32["status"] == "ok", fp32["error"]
    assert fp32["max_abs_prob_diff"] <= 1e-4 and fp32["top1_agreement"] == 1.0
    assert fp32["latency_ms_p50"] > 0
    # every modality subset was verified
    assert set(report["details"]["onnx/fp32"]["subsets"]) == {"audio+text", "audio", "text"}


def _initializer_bytes(path) -> int:
    """Bytes of an ONNX model's float and int8 initializers (its weights)."""
    import onnx
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]
    return sum(a.nbytes for a in arrays if a.dtype.kind == "f" or a.dtype.itemsize == 1)


def test_onnx_int8_stores_int8_weights_and_keeps_the_presence_mask(onnx_run):
    import onnxruntime as ort

    out, report = onnx_run
    fp32 = next(a for a in report["artifacts"] if a["precision"] == "fp32")
    int8 = next(a for a in report["artifacts"] if a["precision"] == "int8")
    assert int8["status"] in ("ok", "verify_failed")  # a random tiny model may not reach 0.98 agreement
    assert int8["top1_agreement"] is not None and int8["top1_agreement"] >= 0.75
    # The weights shrink to int8; for this 8-wide model the file does not (the added Quantize/
    # Dequantize nodes outweigh 12 KB of weights), so the stored weight bytes are what is checked.
    assert _initializer_bytes(out / "onnx" / "model_int8.onnx") <= 0.4 * _initializer_bytes(out / "onnx" / "model_fp32.onnx")
    notes = report["details"]["onnx/int8"]["notes"]["quantization"]
    assert notes["mode"] == "dynamic" and "MatMul" in notes["ops"]
    # The presence mask survives quantization: an absent modality's gate is exactly 0, the rest sum to 1.
    session = ort.InferenceSession(str(out / "onnx" / "model_int8.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    feeds = {"audio": rng.normal(size=(1, 4, 5)).astype(np.float32), "text": rng.normal(size=(1, 4, 6)).astype(np.float32)}
    for presence, absent in (([1.0, 0.0], 1), ([0.0, 1.0], 0)):
        feeds["presence"] = np.array([presence], np.float32)
        _, gates = session.run(["logits", "gate_weights"], feeds)
        assert gates[0, absent] == 0.0 and abs(gates[0].sum() - 1.0) < 1e-5


def test_manifest_is_beside_and_embedded_in_onnx(onnx_run, tiny_model):
    import onnx

    out, _ = onnx_run
    artifact = out / "onnx" / "model_fp32.onnx"
    manifest = check_artifact(artifact)
    assert manifest["format"] == "onnx" and manifest["precision"] == "fp32"
    assert [i["name"] for i in manifest["inputs"]] == ["audio", "text", "presence"]
    assert manifest["inputs"][0]["shape"] == [1, 4, 5]
    assert [o["name"] for o in manifest["outputs"]] == ["logits", "gate_weights"]
    assert manifest["spec"] == tiny_model.spec.to_dict()
    assert manifest["preprocessing"]["modalities"]["audio"]["std"] == [1.0] * 5
    assert {"torch", "onnx", "onnxruntime"} <= set(manifest["tools"])
    embedded = {p.key: p.value for p in onnx.load(str(artifact)).metadata_props}
    assert json.loads(embedded["emoedge.manifest"])["spec"] == manifest["spec"]


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "manifest_sha", "no_manifest"])
def test_damaged_artifacts_are_refused_before_inference(onnx_run, tmp_path, damage):
    out, _ = onnx_run
    artifact = tmp_path / "model_fp32.onnx"
    shutil.copy(out / "onnx" / "model_fp32.onnx", artifact)
    shutil.copy(sidecar_path(out / "onnx" / "model_fp32.onnx"), sidecar_path(artifact))
    data = bytearray(artifact.read_bytes())
    if damage == "truncate":
        artifact.write_bytes(data[: len(data) // 2])
        message = "truncated"
    elif damage == "bitflip":
        data[len(data) // 2] ^= 0x01
        artifact.write_bytes(bytes(data))
        message = "sha256"
    elif damage == "manifest_sha":
        manifest = json.loads(sidecar_path(artifact).read_text())
        manifest["sha256"] = "0" * 64
        sidecar_path(artifact).write_text(json.dumps(manifest))
        message = "does not match"
    else:
        sidecar_path(artifact).unlink()
        message = "manifest"
    with pytest.raises(ArtifactError, match=message):
        check_artifact(artifact)


def test_status_table_marks_each_status():
    rows = [
        {"format": "onnx", "precision": "fp32", "status": "ok", "size_bytes": 2048, "test": {"accuracy": 0.8,
         "weighted_f1": 0.79}, "max_abs_prob_diff": 1e-7, "top1_agreement": 1.0, "latency_ms_p50": 0.4,
         "delegated_fraction": None, "error": None},
        {"format": "litert", "precision": "int8", "status": "export_failed", "size_bytes": None,
         "test": {"accuracy": None, "weighted_f1": None}, "max_abs_prob_diff": None, "top1_agreement": None,
         "latency_ms_p50": None, "delegated_fraction": None, "error": "export failed: boom"},
    ]
    table = format_table(rows)
    assert "| onnx | fp32 | ✅ | 2 | 0.8000 |" in table
    assert "| litert | int8 | ❌ |" in table and "boom" in table


def test_cli_rejects_unknown_format_with_exit_2(capsys):
    from export.__main__ import main

    assert main(["--checkpoint", "nowhere", "--format", "tensorrt"]) == 2
    assert "choose from" in capsys.readouterr().err


def test_executorch_fp32_is_delegated_and_matches_pytorch(tiny_model, tmp_path):
    from export import executorch

    x = [torch.randn(1, *m.input_shape()) for m in tiny_model.spec.modalities]
    presence = torch.tensor([[0.0, 1.0]])
    path = tmp_path / "model_fp32.pte"
    notes = executorch.export(tiny_model, (*x, presence), path)
    delegation = notes["delegation"]
    assert delegation["delegated_subgraphs"] >= 1 and delegation["delegated_fraction"] >= 0.9
    assert delegation["delegated_fraction_excluding_constants"] >= delegation["delegated_fraction"]
    logits, gates = executorch.load(path)([t.numpy() for t in (*x, presence)])
    expected = tiny_model(*x, presence)
    np.testing.assert_allclose(logits, expected[0].detach().numpy(), atol=1e-5)
    assert gates[0, 0] == 0.0  # the absent modality keeps gate weight 0


@pytest.mark.slow
def test_litert_fp32_and_int8_run_in_the_litert_interpreter(tiny_model, tmp_path):
    from export.pipeline import run

    report = run(tiny_model, tiny_splits(tiny_model.spec), ["litert"], ["fp32", "int8"], tmp_path, calibration=8,
                 progress=False)
    fp32, int8 = report["artifacts"]
    assert fp32["status"] == "ok", fp32["error"]
    assert int8["status"] != "export_failed", int8["error"]
    # The weights shrink to int8; for this 8-wide model the file need not (the quantization
    # parameters and extra ops outweigh its few KB of weights), so the tensors are checked:
    # the int8 program holds int8 tensors and fewer float bytes than the fp32 one.
    fp32_bytes = _tflite_tensor_bytes(tmp_path / "litert" / "model_fp32.tflite")
    int8_bytes = _tflite_tensor_bytes(tmp_path / "litert" / "model_int8.tflite")
    assert fp32_bytes["int8"] == 0 and int8_bytes["int8"] > 0, (fp32_bytes, int8_bytes)
    assert int8_bytes["float32"] < fp32_bytes["float32"], (fp32_bytes, int8_bytes)


def _tflite_tensor_bytes(path) -> dict[str, int]:
    """Bytes of a .tflite program's float32 and int8 tensors (weights and activations), from the interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    totals = {"float32": 0, "int8": 0}
    for tensor in Interpreter(model_path=str(path)).get_tensor_details():
        name = np.dtype(tensor["dtype"]).name
        if name in totals:
            totals[name] += int(np.prod(tensor["shape"])) * np.dtype(tensor["dtype"]).itemsize
    return totals


@pytest.mark.slow
def test_executorch_int8_exports_and_runs(tiny_model, tmp_path):
    from export.pipeline import run

    report = run(tiny_model, tiny_splits(tiny_model.spec), ["executorch"], ["fp32", "int8"], tmp_path,
                 calibration=8, progress=False)
    fp32, int8 = report["artifacts"]
    assert fp32["status"] == "ok", fp32["error"]
    assert int8["status"] != "export_failed", int8["error"]
    assert int8["top1_agreement"] >= 0.75


def token_spec(vocabulary_size: int = 300) -> ModelSpec:
    """A feature modality and a token modality whose embedding table dominates the weights."""
    words = ["<pad>", "<unk>", "<sep>"] + [f"w{i}" for i in range(vocabulary_size - 3)]
    return ModelSpec(
        modalities=[
            ModalitySpec("audio", FEATURES, 4, feature_dim=5, normalization=Normalization([0.0] * 5, [1.0] * 5)),
            ModalitySpec("text", TOKENS, 6, vocabulary=words),
        ],
        class_names=["neg", "pos"], hidden_size=8, ffn_size=8, attention_heads=2, dataset="synthetic",
    )


def pte_tensors(path) -> tuple[list, set[str]]:
    """The constant tensors (data_buffer_idx > 0) of a .pte's first execution plan, and its operator names."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    plan = deserialize_pte_binary(path.read_bytes()).program.execution_plan[0]
    tensors = [v.val for v in plan.values if type(v.val).__name__ == "Tensor" and v.val.data_buffer_idx > 0]
    return tensors, {f"{op.name}.{op.overload}" for op in plan.operators}


@pytest.mark.slow
def test_executorch_int8_embedding_table_is_embedding_byte(tmp_path):
    """int8 ExecuTorch stores the token embedding table as uint8 rows read by
    quantized_decomposed::embedding_byte (no fp32 copy of the table left in the program), and the
    .pte runs in the SDK's native runner and in ExecuTorch's Python runtime."""
    from export import executorch

    torch.manual_seed(0)
    model = EmotionModel(token_spec()).eval()
    g = torch.Generator().manual_seed(1)
    samples = [(torch.randn(1, 4, 5, generator=g), torch.randint(0, 300, (1, 6), generator=g), torch.ones(1, 2))
               for _ in range(6)]
    table = next(m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding))
    path = tmp_path / "model_int8.pte"
    notes = executorch.export(model, samples[0], path, "int8", samples)
    assert notes["quantization"]["embedding_byte_ops"] == 1
    tensors, operators = pte_tensors(path)
    assert "quantized_decomposed::embedding_byte.out" in operators, operators
    shapes = {(tuple(t.sizes), t.scalar_type.name) for t in tensors}
    assert (tuple(table.shape), "FLOAT") not in shapes, "the fp32 embedding table is still in the program"
    assert (tuple(table.shape), "BYTE") in shapes, shapes

    importlib.import_module("executorch.kernels.quantized")  # registers embedding_byte.out for the Python runtime
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method("forward")
    native = executorch.load(path)
    for sample in samples[:3]:
        with torch.no_grad():
            expected = model(*sample)[0].numpy()
        got = method.execute(list(sample))[0].numpy()
        # the same program in both runtimes; int8 activations of this untrained 8-wide model
        # move a logit by up to ~0.07 from fp32 PyTorch
        np.testing.assert_allclose(native([x.numpy() for x in sample])[0], got, atol=1e-4)
        np.testing.assert_allclose(got, expected, atol=0.15)


def test_onnx_dynamic_int8_keeps_a_weight_shared_by_several_gemms(tmp_path, monkeypatch):
    """An unrolled recurrence uses one square weight in a Gemm(transB=1) per step; ORT's quantizer
    transposes such a weight in place once per node, so with two uses it would end up untransposed."""
    monkeypatch.setattr("export.onnx.SMALL_WEIGHT_VALUES", 0)  # quantize the 16x16 weight despite its size
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from export.onnx import _quantize, untranspose_gemm_weights

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(16, 16)).astype(np.float32)
    bias = np.zeros(16, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
         helper.make_node("Gemm", ["h", "w", "b"], ["y"], transB=1)],
        "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    source = tmp_path / "fp32.onnx"
    onnx.save(model, str(source))
    x = rng.normal(size=(1, 16)).astype(np.float32)
    expected = x @ weight.T @ weight.T

    def run(path):
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    copy = onnx.load(str(source))
    assert untranspose_gemm_weights(copy) == 1
    onnx.save(copy, str(tmp_path / "untransposed.onnx"))
    np.testing.assert_allclose(run(tmp_path / "untransposed.onnx"), expected, rtol=1e-5, atol=1e-4)
    _quantize(source, tmp_path / "int8.onnx", ["x"], [], "dynamic")
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node)
    quantized = run(tmp_path / "int8.onnx")
    assert np.abs(quantized - expected).max() < 0.05 * np.abs(expected).max()


# ------------------------------------------------------------------ Core ML compute units (issue 18)
def test_coreml_compute_units_are_spelled_as_executorch_and_the_ios_app_spell_them():
    """export.executorch.COREML_COMPUTE_UNITS are coremltools' ComputeUnit names in lower case (the values of
    ExecuTorch's `compute_units` compile spec) and the raw values of the iOS core's ComputeUnits enum."""
    import re
    from pathlib import Path

    from export.executorch import COREML_COMPUTE_UNITS

    swift = (Path(__file__).resolve().parent.parent / "ios_demo" / "Sources" / "EmoEdgeCore" / "Accelerator.swift").read_text()
    enum = swift[swift.index("public enum ComputeUnits"):]
    enum = enum[:enum.index("}")]
    assert set(re.findall(r'case \w+ = "([a-z_]+)"', enum)) == set(COREML_COMPUTE_UNITS)
    assert COREML_COMPUTE_UNITS[0] == "all"  # ExecuTorch's default, and the iOS core's for a manifest without units
    ct = pytest.importorskip("coremltools")
    assert {u.name.lower() for u in ct.ComputeUnit} == set(COREML_COMPUTE_UNITS)


@pytest.mark.parametrize("argv, message", [
    (["--delegates", "coreml", "--coreml-compute-units", "gpu"], "choose from all, cpu_and_gpu, cpu_and_ne, cpu_only"),
    (["--coreml-compute-units", "cpu_and_ne"], "add --delegates coreml"),
])
def test_cli_refuses_bad_coreml_compute_units_before_exporting(tmp_path, capsys, argv, message):
    from export.__main__ import main

    assert main([*argv, "--out", str(tmp_path / "dist")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()  # refused before any training or export


def test_coreml_pte_is_lowered_for_the_chosen_compute_units_and_its_manifest_says_so(tiny_model, tmp_path):
    """A real Core ML lowering of the tiny model (about 15 s here): the compute units go into the .pte as
    ExecuTorch's `compute_units` compile spec and into the manifest as notes.delegation.compute_units."""
    pytest.importorskip("coremltools")
    from export import executorch
    from export.pipeline import export_other_delegates

    with pytest.raises(ValueError, match="not one of all, cpu_and_gpu, cpu_and_ne, cpu_only"):
        executorch.coreml_partitioner("neural_engine")
    results = export_other_delegates(tiny_model, tiny_splits(tiny_model.spec), tmp_path, names=("coreml",),
                                     coreml_compute_units="cpu_and_ne")
    result = results["coreml"]
    assert result["status"] == "exported_unverified", result
    path = tmp_path / result["path"]
    check_artifact(path)
    manifest = json.loads(sidecar_path(path).read_text())
    assert manifest["format"] == "executorch-coreml"
    delegation = manifest["notes"]["delegation"]
    assert delegation["compute_units"] == "cpu_and_ne" and delegation["compute_precision"] == "float16"
    assert delegation["backends"] == {"CoreMLBackend": 1} and delegation["delegated_fraction"] == 1.0
    data = path.read_bytes()
    assert b"CoreMLBackend" in data and b"compute_units" in data
    assert b"cpu_and_ne" in data and b"cpu_only" not in data
