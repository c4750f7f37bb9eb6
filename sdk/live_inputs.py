"""Raw signals -> model inputs for a live model: PCM, camera frames and typed text.

    recognizer.predict(audio=pcm, sample_rate=44100, image=frame, text="I can't believe it")

- audio: PCM (int16 / int32 / uint8 / float; mono or (n, channels)) at any `sample_rate`
  -> mono float32 (sdk.audio_io.to_mono_float) -> the model's rate (soxr, sdk.audio_io)
  -> the last window (the spec's seq_len samples). Present only when Silero VAD finds
  speech in that window (sdk.vad); otherwise absent with reason "no_speech".
- image: a camera frame (H, W) gray or (H, W, 3|4) RGB, or BGR with color_order="bgr"
  -> the largest frontal face (sdk.facedetect) -> sdk.face.crop_face (the one crop rule)
  -> (1, 1, 48, 48) float32 0..255 for the model's face modality. No face -> absent with
  reason "no_face".
- text: a str; empty or whitespace-only -> absent with reason "no_text"; text with more
  tokens than the model takes keeps its last seq_len tokens (speech transcripts grow).
- Anything not given -> absent with reason "not_given".

The result's `absent_reasons` maps each absent modality to its reason; its gate weight is
exactly 0 (the presence mask).
"""
from __future__ import annotations

import numpy as np

from sdk import audio_io
from sdk.inputs import InputError
from sdk.spec import FRAMES, TOKENS, WAVEFORM, ModelSpec

#: The reasons a modality can be absent (RecognitionResult.absent_reasons values).
NO_SPEECH, NO_FACE, NO_TEXT, NOT_GIVEN, STALE = "no_speech", "no_face", "no_text", "not_given", "stale"
ABSENT_REASONS = (NO_SPEECH, NO_FACE, NO_TEXT, NOT_GIVEN, STALE)


def waveform_modality(spec: ModelSpec):
    found = [m for m in spec.modalities if m.kind == WAVEFORM]
    return found[0] if found else None


def face_modality(spec: ModelSpec):
    """The model's face-crop modality: frames of 1 channel at 48x48 (T steps), preferring encoder 'face'."""
    found = [m for m in spec.modalities if m.kind == FRAMES and m.channels == 1 and m.height == m.width]
    found.sort(key=lambda m: m.encoder != "face")
    return found[0] if found else None


def text_modality(spec: ModelSpec):
    found = [m for m in spec.modalities if m.kind == TOKENS]
    return found[0] if found else None


