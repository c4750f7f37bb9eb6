"""Runtime SDK: loading, the result, input errors, tamper checks, thread safety, the CLI.

A tiny model with all three kinds of modality (features, frames, tokens) runs on
the torch backend (a checkpoint) and, exported to fp32 once per session (the
`tiny_dist` fixture, conftest.py), on the ExecuTorch, LiteRT and ONNX backends.
Claims about a trained model on real data live in the slow, data-marked tests
(tests/test_runtime_parity.py, tests/test_real_data.py).
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from export.manifest import ArtifactError, sidecar_path
from sdk import EmotionRecognizer
from sdk.runtime import BackendError, InputError, RecognizerClosedError, RecognizerOptions
from sdk.spec import TOKENS
from tests.helpers import REPO, save_tiny_checkpoint, tiny_inputs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return EmotionRecognizer.load(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


# ------------------------------------------------------------------ loading
def test_import_sdk_is_light_and_exports_the_recognizer():
    import subprocess
    import sys

    code = "import sys, sdk; assert 'torch' not in sys.modules; from sdk import EmotionRecognizer; " \
           "assert 'torch' not in sys.modules, 'the runtime import pulled torch in'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_result_has_label_probabilities_gates_modalities_and_latency(tiny):
    result = tiny.predict(**tiny_inputs(np.random.default_rng(0)))
    assert set(result.probabilities) == {"negative", "positive", "neutral"}
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-9
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert set(result.gate_weights) == {"audio", "video", "text"}
    assert result.modalities_used == ("audio", "video", "text")
    assert result.latency_ms > 0 and result.timestamp_ms is None
    assert result.to_dict()["modalities_used"] == ["audio", "video", "text"]


def test_absent_modality_gets_zero_gate_weight_and_is_not_used(tiny):
    result = tiny.predict(audio=tiny_inputs(np.random.default_rng(0))["audio"], video=None)
    assert result.modalities_used == ("audio",)
    assert result.gate_weights["video"] == 0.0 and result.gate_weights["text"] == 0.0
    assert result.gate_weights["audio"] == pytest.approx(1.0, abs=1e-6)


def test_text_is_tokenized_with_the_manifest_vocabulary(tiny):
    ids = np.array([6, 3, 5, 7])  # not good movie .
    by_text = tiny.predict(text="NOT good movie.")
    by_ids = tiny.predict(text=ids)
    assert by_text.probabilities == pytest.approx(by_ids.probabilities, abs=1e-12)
    unknown = tiny.predict(text="splendid")  # one word outside the vocabulary -> <unk>
    assert unknown.probabilities == pytest.approx(tiny.predict(text=np.array([1])).probabilities, abs=1e-12)


@pytest.mark.parametrize("text", ["NOT good movie.", "splendid", "bad bad", "  good.  ", "movie not good bad ."])
def test_strings_give_the_same_probabilities_through_every_artifact(text, tiny_dist):
    """A string is tokenized with the manifest's vocabulary and reaches every backend alike."""
    recognizers = {b: EmotionRecognizer.load(p) for b, p in tiny_dist.items()}
    rng = np.random.default_rng(1)
    inputs = tiny_inputs(rng)
    for kwargs in ({**inputs, "text": text}, {"text": text}, {"audio": inputs["audio"], "text": text}):
        reference = recognizers["torch"].predict(**kwargs)
        for backend, recognizer in recognizers.items():
            result = recognizer.predict(**kwargs)
            assert result.probabilities == pytest.approx(reference.probabilities, abs=1e-4), backend
            assert result.modalities_used == reference.modalities_used
    with pytest.raises(InputError, match="at most 6"):
        recognizers["litert"].predict(text="good " * 7)


def test_normalization_comes_from_the_spec(tiny):
    """Raw features equal to the mean are the normalized zero vector."""
    spec = tiny.spec
    mean = np.asarray(spec.modality("audio").normalization.mean, np.float32)
    raw = tiny.predict(audio=np.tile(mean, (3, 1)))
    from sdk.checkpoint import load_checkpoint

    model, _ = load_checkpoint(Path(tiny.options.model_path))
    xs = [torch.zeros(1, *m.input_shape(), dtype=torch.int64 if m.kind == TOKENS else torch.float32)
          for m in spec.modalities]
    with torch.no_grad():
        logits, _ = model(*xs, torch.tensor([[1.0, 0.0, 0.0]]))
    expected = torch.softmax(logits.double(), -1)[0].numpy()
    assert list(raw.probabilities.values()) == pytest.approx(expected.tolist(), abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "every modality is absent"),
        ({"audio": None, "video": None, "text": None}, "every modality is absent"),
        ({"audio": np.ones((3, 4), np.float32)}, r"audio: expected shape \(steps, 5\) .* got \(3, 4\)"),
        ({"audio": np.full((3, 5), np.nan, np.float32)}, "audio: contains NaN or inf"),
        ({"video": np.full((2, 1, 8, 8), np.inf, np.float32)}, "video: contains NaN or inf"),
        ({"audio": np.ones((2, 3, 5), np.float32)}, "predict takes one sample, got a batch of 2"),
        ({"audio": np.ones((3, 5), np.complex64)}, "audio: expected real numbers"),
        ({"audio": "hello"}, "audio: got text, but this modality takes features"),
        ({"text": "good " * 7}, "text: the text has 7 tokens but the model takes at most 6"),
        ({"text": "  "}, "text: the text has no words"),
        ({"text": np.array([1.5])}, "text: token ids must be an integer array"),
        ({"text": np.array([3, 99])}, r"text: token ids must lie in \[0, 8\)"),
        ({"smell": np.ones(3)}, "unknown modalities"),
        ({"audio": np.full((3, 5), 3e38, np.float32)}, "audio: values overflow float32 after normalization"),
        ({"audio": [[1.0] * 5]}, "audio: expected a numpy array"),
    ],
)
def test_bad_inputs_raise_input_error_naming_modality_and_fix(tiny, kwargs, message):
    with pytest.raises(InputError, match=message):
        tiny.predict(**kwargs)


