"""The live model's inputs (issue 14): waveform spec and packing, in-graph normalization,
the face crop rule, synthetic live data, and a tiny live model through the exporters."""
from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sdk.face import crop_face, square_box, to_gray
from sdk.inputs import InputPreparer
from sdk.spec import FEATURES, FRAMES, TOKENS, WAVEFORM, ModalitySpec, ModelSpec, Normalization, SpecError

VOCABULARY = ["<pad>", "<unk>", "<sep>", "i", "feel", "happy", "sad", "today"]


def tiny_live_spec() -> ModelSpec:
    """0.5 s of 8 kHz audio (48 frames -> 3 BiGRU steps), one 16x16 face, 6 tokens."""
    rng = np.random.default_rng(0)
    return ModelSpec(
        modalities=[
            ModalitySpec("audio", WAVEFORM, 4000, sample_rate=8000, n_mels=16,
                         normalization=Normalization(list(rng.normal(-6, 1, 16)), list(rng.uniform(1, 3, 16)))),
            ModalitySpec("video", FRAMES, 1, channels=1, height=16, width=16, normalize_in_graph=True, encoder="face",
                         normalization=Normalization([110.0], [60.0])),
            ModalitySpec("text", TOKENS, 6, vocabulary=VOCABULARY),
        ],
        class_names=["angry", "happy", "sad"], hidden_size=8, ffn_size=8, attention_heads=2,
        widths={"audio.audio": 8, "video.frame": 2}, dataset="synthetic_live",
    )


# ------------------------------------------------------------------ spec
def test_waveform_spec_fills_front_end_defaults_and_round_trips():
    m = ModalitySpec("audio", WAVEFORM, 48000, sample_rate=16000)
    assert (m.win_length, m.hop_length, m.n_mels, m.fmin, m.fmax) == (400, 160, 64, 0.0, 8000.0)
    assert m.normalize_in_graph and m.step_shape() == () and m.input_shape() == (48000,) and m.n_frames == 298
    spec = tiny_live_spec()
    text = spec.to_json()
    assert ModelSpec.from_json(text) == spec
    saved = json.loads(text)["modalities"]
    assert saved[0]["sample_rate"] == 8000 and saved[0]["win_length"] == 200 and saved[1]["encoder"] == "face"
    assert "sample_rate" not in saved[2]  # defaults are left out: older specs serialize as before


def test_old_specs_without_the_new_fields_load_unchanged():
    old = {"modalities": [{"name": "audio", "kind": "features", "seq_len": 3, "feature_dim": 2,
                           "normalization": {"mean": [0.0, 1.0], "std": [1.0, 2.0]}}],
           "class_names": ["a", "b"], "version": 1}
    spec = ModelSpec.from_dict(old)
    assert spec.modalities[0].normalize_in_graph is False and spec.modalities[0].encoder == ""
    assert json.loads(spec.to_json())["modalities"][0].keys() == set(old["modalities"][0]) | {
        "channels", "height", "width", "vocabulary"}


@pytest.mark.parametrize("change, message", [
    ({"sample_rate": 0}, "sample_rate"),
    ({"seq_len": 100}, "seq_len >= win_length"),
    ({"fmax": 9000.0}, "fmax"),
    ({"normalize_in_graph": False}, "normalized in the graph"),
    ({"encoder": "face"}, "encoder"),
])
def test_bad_waveform_specs_are_refused(change, message):
    m = ModalitySpec("audio", WAVEFORM, 4000, sample_rate=8000)
    m.validate()
    for key, value in change.items():  # set after construction (construction fills the defaults again)
        setattr(m, key, value)
    with pytest.raises(SpecError, match=message):
        m.validate()


# ------------------------------------------------------------------ packing
def test_waveform_packing_int16_float_shorter_and_longer_windows():
    spec = tiny_live_spec()
    prep = InputPreparer(spec)
    rng = np.random.default_rng(1)
    pcm = rng.uniform(-0.9, 0.9, 6000).astype(np.float32)
    (audio, _, _), presence = prep.arrays(audio=pcm)
    assert audio.shape == (1, 4000) and np.array_equal(audio[0], pcm[-4000:])  # the LAST window, not normalized
    assert presence.tolist() == [[1.0, 0.0, 0.0]]
    short = pcm[:1000]
    (audio, _, _), _ = prep.arrays(audio=short)
    assert np.all(audio[0, :3000] == 0.0) and np.array_equal(audio[0, 3000:], short)  # left-padded with silence
    ints = (pcm[:2500] * 32767).astype(np.int16)
    (audio, _, _), _ = prep.arrays(audio=ints)
    assert audio.dtype == np.float32 and np.array_equal(audio[0, 1500:], ints.astype(np.float32) / 32768.0)
    (batch, _, _), presence = prep.arrays(audio=np.stack([pcm[:4000], pcm[2000:]]))
    assert batch.shape == (2, 4000) and presence.shape == (2, 3)


