"""The runtime's API contract (issue 15 #3): running modes, close() and context managers,
the error hierarchy, the typed runner protocol.

Modes and errors run on the tiny checkpoint (torch backend, a second); native handles
on the tiny model's .pte (the session's tiny artifacts).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import sdk
import sdk.runtime
from sdk.errors import (ArtifactError, BackendError, EmoEdgeError, ModelNotFoundError, OptionsError,
                        RecognizerClosedError)
from sdk.inputs import InputError
from sdk.runtime import EmotionRecognizer, RecognizerOptions, RunningMode, StreamingRecognizer
from tests.helpers import save_tiny_checkpoint, tiny_inputs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-api"))


def test_every_documented_error_is_an_emoedge_error_exported_from_sdk_and_sdk_runtime():
    for error in (InputError, ArtifactError, BackendError, OptionsError, RecognizerClosedError, ModelNotFoundError):
        assert issubclass(error, EmoEdgeError)
        assert getattr(sdk, error.__name__) is error and getattr(sdk.runtime, error.__name__) is error
    assert sdk.EmoEdgeError is sdk.runtime.EmoEdgeError is EmoEdgeError
    # the second bases keep older `except ValueError/RuntimeError/FileNotFoundError` working
    assert issubclass(InputError, ValueError) and issubclass(ArtifactError, ValueError)
    assert issubclass(BackendError, RuntimeError) and issubclass(ModelNotFoundError, FileNotFoundError)


def test_a_callback_in_one_shot_mode_is_refused(checkpoint):
    with pytest.raises(OptionsError, match="result_callback is only called in running_mode=RunningMode.STREAM"):
        EmotionRecognizer.create_from_options(RecognizerOptions(checkpoint, result_callback=print))


def test_stream_mode_needs_a_callback(checkpoint):
    with pytest.raises(OptionsError, match="delivers results to result_callback"):
        EmotionRecognizer.create_from_options(RecognizerOptions(checkpoint, running_mode=RunningMode.STREAM))


@pytest.mark.parametrize("mode", ["image", "LIVE_STREAM", 3])
def test_an_unknown_running_mode_is_refused(checkpoint, mode):
    with pytest.raises(OptionsError, match="running_mode must be one of"):
        EmotionRecognizer.create_from_options(RecognizerOptions(checkpoint, running_mode=mode))


def test_predict_on_a_stream_recognizer_is_refused_and_the_stream_delivers_to_the_callback(checkpoint):
    results = []
    options = RecognizerOptions(checkpoint, running_mode="stream", result_callback=results.append)
    recognizer = EmotionRecognizer.create_from_options(options)
    assert recognizer.running_mode is RunningMode.STREAM
    with pytest.raises(OptionsError, match="runs in running_mode=STREAM"):
        recognizer.predict(**tiny_inputs(np.random.default_rng(0)))
    with pytest.raises(OptionsError, match="without a callback"):
        recognizer.stream(lambda result: None)
    stream = recognizer.stream()
    stream.push("audio", np.ones(5, np.float32), timestamp_ms=0)
    assert len(results) == 1 and results[0].modalities_used == ("audio",)
    recognizer.close()


def test_one_shot_predict_still_opens_explicit_streams(checkpoint):
    with EmotionRecognizer.load(checkpoint) as recognizer:
        assert recognizer.running_mode is RunningMode.ONE_SHOT
        assert recognizer.predict(**tiny_inputs(np.random.default_rng(0))).label in recognizer.class_names
        with recognizer.stream() as stream:
            assert stream.push("audio", np.ones(5, np.float32), timestamp_ms=0) is not None
        assert stream.closed and not recognizer.closed  # a stream does not close the recognizer it borrows
        with pytest.raises(RecognizerClosedError, match="stream was closed"):
            stream.push("audio", np.ones(5, np.float32), timestamp_ms=1)
    assert recognizer.closed
    with pytest.raises(RecognizerClosedError):
        recognizer.predict(**tiny_inputs(np.random.default_rng(0)))
    with pytest.raises(RecognizerClosedError):
        recognizer.stream()
    recognizer.close()  # idempotent


def test_a_streaming_recognizer_from_options_owns_and_closes_its_recognizer(checkpoint):
    results = []
    options = RecognizerOptions(checkpoint, running_mode=RunningMode.STREAM, result_callback=results.append)
    with StreamingRecognizer.create_from_options(options) as stream:
        stream.push("text", "not a good movie", timestamp_ms=0)
        assert len(results) == 1
    assert stream.closed and stream.recognizer.closed and stream.recognizer._run is None
    with pytest.raises(OptionsError, match="needs running_mode=RunningMode.STREAM"):
        StreamingRecognizer.create_from_options(RecognizerOptions(checkpoint))


def test_a_callback_may_close_its_own_stream_without_deadlock(checkpoint):
    recognizer = EmotionRecognizer.load(checkpoint)
    done = threading.Event()

    def on_result(result):
        stream.close()  # takes the stream's lock: the callback must run outside it
        done.set()

    stream = recognizer.stream(on_result)
    worker = threading.Thread(target=stream.push, args=("audio", np.ones(5, np.float32), 0))
    worker.start()
    worker.join(timeout=30)
    assert done.is_set() and not worker.is_alive() and stream.closed
    recognizer.close()


def test_load_errors_stay_inside_the_contract(tmp_path, checkpoint):
    with pytest.raises(ModelNotFoundError, match="no such model file"):
        EmotionRecognizer.load(tmp_path / "missing.onnx")
    with pytest.raises(OptionsError, match="num_threads"):
        EmotionRecognizer.load(checkpoint, num_threads=0)
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="manifest"):
        EmotionRecognizer.load(bogus)


def test_an_unsupported_manifest_version_is_refused(tmp_path):
    import json

    from sdk.runtime.manifest import MANIFEST_VERSION, read_manifest, sidecar_path

    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"x")
    for version in (MANIFEST_VERSION + 1, "1", None, True):
        sidecar_path(artifact).write_text(json.dumps({"manifest_version": version, "sha256": "0", "size_bytes": 1}))
        with pytest.raises(ArtifactError, match=f"manifest_version {version!r} is not supported"):
            read_manifest(artifact, verify=False)
        with pytest.raises(ArtifactError, match="is not supported"):
            read_manifest(artifact, verify=True)


def test_runtime_failures_inside_predict_are_artifact_errors(checkpoint):
    recognizer = EmotionRecognizer.load(checkpoint)

    def broken(inputs):
        raise RuntimeError("native kernel failed")

    broken.close = lambda: None
    recognizer._run = broken
    with pytest.raises(ArtifactError, match="RuntimeError: native kernel failed"):
        recognizer.predict(**tiny_inputs(np.random.default_rng(0)))


@pytest.fixture(scope="module")
def tiny_pte():
    from tests.helpers import tiny_artifacts

    return tiny_artifacts()["executorch"]


def test_close_releases_the_native_executorch_program_at_once(tiny_pte):
    from sdk.runtime.runners import ExecuTorchRunner, Runner

    with EmotionRecognizer.load(tiny_pte) as recognizer:
        runner = recognizer._run
        assert isinstance(runner, ExecuTorchRunner) and isinstance(runner, Runner)
        program = runner._program
        assert not program.closed
        recognizer.predict(**tiny_inputs(np.random.default_rng(0)))
    assert program.closed and runner._program is None  # freed by close(), not left to the garbage collector
    with pytest.raises(RuntimeError, match="closed"):
        program.run([])  # a freed handle never reaches the library


def test_every_runner_satisfies_the_protocol():
    from sdk.runtime.runners import RUNNERS, Runner

    for cls in RUNNERS.values():
        for attribute in ("__call__", "close", "runtime"):
            assert hasattr(cls, attribute), (cls, attribute)
    assert Runner.__module__ == "sdk.runtime.runners"