class LivePreparer:
    """Raw signals -> (modalities for InputPreparer, absent reasons) for one spec."""

    def __init__(self, spec: ModelSpec, tokenizers: dict | None = None):
        self.spec = spec
        self.audio = waveform_modality(spec)
        self.face = face_modality(spec)
        self.text = text_modality(spec)
        self.tokenizers = tokenizers if tokenizers is not None else {}

    @staticmethod
    def vad():
        """A fresh VAD state per call (the onnxruntime session is shared and thread-safe)."""
        from sdk.vad import SileroVAD

        return SileroVAD()

    # ------------------------------------------------------------- one modality each
    def audio_window(self, pcm, sample_rate: int | None, use_vad: bool = True):
        """(window float32 (n<=seq_len,) or None, reason or None, details)."""
        m = self.audio
        if m is None:
            raise InputError(f"audio PCM given, but this model takes no waveform modality "
                             f"({self.spec.modality_names})", kind="unknown_modality")
        rate = m.sample_rate or 16000
        x = audio_io.to_mono_float(pcm, m.name)
        if sample_rate is None:
            sample_rate = rate
        sample_rate = audio_io.check_rate(sample_rate)
        # only the last window matters: cut before resampling (plus 10 % for the filter's edge)
        keep = int(np.ceil(m.seq_len * sample_rate / rate * 1.1)) + 64
        x = audio_io.resample(x[-keep:], sample_rate, rate)[-m.seq_len:]
        if len(x) == 0:
            return None, NO_SPEECH, {"speech_frames": 0, "frames": 0}
        if not use_vad:
            return x, None, {}
        from sdk import vad

        probs = self.vad().probabilities(x) if rate == vad.SAMPLE_RATE else \
            self.vad().probabilities(audio_io.resample(x, rate, vad.SAMPLE_RATE))
        mask = vad.speech_mask(probs)
        details = {"speech_frames": int(mask.sum()), "frames": int(len(mask))}
        return (x, None, details) if mask.any() else (None, NO_SPEECH, details)

    def face_crop(self, frame, color_order: str = "rgb"):
        """(crop (1, 1, S, S) float32 0..255 or None, reason or None, details with the box)."""
        m = self.face
        if m is None:
            raise InputError(f"image given, but this model takes no face-crop modality ({self.spec.modality_names})",
                             kind="unknown_modality")
        from sdk.facedetect import face_crop

        try:
            crop, box = face_crop(frame, color_order, size=m.height)
        except ValueError as err:
            raise InputError(str(err), kind="wrong_shape") from err
        if crop is None:
            return None, NO_FACE, {"box": None}
        return crop.astype(np.float32)[None, None], None, {"box": [round(v, 2) for v in box]}

    def text_ids(self, text: str):
        m = self.text
        if not isinstance(text, str):
            return text, None
        if len(text) > 65_536:
            text = text[-65_536:]
        tokenizer = self.tokenizers.get(m.name)
        if tokenizer is None:
            from sdk.tokenizer import WordTokenizer

            tokenizer = self.tokenizers[m.name] = WordTokenizer.from_vocabulary(m.vocabulary)
        ids = tokenizer.ids(text)
        if not ids:
            return None, NO_TEXT
        return np.asarray(ids[-m.seq_len:], np.int64), None

    # ------------------------------------------------------------- all together
    def prepare(self, modalities: dict, image=None, sample_rate: int | None = None, use_vad: bool = True,
                color_order: str = "rgb") -> tuple[dict, dict[str, str], dict]:
        """Raw inputs -> (inputs for InputPreparer.arrays, {absent modality: reason}, details)."""
        out = dict(modalities)
        reasons: dict[str, str] = {}
        details: dict = {}
        if image is not None:
            if self.face is None:
                raise InputError(f"image given, but this model takes no face-crop modality "
                                 f"({self.spec.modality_names})", kind="unknown_modality")
            if out.get(self.face.name) is not None:
                raise InputError(f"give either image= (a camera frame) or {self.face.name}= (prepared crops), "
                                 "not both", kind="invalid_input")
            out[self.face.name], reason, details["face"] = self.face_crop(image, color_order)
            if reason:
                reasons[self.face.name] = reason
        if self.audio is not None and out.get(self.audio.name) is not None:
            out[self.audio.name], reason, details["audio"] = self.audio_window(out[self.audio.name], sample_rate,
                                                                               use_vad)
            if reason:
                reasons[self.audio.name] = reason
        if self.text is not None and isinstance(out.get(self.text.name), str):
            out[self.text.name], reason = self.text_ids(out[self.text.name])
            if reason:
                reasons[self.text.name] = reason
        for m in self.spec.modalities:
            if out.get(m.name) is None and m.name not in reasons:
                reasons[m.name] = NOT_GIVEN
        order = self.spec.modality_names
        return out, dict(sorted(reasons.items(), key=lambda kv: order.index(kv[0]))), details


def all_absent_error(reasons: dict[str, str]) -> InputError:
    said = ", ".join(f"{n}: {r}" for n, r in reasons.items())
    err = InputError(f"every modality is absent ({said}); nothing to recognize", kind="all_absent")
    err.reasons = dict(reasons)
    return err