def test_live_frames_are_packed_raw_and_normalized_in_the_graph():
    from sdk.model import EmotionModel

    spec = tiny_live_spec()
    face = np.random.default_rng(2).integers(0, 256, (1, 1, 16, 16)).astype(np.float32)
    (_, video, _), presence = InputPreparer(spec).arrays(video=face)
    assert np.array_equal(video[0], face)  # raw 0..255 reach the model
    torch.manual_seed(0)
    model = EmotionModel(spec).eval()
    # the same network with the statistics moved out of the graph gives the same output on normalized pixels
    outside = dataclasses.replace(spec.modalities[1], normalize_in_graph=False)
    plain = EmotionModel(dataclasses.replace(spec, modalities=[spec.modalities[0], outside, spec.modalities[2]])).eval()
    plain.load_state_dict({k.replace("video.front.1.", "video.front."): v for k, v in model.state_dict().items()
                           if "video.front.0." not in k}, strict=True)
    zeros = [torch.zeros(1, 4000), None, torch.zeros(1, 6, dtype=torch.long)]
    with torch.no_grad():
        inside = model(zeros[0], torch.from_numpy(video), zeros[2], torch.from_numpy(presence))[0]
        normalized = torch.from_numpy((video - 110.0) / 60.0)
        expected = plain(zeros[0], normalized, zeros[2], torch.from_numpy(presence))[0]
    torch.testing.assert_close(inside, expected, rtol=1e-5, atol=1e-5)


def test_old_frames_specs_still_normalize_outside_the_graph():
    from sdk.data.dataset import normalize
    from sdk.data.synthetic import load_synthetic

    ds = load_synthetic(n_samples=40)
    m = dataclasses.replace(ds.modalities[1], normalization=Normalization([0.5], [0.25]))
    out = normalize(ds, [ds.modalities[0], m, ds.modalities[2]])["video"]
    keep = out != 0
    assert np.allclose(out[keep], ((ds.inputs["video"] - 0.5) / 0.25)[keep], atol=1e-5)


