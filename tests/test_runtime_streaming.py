"""Streaming: ring buffers, modalities at different rates or stopping, callbacks with timestamps, memory."""
from __future__ import annotations

import numpy as np
import pytest

from sdk import EmotionRecognizer
from sdk.runtime import InputError
from sdk.runtime.streaming import RingBuffer
from tests.helpers import mosi_artifact, random_steps, save_tiny_checkpoint

RSS_GROWTH_LIMIT_MB = 5.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return EmotionRecognizer.load(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc)."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------ ring buffer
def test_ring_buffer_keeps_the_last_capacity_steps_in_order():
    ring = RingBuffer(4, (2,), np.float32)
    assert ring.window().shape == (0, 2)
    ring.extend(np.array([[0, 0], [1, 1]], np.float32))
    assert ring.window()[:, 0].tolist() == [0, 1]
    for k in range(2, 7):
        ring.extend(np.full((1, 2), k, np.float32))
    assert ring.window()[:, 0].tolist() == [3, 4, 5, 6]
    ring.extend(np.arange(10, 13, dtype=np.float32)[:, None].repeat(2, 1))  # wraps around
    assert ring.window()[:, 0].tolist() == [6, 10, 11, 12]
    ring.extend(np.arange(20, 30, dtype=np.float32)[:, None].repeat(2, 1))  # more than the capacity
    assert ring.window()[:, 0].tolist() == [26, 27, 28, 29]
    ring.clear()
    assert len(ring) == 0


def test_ring_buffer_matches_a_list_for_random_pushes():
    rng = np.random.default_rng(0)
    ring, reference = RingBuffer(5, (), np.int64), []
    for _ in range(200):
        steps = rng.integers(0, 100, size=rng.integers(1, 8))
        ring.extend(steps)
        reference = (reference + steps.tolist())[-5:]
        assert ring.window().tolist() == reference


# ------------------------------------------------------------------ stream
def test_stream_predicts_on_the_window_with_timestamps(tiny):
    results = []
    stream = tiny.stream(results.append)
    rng = np.random.default_rng(0)
    audio = rng.normal(2.0, 1.0, size=(10, 5)).astype(np.float32)
    for t in range(10):  # audio every 10 ms, one step at a time
        stream.push("audio", audio[t], timestamp_ms=10.0 * t)
    assert len(results) == 10 and [r.timestamp_ms for r in results] == [10.0 * t for t in range(10)]
    last = results[-1]
    assert last.modalities_used == ("audio",) and last.input_timestamps_ms == {"audio": 90.0}
    expected = tiny.predict(audio=audio[-6:])  # the window: the last seq_len = 6 steps
    assert last.probabilities == pytest.approx(expected.probabilities, abs=1e-12)


def test_stream_modalities_at_different_rates_and_stopping(tiny):
    results = []
    stream = tiny.stream(results.append, stale_after_ms=100)
    rng = np.random.default_rng(1)
    video = rng.random((3, 1, 8, 8), dtype=np.float32)
    audio = rng.normal(size=(12, 5)).astype(np.float32)
    stream.push("text", "not a good", timestamp_ms=60)
    stream.push("text", "movie", timestamp_ms=65)  # the text window slides: tokens of both pushes
    for k in range(3):
        stream.push("video", video[k], timestamp_ms=40.0 * k)
    for k in range(12):
        stream.push("audio", audio[k], timestamp_ms=10.0 * k)
    assert results[-1].modalities_used == ("audio", "video", "text")
    with_text = tiny.predict(audio=audio[-6:], video=video, text="not a good movie")
    assert results[-1].probabilities == pytest.approx(with_text.probabilities, abs=1e-12)
    stream.push("audio", audio[0], timestamp_ms=200)  # text (65 ms) and video (80 ms) have gone quiet
    assert results[-1].modalities_used == ("audio",)
    assert results[-1].input_timestamps_ms == {"audio": 200.0}
    stream.reset("audio")
    assert stream.predict_now(timestamp_ms=400) is None  # nothing fresh left


def test_stream_min_interval_and_bad_pushes(tiny):
    results = []
    stream = tiny.stream(results.append, min_interval_ms=50)
    for t in range(0, 200, 10):
        stream.push("audio", np.ones(5, np.float32), timestamp_ms=t)
    assert [r.timestamp_ms for r in results] == [0, 50, 100, 150]
    with pytest.raises(InputError, match="older than its previous push"):
        stream.push("audio", np.ones(5, np.float32), timestamp_ms=10)
    with pytest.raises(InputError, match=r"audio: a push takes one step of shape \(5\)"):
        stream.push("audio", np.ones((2, 4), np.float32), timestamp_ms=300)
    with pytest.raises(InputError, match="audio: contains NaN"):
        stream.push("audio", np.full(5, np.nan, np.float32), timestamp_ms=300)
    with pytest.raises(InputError, match="unknown modality 'smell'"):
        stream.push("smell", np.ones(5, np.float32), timestamp_ms=300)
    with pytest.raises(InputError, match="token ids must lie"):
        stream.push("text", np.array([99]), timestamp_ms=300)
    assert len(stream.buffers["audio"]) == 6  # full: seq_len steps
    assert np.isfinite(stream.buffers["audio"].window()).all()  # the bad steps never entered the buffer


def streaming_rss_growth(recognizer, predictions: int, warmup: int = 2000) -> float:
    """RSS growth (MB) over `predictions` streaming predictions after `warmup` ones."""
    import gc

    spec = recognizer.spec
    rng = np.random.default_rng(0)
    steps = {m.name: random_steps(m, rng, 64) for m in spec.modalities}
    count = [0]
    stream = recognizer.stream(lambda result: count.__setitem__(0, count[0] + 1))
    names = spec.modality_names
    pushes = [0]

    def push(k):  # modalities at different rates: the first every step, the others every 2nd / 3rd step
        for j, name in enumerate(names):
            if k % (j + 1) == 0:
                stream.push(name, steps[name][k % 64], timestamp_ms=k * 10.0)
                pushes[0] += 1

    k = 0
    while pushes[0] < warmup:
        push(k)
        k += 1
    gc.collect()
    before = rss_mb()
    while pushes[0] < warmup + predictions:
        push(k)
        k += 1
    gc.collect()
    assert count[0] == pushes[0]  # every push made one prediction
    return rss_mb() - before


def test_streaming_rss_growth_is_small(tiny_dist):
    recognizer = EmotionRecognizer.load(tiny_dist["onnx"])
    growth = streaming_rss_growth(recognizer, 3000, warmup=1000)
    assert growth <= RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.1f} MB over 3,000 streaming predictions"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("backend", ["onnx", "executorch", "litert"])
def test_100k_streaming_predictions_grow_rss_by_at_most_5_mb(backend):
    recognizer = EmotionRecognizer.load(mosi_artifact(backend))
    growth = streaming_rss_growth(recognizer, 100_000)
    print(f"{backend}: RSS growth {growth:.2f} MB over 100,000 streaming predictions")
    assert growth <= RSS_GROWTH_LIMIT_MB