class LiveStream:
    """Raw signals into a StreamingRecognizer: `push_audio`, `push_frame`, `push_text`.

    - Audio: each chunk is converted to mono float, resampled chunk by chunk to the model's
      rate (soxr.ResampleStream: the same samples as resampling the whole recording), run
      through Silero VAD with its state carried across chunks, and appended to the audio ring
      buffer (the sliding window of the spec's seq_len samples). The window counts as audio
      only while the VAD finds a speech segment among the frames inside it ("no_speech"
      otherwise); audio not pushed for `audio_stale_ms` is absent ("stale").
    - Frames: the face is detected and cropped in the pushing thread, outside every lock; a
      frame without a face makes the face modality absent ("no_face") until a frame with one;
      a face older than `frame_stale_ms` is absent ("stale").
    - Text: tokenized and slid through the token window; "" (or text without words) clears it
      ("no_text"); text older than `text_stale_ms` is absent ("stale").
    A modality never pushed is absent with "not_given". The stream's own `stale_after_ms`
    still applies on top. Timestamps are the time of the newest sample / the frame / the text.
    """

    def __init__(self, stream, audio_stale_ms: float = 1000.0, frame_stale_ms: float = 1000.0,
                 text_stale_ms: float = 15000.0):
        import threading

        self.stream = stream
        self.preparer = LivePreparer(stream.spec, stream.recognizer._preparer.tokenizers)
        self.audio_stale_ms, self.frame_stale_ms, self.text_stale_ms = audio_stale_ms, frame_stale_ms, text_stale_ms
        self._audio_lock = threading.Lock()
        self._resampler = None
        self._vad = None
        m = self.preparer.audio
        if m is not None:
            from sdk import vad

            n = int(np.ceil(m.seq_len / (m.sample_rate or 16000) * vad.SAMPLE_RATE / vad.FRAME))
            self._probs = np.zeros(n, np.float32)  # ring of the VAD probabilities inside the window
            self._probs_start = self._probs_count = 0
        self.no_face = False  # the newest frame had no face
        self.no_text = False  # the newest text push had no words

    # ------------------------------------------------------------- pushes
    def push_audio(self, chunk, timestamp_ms: float, sample_rate: int | None = None):
        from sdk import vad
        from sdk.runtime.streaming import _timestamp

        m = self.preparer.audio
        if m is None:
            raise InputError(f"push_audio: this model takes no waveform modality ({self.stream.spec.modality_names})",
                             kind="unknown_modality")
        timestamp_ms = _timestamp(m.name, timestamp_ms)
        rate = m.sample_rate or 16000
        x = audio_io.to_mono_float(chunk, m.name)
        if len(x) > 10 * m.seq_len * 48:
            raise InputError(f"{m.name}: a push takes at most {10 * m.seq_len * 48:,} samples; push audio as it "
                             "arrives", kind="batch_too_large")
        with self._audio_lock:
            if self._resampler is None:
                self._resampler = audio_io.StreamResampler(rate)
                self._vad = self.preparer.vad()
                self._vad_resampler = audio_io.StreamResampler(vad.SAMPLE_RATE) if rate != vad.SAMPLE_RATE else None
            y = self._resampler(x, rate if sample_rate is None else sample_rate)
            probs = self._vad.push(y if self._vad_resampler is None else self._vad_resampler(y, rate))
            self._add_probs(probs)
        if len(y) == 0:
            return None
        return self.stream.push(m.name, y, timestamp_ms)

    def push_frame(self, frame, timestamp_ms: float, color_order: str = "rgb"):
        from sdk.runtime.streaming import _timestamp

        m = self.preparer.face
        if m is None:
            raise InputError(f"push_frame: this model takes no face-crop modality ({self.stream.spec.modality_names})",
                             kind="unknown_modality")
        timestamp_ms = _timestamp(m.name, timestamp_ms)
        crop, reason, _ = self.preparer.face_crop(frame, color_order)
        if crop is None:
            with self.stream._lock:
                self.no_face = True
            return None
        with self.stream._lock:
            self.no_face = False
        return self.stream.push(m.name, crop[0], timestamp_ms)

    def push_text(self, text: str, timestamp_ms: float):
        from sdk.runtime.streaming import _timestamp

        m = self.preparer.text
        if m is None:
            raise InputError(f"push_text: this model takes no token modality ({self.stream.spec.modality_names})",
                             kind="unknown_modality")
        if not isinstance(text, str):
            raise InputError(f"push_text takes a str, got {type(text).__name__}", kind="wrong_type")
        timestamp_ms = _timestamp(m.name, timestamp_ms)
        ids, reason = self.preparer.text_ids(text)
        if ids is None:
            with self.stream._lock:
                self.stream.windows.clear(m.name)
                self.no_text = True
            return None
        with self.stream._lock:
            self.no_text = False
        return self.stream.push(m.name, ids, timestamp_ms)

    # ------------------------------------------------------------- presence
    def _add_probs(self, probs: np.ndarray) -> None:
        n = len(self._probs)
        for p in probs[-n:]:
            self._probs[(self._probs_start + self._probs_count) % n] = p
            if self._probs_count < n:
                self._probs_count += 1
            else:
                self._probs_start = (self._probs_start + 1) % n

    def speech_in_window(self) -> bool:
        from sdk import vad

        if self.preparer.audio is None or not self._probs_count:
            return False
        n = len(self._probs)
        ring = self._probs[(self._probs_start + np.arange(self._probs_count)) % n]
        return vad.has_speech(ring)

    def absent(self, present: dict, timestamp_ms: float) -> dict[str, str]:
        """Apply the live rules to the stream's windows (called under the stream's lock): set absent
        modalities to None in `present` and return {absent modality: reason}."""
        reasons: dict[str, str] = {}
        last = self.stream.last_push_ms
        rules = {}
        if self.preparer.audio is not None:
            with self._audio_lock:
                speech = self.speech_in_window()
            rules[self.preparer.audio.name] = (self.audio_stale_ms, None if speech else NO_SPEECH)
        if self.preparer.face is not None:
            rules[self.preparer.face.name] = (self.frame_stale_ms, NO_FACE if self.no_face else None)
        if self.preparer.text is not None:
            rules[self.preparer.text.name] = (self.text_stale_ms, NO_TEXT if self.no_text else None)
        for name in list(present):
            stale_ms, reason = rules.get(name, (None, None))
            if name not in last:
                reason = reason if reason in (NO_FACE, NO_TEXT) else NOT_GIVEN
            elif present[name] is None or (stale_ms is not None and timestamp_ms - last[name] > stale_ms):
                reason = reason if reason in (NO_FACE, NO_TEXT) else STALE
            if reason:
                present[name] = None
                reasons[name] = reason
        return reasons