# ------------------------------------------------------------------ face crop rule
def test_crop_rule_on_fixed_inputs():
    gray = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (10, 200, 30)
    # (77 R + 150 G + 29 B + 128) >> 8
    assert to_gray(rgb).tolist() == [[(77 * 255 + 128) >> 8, (150 * 255 + 128) >> 8, (77 * 10 + 150 * 200 + 29 * 30 + 128) >> 8]]
    assert to_gray(gray) is gray
    assert square_box((10, 20, 40, 50)) == pytest.approx((30 - 30, 45 - 30, 60.0))  # side 50 * 1.2, same centre
    # a horizontal ramp image: value = 2 * column; box (0, 0, 100, 100) -> side 120, x0 = -10
    ramp = np.tile((np.arange(120) * 2).clip(0, 255).astype(np.uint8), (120, 1))
    crop = crop_face(ramp, (0, 0, 100, 100), size=4)
    # column j samples x = -10 + (j + 0.5) * 30 - 0.5 = 4.5, 34.5, 64.5, 94.5 -> 2x = 9, 69, 129, 189
    assert crop.shape == (4, 4) and crop.dtype == np.uint8
    assert crop[0].tolist() == [9, 69, 129, 189] and (crop == crop[0]).all()
    # a box hanging over the left edge reads the clamped edge column (value 0), not black padding of its own
    assert crop_face(ramp, (-100, 0, 40, 40), size=2)[0].tolist() == [0, 0]
    # half-pixel bilinear = PyTorch's align_corners=False on a box inside the image
    img = np.random.default_rng(0).integers(0, 256, (120, 160)).astype(np.uint8)
    ours = crop_face(img, (40, 20, 60, 60))  # square (34, 14, 72)
    ref = torch.nn.functional.interpolate(torch.tensor(img[14:86, 34:106], dtype=torch.float64)[None, None],
                                          size=(48, 48), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.array_equal(ours, np.floor(ref + 0.5).astype(np.uint8))
    assert crop_face(np.dstack([img] * 3), (40, 20, 60, 60)).shape == (48, 48)


# ------------------------------------------------------------------ synthetic live data
def test_synthetic_live_has_the_live_kinds_and_is_deterministic():
    from sdk.data import load_dataset

    a = load_dataset("synthetic_live", n_samples=40, seed=3)
    b = load_dataset("synthetic_live", n_samples=40, seed=3)
    assert [m.kind for m in a.modalities] == [WAVEFORM, FRAMES, TOKENS]
    assert a.inputs["audio"].shape == (40, 48000) and a.inputs["video"].shape == (40, 1, 1, 48, 48)
    assert np.abs(a.inputs["audio"]).max() <= 1.0 and a.inputs["video"].max() <= 255
    assert all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    present = a.presence[:, 0] > 0
    pad = 48000 - a.lengths["audio"][present]
    assert all(np.all(row[:p] == 0) for row, p in zip(a.inputs["audio"][present], pad))
    assert len(a.class_names) == 7


# ------------------------------------------------------------------ export
def tiny_live_model():
    from sdk.model import EmotionModel

    torch.manual_seed(0)
    return EmotionModel(tiny_live_spec()).eval()


def tiny_live_samples(n: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """Batch-1 model inputs: PCM, raw 0..255 faces (absent in every third sample), token ids."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        presence = torch.ones(1, 3)
        face = 255 * torch.rand(1, 1, 1, 16, 16, generator=g)
        if i % 3 == 0:
            presence[0, 1], face = 0.0, torch.zeros_like(face)
        samples.append((0.3 * torch.randn(1, 4000, generator=g), face,
                        torch.randint(0, len(VOCABULARY), (1, 6), generator=g), presence))
    return samples


@functools.lru_cache(maxsize=None)
def tiny_live_artifacts(formats: tuple[str, ...] = ("onnx",)) -> Path:
    """The tiny live model exported to fp32 `formats` with manifests, once per session: the
    steps of export.pipeline.export_one without its ONNX mobile report (~30 s more)."""
    from export.formats import FORMATS
    from export.manifest import build_manifest, finalize
    from export.rewrite import fold_batch_norms

    model = fold_batch_norms(tiny_live_model())
    example = tiny_live_samples(1)[0]
    out = Path(tempfile.mkdtemp(prefix="emoedge-tiny-live-"))
    for fmt in formats:
        implementation = FORMATS[fmt].implementation()
        path = out / fmt / FORMATS[fmt].artifact_name("fp32")
        path.parent.mkdir(parents=True)
        tools = implementation.tool_versions()
        embed = {"embed": build_manifest(model.spec, fmt, "fp32", path, tools=tools)} if fmt == "onnx" else {}
        notes = implementation.export(model, example, path, "fp32", [], None, **embed)
        names = implementation.runtime_names(path) if hasattr(implementation, "runtime_names") else {}
        finalize(build_manifest(model.spec, fmt, "fp32", path, notes=notes, tools=tools, runtime_names=names), path)
    return out


ALL_FORMATS = ("onnx", "executorch", "litert")
#: ONNX runs by default; ExecuTorch and LiteRT add minutes on 2 shared cores (the 3 s live
#: model's own six artifacts are measured in RESULTS.md), so they are `slow`.
FORMAT_PARAMS = [pytest.param(("onnx",), id="onnx"), pytest.param(ALL_FORMATS, id="all", marks=pytest.mark.slow)]


@pytest.mark.parametrize("formats", FORMAT_PARAMS)
def test_tiny_live_model_exports_raw_pcm_with_parity(formats):
    from export.formats import FORMATS

    out = tiny_live_artifacts(formats)
    model = tiny_live_model()
    samples = tiny_live_samples(6, seed=1)
    for fmt in formats:
        path = next(p for p in (out / fmt).iterdir() if p.name.startswith("model_fp32") and p.suffix != ".json")
        manifest = json.loads(next((out / fmt).glob("*.json")).read_text())
        assert manifest["inputs"][0]["shape"] == [1, 4000] and manifest["inputs"][0]["dtype"] == "float32"
        run = FORMATS[fmt].implementation().load(path, threads=1)
        for sample in samples:
            with torch.no_grad():
                expected = torch.softmax(model(*sample)[0], dim=-1).numpy()
            inputs = [x.numpy().astype(np.int32) if fmt == "litert" and x.dtype == torch.int64 else x.numpy()
                      for x in sample]
            logits, _ = run(inputs)
            got = torch.softmax(torch.as_tensor(np.asarray(logits)), dim=-1).numpy()
            assert np.abs(got - expected).max() <= 1e-4, fmt


@pytest.mark.parametrize("formats", FORMAT_PARAMS)
def test_recognizer_takes_pcm_face_and_text(formats):
    from sdk.runtime import EmotionRecognizer

    spec = tiny_live_spec()
    model = tiny_live_model()
    rng = np.random.default_rng(5)
    pcm = (rng.normal(0, 0.2, 9000) * 32767).clip(-32768, 32767).astype(np.int16)  # longer than the window
    face = crop_face(rng.integers(0, 256, (64, 80, 3)).astype(np.uint8), (10, 5, 40, 44), size=16)
    inputs = {"audio": pcm, "video": face[None, None].astype(np.float32), "text": "i feel happy today"}
    tensors, presence = InputPreparer(spec).tensors(**inputs)
    with torch.no_grad():
        expected = torch.softmax(model(*tensors, presence)[0], dim=-1)[0].numpy()
    out = tiny_live_artifacts(formats)
    for fmt in formats:
        path = next(p for p in (out / fmt).iterdir() if p.name.startswith("model_fp32") and p.suffix != ".json")
        result = EmotionRecognizer.load(path).predict(**inputs)
        probabilities = np.array([result.probabilities[c] for c in spec.class_names])
        assert np.abs(probabilities - expected).max() <= 1e-4, fmt
        assert all(result.gate_weights[m] > 0 for m in spec.modality_names)


@pytest.mark.slow
def test_litert_int8_keeps_the_front_end_fp32(tmp_path):
    """Dynamic-range int8 LiteRT: every op under the log-mel front end reads fp32 tensors only
    (export.litert.FRONTEND_FP32); the learned convs after it do get int8 weights."""
    from ai_edge_litert.interpreter import Interpreter

    from export.litert import export

    path = tmp_path / "model_int8.tflite"
    notes = export(tiny_live_model(), tiny_live_samples(1)[0], path, "int8")
    assert "front end" in notes["quantization"]["kept_fp32"]
    interpreter = Interpreter(str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    int8_front, int8_rest = 0, 0
    for op in interpreter._get_ops_details():
        reads_int8 = any(tensors[i]["dtype"] == np.int8 for i in op["inputs"] if i >= 0)
        in_front = "LogMelFrontEnd" in tensors[op["outputs"][0]]["name"]
        int8_front += reads_int8 and in_front
        int8_rest += reads_int8 and not in_front
    assert int8_front == 0 and int8_rest > 0


def test_onnx_dynamic_int8_keeps_front_end_and_depthwise_convs_fp32(tmp_path):
    """Dynamic int8 ONNX (per-tensor weights): the log-mel front end and every grouped
    (depthwise) Conv stay fp32 (export.onnx.depthwise_conv_nodes); the other learned
    convs and matmuls become integer ops."""
    import onnx

    from export.onnx import export

    path = tmp_path / "model_int8.onnx"
    model = tiny_live_model()
    notes = export(model, tiny_live_samples(1)[0], path, "int8", quantization="dynamic")
    assert "front end" in notes["quantization"]["kept_fp32"] and "depthwise" in notes["quantization"]["kept_fp32"]
    graph = onnx.load(str(path)).graph
    grouped = [n for n in graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    integer = [n for n in graph.node if n.op_type in ("ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul")]
    depthwise_modules = sum(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in model.modules())
    assert depthwise_modules > 0 and len(grouped) >= depthwise_modules
    assert not any(any(a.name == "group" and a.i > 1 for a in n.attribute) for n in graph.node if n.op_type == "ConvInteger")
    assert integer


def test_onnx_small_weight_rule_keeps_64x64_and_smaller_fp32():
    """export.onnx.small_weight_nodes: a MatMul whose weight has <= 4096 values stays fp32, a larger one does not."""
    from onnx import TensorProto, helper, numpy_helper

    from export.onnx import small_weight_nodes

    small = numpy_helper.from_array(np.zeros((64, 64), np.float32), "w_small")
    large = numpy_helper.from_array(np.zeros((64, 65), np.float32), "w_large")
    nodes = [helper.make_node("MatMul", ["x", "w_small"], ["h"], name="mm_small"),
             helper.make_node("MatMul", ["h", "w_large"], ["y"], name="mm_large")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 65])], [small, large])
    assert small_weight_nodes(helper.make_model(graph)) == ["mm_small"]
