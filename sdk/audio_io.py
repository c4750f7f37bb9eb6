"""Raw PCM in: reading audio files, mono float conversion and resampling to the model's rate.

Microphones and files deliver PCM as int16, int32, uint8 or float, mono or interleaved
channels, at any sample rate (8, 16, 22.05, 44.1, 48 kHz ...). The live model takes mono
float32 in [-1, 1] at its spec's `sample_rate` (16 kHz), so every raw-signal entry point
(`EmotionRecognizer.predict(audio=pcm, sample_rate=...)`, `StreamingRecognizer.push_audio`,
the CLIs) goes through `to_mono_float` and `resample` here.

Resampling uses python-soxr (libsoxr, the SoX resampler; "HQ" quality, a linear-phase
polyphase filter with < 0.01 dB passband ripple and > 100 dB stopband rejection): it is a
small wheel with NumPy 2 support, needs no torch, and has a stateful streaming resampler
(`soxr.ResampleStream`) so chunks pushed one by one give the same samples as the whole
recording resampled at once, which scipy.signal.resample_poly (one-shot only) does not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdk.inputs import InputError

#: The most channels a PCM array may have along its second axis (more is taken as a mistake).
MAX_CHANNELS = 8
#: Sample rates accepted (Hz): telephone 8 kHz up to 384 kHz studio audio.
MIN_RATE, MAX_RATE = 4_000, 384_000


def check_rate(sample_rate) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float, np.floating)) \
            or not np.isfinite(sample_rate) or int(sample_rate) != sample_rate:
        raise InputError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}", kind="wrong_type")
    sample_rate = int(sample_rate)
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise InputError(f"sample_rate {sample_rate} Hz is outside [{MIN_RATE}, {MAX_RATE}]; pass the rate the "
                         "audio was recorded at", kind="invalid_input")
    return sample_rate


def to_mono_float(pcm, name: str = "audio") -> np.ndarray:
    """PCM -> (n,) float32 in [-1, 1]: int16 / 32768, int32 / 2^31, uint8 (x - 128) / 128, float as is
    (must be finite); (n, channels) with channels <= MAX_CHANNELS (or (channels, n)) is averaged to mono."""
    if type(pcm).__module__.startswith("torch") and hasattr(pcm, "detach"):
        pcm = pcm.detach().cpu().numpy()
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        raise InputError(f"{name}: got raw bytes; wrap them as np.frombuffer(data, dtype=np.int16)",
                         kind="wrong_type")
    if not isinstance(pcm, np.ndarray):
        raise InputError(f"{name}: expected a numpy array of PCM samples, got {type(pcm).__name__}", kind="wrong_type")
    x = np.asarray(pcm)
    if x.ndim == 2:
        if x.shape[1] <= MAX_CHANNELS and x.shape[0] > x.shape[1]:
            pass  # (n, channels), the layout soundfile and most APIs give
        elif x.shape[0] <= MAX_CHANNELS and x.shape[1] > x.shape[0]:
            x = x.T  # (channels, n)
        else:
            raise InputError(f"{name}: cannot tell samples from channels in shape {x.shape}; pass (n,) mono or "
                             f"(n, channels) with at most {MAX_CHANNELS} channels", kind="wrong_shape")
    elif x.ndim != 1:
        raise InputError(f"{name}: PCM must be (n,) or (n, channels), got shape {x.shape}", kind="wrong_shape")
    if x.dtype == np.int16:
        y = x.astype(np.float32) / np.float32(32768.0)
    elif x.dtype == np.int32:
        y = (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif x.dtype == np.uint8:
        y = (x.astype(np.float32) - 128.0) / np.float32(128.0)
    elif np.issubdtype(x.dtype, np.floating):
        y = x.astype(np.float32)
        if not np.isfinite(y).all():
            raise InputError(f"{name}: PCM contains NaN or inf", kind="non_finite")
    else:
        raise InputError(f"{name}: PCM must be int16, int32, uint8 or float, got dtype {x.dtype}",
                         kind="wrong_dtype")
    if y.ndim == 2:
        y = y.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(y)


def resample(x: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """(n,) float32 at `sample_rate` -> float32 at `target_rate` (soxr HQ; a copy-free no-op at equal rates)."""
    sample_rate, target_rate = check_rate(sample_rate), int(target_rate)
    if sample_rate == target_rate or len(x) == 0:
        return x
    import soxr

    return soxr.resample(x, sample_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


class StreamResampler:
    """Chunk-by-chunk resampling (soxr.ResampleStream) for pushes; rebuilt when the input rate changes."""

    def __init__(self, target_rate: int):
        self.target_rate = int(target_rate)
        self.rate: int | None = None
        self._stream = None

    def __call__(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        sample_rate = check_rate(sample_rate)
        if sample_rate == self.target_rate:
            self.rate, self._stream = sample_rate, None
            return x
        if self._stream is None or self.rate != sample_rate:
            import soxr

            self._stream = soxr.ResampleStream(sample_rate, self.target_rate, 1, dtype="float32", quality="HQ")
            self.rate = sample_rate
        return self._stream.resample_chunk(np.ascontiguousarray(x, dtype=np.float32))

    def reset(self) -> None:
        self.rate, self._stream = None, None


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """A WAV / FLAC / OGG file (libsndfile via soundfile) -> ((n,) float32 mono, sample_rate)."""
    import soundfile

    path = Path(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as err:
        raise ValueError(f"{path}: cannot read it as audio ({err}); pass a WAV, FLAC or OGG file") from err
    return to_mono_float(data if data.shape[1] > 1 else data[:, 0], name=str(path)), int(rate)


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int) -> None:
    """(n,) float32 -> 16-bit PCM WAV, written atomically."""
    import io

    import soundfile

    from sdk.atomic import write_bytes

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(x, -1.0, 1.0), int(sample_rate), subtype="PCM_16", format="WAV")
    write_bytes(Path(path), buffer.getvalue())
