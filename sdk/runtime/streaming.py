"""Streaming recognition: push steps per modality as they arrive, results by callback.

    def on_result(result):            # RecognitionResult with timestamp_ms set
        print(result.timestamp_ms, result.label, result.modalities_used)

    stream = recognizer.stream(on_result, stale_after_ms=2000)
    stream.push("audio", audio_step, timestamp_ms=40)      # (F,) one step, or (k, F)
    stream.push("text", "so this movie", timestamp_ms=900)  # str for a token modality
    stream.push("video", frame_features, timestamp_ms=1000)

Each modality has a ring buffer holding its last `seq_len` steps (the model's
context window, from the manifest); modalities arrive at their own rates. After a
push, a prediction is made on the current windows (at most one per
`min_interval_ms`) and handed to the callback, in the pushing thread, with
`timestamp_ms` (the push's time) and `input_timestamps_ms` (each used modality's
newest step). The callback runs after the stream's lock is released, so it may
itself push, reset or call `predict_now` without deadlocking. A modality never pushed, or silent for more than `stale_after_ms`,
is absent (None) for that prediction: the model's gating then uses the others.

Timestamps are milliseconds on any clock, non-decreasing per modality (an older
one raises InputError, like a bad step). Text pushed to a token modality is
tokenized with the model's vocabulary and slides through the window (any number
of tokens, unlike `predict`, up to MAX_TEXT_CHARS characters per push). Steps are validated at push, so a bad one never enters
a buffer. Memory is fixed: the buffers are allocated once.

Lifetime: `close()` (or `with recognizer.stream(cb) as stream:`) empties the buffers and
refuses later pushes (RecognizerClosedError); a stream made by
`StreamingRecognizer.create_from_options(options)` owns its recognizer (running_mode
STREAM) and closes it too, releasing the runtime at once.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable

import numpy as np

from sdk.errors import OptionsError, RecognizerClosedError
from sdk.inputs import MAX_TEXT_CHARS, InputError, _as_array, bounded
from sdk.spec import TOKENS, ModalitySpec


class RingBuffer:
    """The last `capacity` steps of one modality, oldest first, in preallocated memory."""

    def __init__(self, capacity: int, step_shape: tuple[int, ...], dtype):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.data = np.zeros((capacity, *step_shape), dtype=dtype)
        self.start = 0  # index of the oldest step
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def extend(self, steps: np.ndarray) -> None:
        """Append (k, *step_shape) steps; the oldest fall out once the buffer is full."""
        steps = steps[-self.capacity :]
        k = len(steps)
        end = (self.start + self.count) % self.capacity  # where the next step goes
        first = min(k, self.capacity - end)
        self.data[end : end + first] = steps[:first]
        self.data[: k - first] = steps[first:]
        overflow = max(0, self.count + k - self.capacity)
        self.start = (self.start + overflow) % self.capacity
        self.count = min(self.capacity, self.count + k)

    def window(self) -> np.ndarray:
        """A copy of the buffered steps, oldest first: (len(self), *step_shape)."""
        index = (self.start + np.arange(self.count)) % self.capacity
        return self.data[index]

    def clear(self) -> None:
        self.start = self.count = 0


class ModalityWindows:
    """One ring buffer per modality plus the time of its newest push; which windows are fresh at a time.

    The platform-free part of streaming (the Kotlin and Swift cores mirror it, checked by
    contract/ring_buffer.json): `add` appends steps seen at `timestamp_ms` (an older timestamp
    than the modality's previous push raises InputError kind "timestamp_out_of_order");
    `windows(t)` gives each modality's buffered steps, or None when it was never pushed, is
    empty, or was last pushed more than `stale_after_ms` before `t`.
    """

    def __init__(self, modalities: list[ModalitySpec], stale_after_ms: float | None = None):
        if stale_after_ms is not None and stale_after_ms < 0:
            raise OptionsError(f"stale_after_ms must be >= 0 or None, got {stale_after_ms}")
        self.stale_after_ms = stale_after_ms
        self.buffers = {
            m.name: RingBuffer(m.seq_len, m.step_shape(), np.int64 if m.kind == TOKENS else np.float32)
            for m in modalities
        }
        self.last_push_ms: dict[str, float] = {}

    def add(self, modality: str, steps: np.ndarray, timestamp_ms: float) -> None:
        last = self.last_push_ms.get(modality)
        if last is not None and timestamp_ms < last:
            raise InputError(
                f"{modality}: timestamp {timestamp_ms} ms is older than its previous push ({last} ms); "
                "push steps in time order",
                kind="timestamp_out_of_order",
            )
        if len(steps):
            self.buffers[modality].extend(steps)
        self.last_push_ms[modality] = float(timestamp_ms)

    def windows(self, timestamp_ms: float) -> dict[str, np.ndarray | None]:
        present = {}
        for name, buffer in self.buffers.items():
            last = self.last_push_ms.get(name)
            fresh = self.stale_after_ms is None or (last is not None and timestamp_ms - last <= self.stale_after_ms)
            present[name] = buffer.window() if len(buffer) and fresh else None
        return present

    def clear(self, modality: str | None = None) -> None:
        for name in [modality] if modality else list(self.buffers):
            self.buffers[name].clear()
            self.last_push_ms.pop(name, None)


class StreamingRecognizer:
    """Ring buffers per modality in front of an `EmotionRecognizer` (see the module docstring)."""

    def __init__(self, recognizer, callback: Callable | None = None, *, stale_after_ms: float | None = None,
                 min_interval_ms: float = 0.0, owns_recognizer: bool = False):
        if stale_after_ms is not None and stale_after_ms < 0:
            raise OptionsError(f"stale_after_ms must be >= 0 or None, got {stale_after_ms}")
        if min_interval_ms < 0:
            raise OptionsError(f"min_interval_ms must be >= 0, got {min_interval_ms}")
        if callback is not None and not callable(callback):
            raise OptionsError(f"callback must be callable, got {type(callback).__name__}")
        self.recognizer = recognizer
        self.callback = callback
        self.stale_after_ms = stale_after_ms
        self.min_interval_ms = min_interval_ms
        self.spec = recognizer.spec
        self.windows = ModalityWindows(self.spec.modalities, stale_after_ms)
        self.buffers = self.windows.buffers
        self.last_push_ms = self.windows.last_push_ms
        self.last_result_ms: float | None = None
        self.results = 0
        self._lock = threading.Lock()
        self._live = None  # sdk.live_inputs.LiveStream, made at the first push_audio/push_frame/push_text
        self._owns_recognizer = owns_recognizer
        self._closed = False

    @classmethod
    def create_from_options(cls, options) -> "StreamingRecognizer":
        """Load the model in running_mode STREAM (options.result_callback required) and stream from it;
        the stream owns that recognizer: `close()` releases both."""
        from sdk.runtime.recognizer import EmotionRecognizer, RunningMode

        recognizer = EmotionRecognizer.create_from_options(options)
        if recognizer.running_mode is not RunningMode.STREAM:
            recognizer.close()
            raise OptionsError("StreamingRecognizer.create_from_options needs running_mode=RunningMode.STREAM "
                               "and a result_callback; for predict() use EmotionRecognizer")
        return cls(recognizer, options.result_callback, stale_after_ms=options.stale_after_ms,
                   min_interval_ms=options.min_interval_ms, owns_recognizer=True)

    # ------------------------------------------------------------- lifetime
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Empty the buffers and refuse later pushes; close the recognizer if this stream owns it.
        Idempotent; a push in progress in another thread finishes first."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.windows.clear()
        if self._owns_recognizer:
            self.recognizer.close()

    def __enter__(self) -> "StreamingRecognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RecognizerClosedError("this stream was closed; open a new one with recognizer.stream()")

    # ------------------------------------------------------------- raw signals (live models)
    def live(self, **rules):
        """The raw-signal front of this stream (sdk.live_inputs.LiveStream: VAD, face detection,
        per-modality staleness); `rules` (audio_stale_ms, frame_stale_ms, text_stale_ms) set it up."""
        if self._live is None or rules:
            from sdk.live_inputs import LiveStream

            self._live = LiveStream(self, **rules)
        return self._live

    def push_audio(self, chunk, timestamp_ms: float, sample_rate: int | None = None):
        """PCM as it arrives (any dtype/rate, see sdk.live_inputs.LiveStream.push_audio)."""
        return self.live().push_audio(chunk, timestamp_ms, sample_rate)

    def push_frame(self, frame, timestamp_ms: float, color_order: str = "rgb"):
        """A camera frame: face detected and cropped (sdk.live_inputs.LiveStream.push_frame)."""
        return self.live().push_frame(frame, timestamp_ms, color_order)

    def push_text(self, text: str, timestamp_ms: float):
        """Typed or transcribed text; "" clears it (sdk.live_inputs.LiveStream.push_text)."""
        return self.live().push_text(text, timestamp_ms)

    # ------------------------------------------------------------- input
    def push(self, modality: str, steps, timestamp_ms: float):
        """Add one step (step_shape) or several (k, *step_shape) of `modality` seen at
        `timestamp_ms`; returns the result it triggered (also sent to the callback) or None."""
        if modality not in self.buffers:
            raise InputError(f"unknown modality {modality!r}; this model takes {self.spec.modality_names}",
                             kind="unknown_modality")
        timestamp_ms = _timestamp(modality, timestamp_ms)
        steps = self._steps(self.spec.modality(modality), steps)
        with self._lock:
            self._check_open()
            self.windows.add(modality, steps, timestamp_ms)
            if not len(steps):
                return None
            if self.last_result_ms is not None and timestamp_ms - self.last_result_ms < self.min_interval_ms:
                return None
            result = self._emit(timestamp_ms)
        return self._deliver(result)

    def predict_now(self, timestamp_ms: float):
        """A result from the current windows at `timestamp_ms` (None when every modality is absent)."""
        timestamp_ms = _timestamp("predict_now", timestamp_ms)
        with self._lock:
            self._check_open()
            result = self._emit(timestamp_ms)
        return self._deliver(result)

    def reset(self, modality: str | None = None) -> None:
        """Empty one modality's buffer (or all of them), e.g. at a new speaker or scene."""
        with self._lock:
            self.windows.clear(modality)

    # ------------------------------------------------------------- internals
    def _steps(self, m: ModalitySpec, value) -> np.ndarray:
        """Validate pushed steps -> (k, *step_shape) in the buffer's dtype."""
        if m.kind == TOKENS and isinstance(value, str):
            if len(value) > MAX_TEXT_CHARS:
                raise InputError(f"{m.name}: a push takes at most {MAX_TEXT_CHARS:,} characters of text, got "
                                 f"{len(value):,}; push text as it arrives (the window keeps the last "
                                 f"{m.seq_len} tokens)", kind="text_too_long")
            return np.asarray(self.recognizer._preparer.tokenizers[m.name].ids(value), dtype=np.int64)
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            value = np.asarray(value)
        # Only the last seq_len steps can stay in the ring buffer: cut before converting.
        x = _as_array(m.name, bounded(m.name, value, m), m)
        step = m.step_shape()
        if x.ndim == len(step):
            x = x[None]
        if x.ndim != 1 + len(step) or tuple(x.shape[1:]) != step:
            shape = ", ".join(map(str, step))
            raise InputError(
                f"{m.name}: a push takes one step of shape ({shape}) or several of shape (k, {shape}), got {x.shape}"
                if step else f"{m.name}: a push takes one token id or an array of ids (k,), got shape {x.shape}",
                kind="wrong_shape",
            )
        if len(x) == 0:
            raise InputError(f"{m.name}: pushed zero steps; push at least one step", kind="zero_steps")
        return x

    def _deliver(self, result):
        """Hand `result` to the callback, outside the lock: a callback may push, reset or predict."""
        if result is not None and self.callback is not None:
            self.callback(result)
        return result

    def _emit(self, timestamp_ms: float):
        """A result from the current windows (called under the lock; the callback is not called here)."""
        present = self.windows.windows(timestamp_ms)
        reasons = self._live.absent(present, timestamp_ms) if self._live is not None else {}
        if all(v is None for v in present.values()):
            return None
        result = self.recognizer._predict(**present)  # the stream is the STREAM mode's way in
        result = dataclasses.replace(
            result, timestamp_ms=timestamp_ms,
            input_timestamps_ms={n: self.last_push_ms[n] for n, v in present.items() if v is not None},
            **({"absent_reasons": reasons} if reasons else {}),
        )
        self.last_result_ms = timestamp_ms
        self.results += 1
        return result


def _timestamp(where: str, value) -> float:
    """A push's time in ms as a float; InputError for anything that is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: timestamp_ms must be a number of milliseconds, got {type(value).__name__} "
                         f"{value!r:.40}", kind="wrong_type")
    if not np.isfinite(value):
        raise InputError(f"{where}: timestamp_ms must be a finite number of milliseconds, got {value}")
    return float(value)
