"""Voice activity: is there speech in this audio? (Silero VAD, ONNX, on onnxruntime)

Audio counts as a present modality only when speech is detected in it. The detector is
Silero VAD (Silero Team, "Silero VAD: pre-trained enterprise-grade Voice Activity
Detector", github.com/snakers4/silero-vad, MIT licence): a small LSTM network over 32 ms
frames. Its ONNX file ships inside the `silero-vad` PyPI wheel (silero_vad/data/
silero_vad.onnx, 2.3 MB); this module finds it through the package's location WITHOUT
importing the package (whose __init__ imports torch) and runs it on onnxruntime alone.
Nothing is downloaded at run time.

The model, per frame: input = the previous 64 samples (context; zeros at the start)
followed by 512 new samples at 16 kHz, plus the LSTM state (2, 1, 128) carried from frame
to frame; output = the speech probability of the frame and the new state.

Decision rule (fixed, in the contract, contract/vad.json), the defaults of silero-vad's
`get_speech_timestamps`:
    a speech segment starts at a frame with p >= THRESHOLD (0.5) and ends at the first
    frame after which p < NEG_THRESHOLD (0.35) for MIN_SILENCE_MS (100 ms); segments
    shorter than MIN_SPEECH_MS (250 ms) are dropped. Audio has speech when at least one
    segment remains. A trailing partial frame is zero-padded.
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdk.errors import BackendError

SAMPLE_RATE = 16_000
FRAME = 512  # samples per frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame fed in front of each frame
FRAME_MS = 1000.0 * FRAME / SAMPLE_RATE
THRESHOLD = 0.5
NEG_THRESHOLD = 0.35
MIN_SPEECH_MS = 250.0
MIN_SILENCE_MS = 100.0
MODEL_FILE = "silero_vad.onnx"


class VADUnavailableError(BackendError):  # an EmoEdgeError (and a RuntimeError)
    """silero-vad or onnxruntime is not installed."""


def wheel_file(name: str) -> Path:
    """`silero_vad/data/<name>` of the installed silero-vad wheel (found without importing the package;
    also where export.silero reads the weights of its port)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VADUnavailableError("voice activity detection needs the silero-vad package "
                                  "(pip install 'emoedge[live]')")
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / name
        if path.is_file():
            return path
    raise VADUnavailableError(f"the installed silero-vad package has no data/{name}; reinstall it")


def model_path() -> Path:
    """The ONNX file inside the installed silero-vad wheel."""
    return wheel_file(MODEL_FILE)


_SESSION = None
_SESSION_LOCK = threading.Lock()


def session():
    """One onnxruntime session on the Silero model per process (one intra-op thread)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            try:
                import onnxruntime as ort
            except ImportError as err:
                raise VADUnavailableError("voice activity detection needs onnxruntime (pip install onnxruntime)"
                                          ) from err
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _SESSION = ort.InferenceSession(str(model_path()), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        return _SESSION


@dataclass
class Segment:
    start_frame: int
    end_frame: int  # exclusive

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


class SileroVAD:
    """Frame-by-frame speech probabilities with state carried across calls (streaming or whole clips)."""

    def __init__(self):
        self._session = session()
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def _frame(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, frame])[None].astype(np.float32, copy=False)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = frame[-CONTEXT:].copy()
        return float(np.asarray(out).reshape(-1)[0])

    def push(self, x: np.ndarray) -> np.ndarray:
        """Append 16 kHz float samples; the probabilities of the frames completed (possibly none)."""
        x = np.asarray(x, np.float32).reshape(-1)
        if len(self._pending):
            x = np.concatenate([self._pending, x])
        n = len(x) // FRAME
        probs = np.empty(n, np.float32)
        for i in range(n):
            probs[i] = self._frame(x[i * FRAME:(i + 1) * FRAME])
        self._pending = x[n * FRAME:].copy()
        return probs

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Per-frame speech probabilities of a whole 16 kHz clip from a fresh state (last frame zero-padded)."""
        self.reset()
        x = np.asarray(x, np.float32).reshape(-1)
        rest = (-len(x)) % FRAME
        if rest:
            x = np.concatenate([x, np.zeros(rest, np.float32)])
        probs = self.push(x)
        self.reset()
        return probs


def segments(probs: np.ndarray, threshold: float = THRESHOLD, neg_threshold: float = NEG_THRESHOLD,
             min_speech_ms: float = MIN_SPEECH_MS, min_silence_ms: float = MIN_SILENCE_MS) -> list[Segment]:
    """Speech segments of per-frame probabilities (the hysteresis rule of the module docstring)."""
    min_speech = int(np.ceil(min_speech_ms / FRAME_MS))
    min_silence = int(np.ceil(min_silence_ms / FRAME_MS))
    out: list[Segment] = []
    start = None
    silent = 0
    for i, p in enumerate(np.asarray(probs, dtype=np.float64)):
        if start is None:
            if p >= threshold:
                start, silent = i, 0
            continue
        if p < neg_threshold:
            silent += 1
            if silent >= min_silence:
                end = i - silent + 1
                if end - start >= min_speech:
                    out.append(Segment(start, end))
                start, silent = None, 0
        else:
            silent = 0
    if start is not None:
        end = len(probs) - silent
        if end - start >= min_speech:
            out.append(Segment(start, end))
    return out


def speech_mask(probs: np.ndarray, **rule) -> np.ndarray:
    """(frames,) bool: True inside a speech segment."""
    mask = np.zeros(len(probs), bool)
    for s in segments(probs, **rule):
        mask[s.start_frame:s.end_frame] = True
    return mask


def has_speech(probs: np.ndarray, **rule) -> bool:
    return bool(segments(probs, **rule))


def detect(x: np.ndarray) -> tuple[bool, np.ndarray]:
    """(speech detected?, per-frame probabilities) for a whole 16 kHz float clip."""
    probs = SileroVAD().probabilities(x)
    return has_speech(probs), probs