def test_inputs_far_outside_the_training_range_never_give_nan(tiny):
    """3e38 overflows float32 once normalised: an InputError of kind "overflow". 1e30 stays finite and
    the encoders' LayerNorm rescales it: a finite distribution. Never NaN probabilities."""
    with pytest.raises(InputError, match="overflow float32 after normalization") as err:
        tiny.predict(audio=np.full((6, 5), 3e38, np.float32))
    assert err.value.kind == "overflow"
    probabilities = np.array(list(tiny.predict(audio=np.full((6, 5), 1e30, np.float32)).probabilities.values()))
    assert np.isfinite(probabilities).all() and abs(probabilities.sum() - 1.0) < 1e-5


def test_backend_is_picked_from_the_suffix_and_a_wrong_one_is_refused(tmp_path):
    from sdk.runtime.backends import backend_for, check_backend

    assert backend_for("x/model.pte") == "executorch" and backend_for("m.tflite") == "litert"
    assert backend_for("m.onnx") == "onnx" and backend_for("model.pt") == "torch"
    with pytest.raises(BackendError, match="unknown model file suffix '.bin'"):
        backend_for("model.bin")
    with pytest.raises(BackendError, match="use backend='onnx' or 'auto'"):
        check_backend("litert", "m.onnx")
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'"):
        check_backend("tensorrt", "m.onnx")
    with pytest.raises(BackendError, match="directory without model.pt"):
        backend_for(tmp_path)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        EmotionRecognizer.load(tmp_path / "model.onnx")


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_manifest", "other_manifest"])
def test_tampered_artifacts_are_refused_before_inference(tmp_path, damage, tiny_dist):
    source = tiny_dist["onnx"]
    path = tmp_path / source.name
    shutil.copy(source, path)
    shutil.copy(sidecar_path(source), sidecar_path(path))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(data)
    elif damage == "no_manifest":
        sidecar_path(path).unlink()
    else:
        shutil.copy(sidecar_path(tiny_dist["executorch"]), sidecar_path(path))  # another artifact's manifest
    with pytest.raises(ArtifactError):
        EmotionRecognizer.load(path)


def test_options_object_and_closed_recognizer(tmp_path):
    checkpoint = save_tiny_checkpoint(tmp_path)
    options = RecognizerOptions(model_path=checkpoint, backend="torch", num_threads=1)
    with EmotionRecognizer.create_from_options(options) as recognizer:
        assert recognizer.backend == "torch" and recognizer.modality_names == ["audio", "video", "text"]
        recognizer.predict(text="good")
    with pytest.raises(RecognizerClosedError):
        recognizer.predict(text="good")
    with pytest.raises(ValueError, match="num_threads"):
        EmotionRecognizer.load(checkpoint, num_threads=0)


@pytest.mark.parametrize("backend", ["torch", "onnx", "litert", "executorch"])
def test_predict_is_safe_from_several_threads(backend, tiny, tiny_dist):
    recognizer = tiny if backend == "torch" else EmotionRecognizer.load(tiny_dist[backend])
    spec = recognizer.spec
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(12):
        sample = {}
        for m in spec.modalities:
            if m.kind == TOKENS:
                sample[m.name] = rng.integers(0, m.vocab_size, size=rng.integers(1, m.seq_len + 1))
            else:
                sample[m.name] = rng.normal(size=(rng.integers(1, m.seq_len + 1), *m.step_shape())).astype(np.float32)
        samples.append(sample)
    expected = [recognizer.predict(**s).probabilities for s in samples]
    results, errors = {}, []

    def work(k):
        try:
            for r in range(5):
                i = (k + r) % len(samples)
                results[(k, r)] = (i, recognizer.predict(**samples[i]).probabilities)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 40
    for i, probabilities in results.values():
        assert probabilities == expected[i]


# ------------------------------------------------------------------ CLI
def test_predict_cli_prints_the_result_and_exits_2_on_bad_input(tmp_path, capsys):
    from sdk.predict import main

    checkpoint = save_tiny_checkpoint(tmp_path)
    audio = tmp_path / "a.npy"
    np.save(audio, np.ones((3, 5), np.float32))
    assert main(["--model", str(checkpoint), "--audio", str(audio), "--text", "not good"]) == 0
    out = capsys.readouterr().out
    assert "label:" in out and "audio" in out and "latency" in out and "(absent)" in out
    assert main(["--model", str(checkpoint), "--text", "good", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["modalities_used"] == ["text"]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 4), np.float32))
    assert main(["--model", str(checkpoint), "--audio", str(bad)]) == 2
    assert "audio: expected shape (steps, 5)" in capsys.readouterr().err
    assert main(["--model", str(checkpoint)]) == 2
    assert "every modality is absent" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "missing.onnx"), "--text", "x"]) == 2
    assert "no such model file" in capsys.readouterr().err
