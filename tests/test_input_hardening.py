"""Inputs a careless caller passes, and re-entrant stream callbacks (issue 13, findings 5 and 8).

Each test failed on the code before the fix: the callback deadlocked under the
stream's lock, np.matrix and non-numeric timestamps raised bare ValueError or
TypeError, a huge recording was converted in full before being cut to the window,
a 50 MB text was tokenized before being refused.
"""
from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from sdk import EmotionRecognizer
from sdk.inputs import MAX_TEXT_CHARS, InputError
from tests.helpers import save_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return EmotionRecognizer.load(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


def _p(result) -> np.ndarray:
    return np.array(list(result.probabilities.values()))


def _in_thread(fn, timeout=20.0):
    """Run fn in a thread; fail (instead of hanging the suite) when it does not return."""
    errors = []

    def target():
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlock: the stream callback could not re-enter the stream"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("action", ["reset", "push", "predict_now"])
def test_a_callback_may_call_back_into_the_stream(tiny, action):
    seen = []

    def on_result(result):
        seen.append(result.timestamp_ms)
        if len(seen) > 1:
            return
        if action == "reset":
            stream.reset()
        elif action == "push":
            stream.push("audio", np.ones(5, np.float32), timestamp_ms=result.timestamp_ms + 1)
        else:
            stream.predict_now(result.timestamp_ms + 1)

    stream = tiny.stream(on_result)
    _in_thread(lambda: stream.push("audio", np.ones(5, np.float32), timestamp_ms=0))
    assert seen[0] == 0.0
    assert len(seen) == (1 if action == "reset" else 2)


@pytest.mark.parametrize("timestamp", ["12", None, [1.0], True])
def test_non_numeric_timestamps_are_input_errors(tiny, timestamp):
    stream = tiny.stream()
    with pytest.raises(InputError, match="timestamp_ms must be a number"):
        stream.push("audio", np.ones(5, np.float32), timestamp_ms=timestamp)


def test_matrix_inputs_are_taken_as_arrays(tiny):
    audio = np.arange(30, dtype=np.float32).reshape(6, 5)
    expected = _p(tiny.predict(audio=audio))
    assert np.allclose(_p(tiny.predict(audio=np.matrix(audio))), expected)


def test_complex_inputs_are_refused_not_truncated(tiny):
    with pytest.raises(InputError, match="complex values are not features") as err:
        tiny.predict(audio=np.ones((6, 5), np.complex64))
    assert err.value.kind == "wrong_dtype"


def test_a_long_recording_is_cut_before_it_is_converted(tiny):
    """100,000 float64 steps (4 MB): only the last seq_len (6) steps are converted and normalised."""
    long = np.random.default_rng(0).normal(size=(100_000, 5))
    expected = _p(tiny.predict(audio=long[-6:]))
    tracemalloc.start()
    result = tiny.predict(audio=long)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.allclose(_p(result), expected)
    assert peak < long.nbytes / 4, f"{peak / 2**20:.1f} MB allocated for a {long.nbytes / 2**20:.1f} MB input"


def test_a_huge_batch_is_refused_before_conversion(tiny):
    huge = np.zeros((700_000, 6, 5), np.float64)  # 21 M values, cut to the window it is still the same
    with pytest.raises(InputError, match="split the batch") as err:
        tiny.predict(audio=huge)
    assert err.value.kind == "batch_too_large"


def test_huge_text_is_refused_before_tokenizing(tiny):
    text = "good " * (MAX_TEXT_CHARS // 5 + 10)
    with pytest.raises(InputError, match="characters") as err:
        tiny.predict(text=text)
    assert err.value.kind == "text_too_long"
    stream = tiny.stream()
    with pytest.raises(InputError, match="characters"):
        stream.push("text", "x" * (10 * 2**20), timestamp_ms=0)  # 10 MB
    stream.push("text", "good movie", timestamp_ms=1)  # normal text still flows
