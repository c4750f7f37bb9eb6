"""The log-mel front end of a `waveform` modality, inside the model graph.

Every exported artifact takes raw mono PCM (float32 in [-1, 1]) and computes its own
log-mel spectrogram, so the Python, Kotlin and Swift runtimes cannot drift apart:
none of them computes features. The steps, for a window of S samples (spec fields of
`sdk.spec.ModalitySpec`; defaults for 16 kHz: win_length 400 = 25 ms, hop_length
160 = 10 ms, n_mels 64, fmin 0, fmax 8000):

1. framing: frame f covers samples [f * hop, f * hop + win) for f = 0 .. F-1 with
   F = 1 + (S - win) // hop (298 for 3 s); no centre padding (librosa ``center=False``);
2. a periodic Hann window (``scipy.signal.get_window("hann", win)``, as librosa uses);
3. the power spectrum |DFT|^2 of every windowed frame, for the win // 2 + 1 bins of a
   ``win``-point DFT (n_fft = win_length), in three fixed-weight steps that reuse the
   overlap of the frames (a 25 ms frame every 10 ms reads each sample 2.5 times):
   a. the waveform is cut into chunks of c = gcd(win, hop) samples (80 at 16 kHz), and
      ONE `conv1d` (kernel = stride = c) takes the un-windowed partial DFT of every
      chunk at bins -1 .. win/2 + 1 (cosine and sine row per bin, interleaved);
   b. ONE grouped `conv1d` (a group per bin, 2 -> 2 channels, kernel win / c = 5 taps,
      stride hop / c = 2 chunks) adds the win / c chunks of each frame with their
      twiddle factors exp(-2 pi i k m c / win), m = chunk position: the frame's DFT;
   c. the periodic Hann window is applied in the frequency domain, where it is exact:
      X_w[k] = 0.5 X[k] - 0.25 X[k - 1] - 0.25 X[k + 1] (three channel slices), then
      squared.
   This costs chunks x rows x c + frames x rows x 2 x taps = 600 x 406 x 80 + 298 x
   406 x 10 = 20.7 M multiply-accumulates for 3 s at 16 kHz, instead of 47.7 M for the
   textbook framed DFT (frames x 2 x bins x win; what `direct=True` computes);
4. the mel filterbank: one fixed-weight 1x1 `conv1d` that also adds the real and
   imaginary halves (Slaney mel scale and area normalisation, librosa's defaults
   ``htk=False, norm="slaney"``);
5. ``log(mel_power + eps)`` with eps = 1e-6 (natural log);
6. per-band normalisation ``(x - mean) / std`` with the band statistics stored in the
   spec (`ModalitySpec.normalization`, n_mels values, fitted on the training split by
   `sdk.data.fit_normalization`).

Only conv1d, slice, mul, add, sub and log: ops that ExecuTorch's XNNPACK partitioner
delegates, that LiteRT converts and that ONNX has; `torch.stft` is not used (it
exports to neither ExecuTorch/XNNPACK nor LiteRT).

The DFT basis, the mel matrix and the normalisation statistics are registered
BUFFERS, not `nn.Parameter`s: the optimizer never updates them, weight decay and
PNAO's L1 sparsity term ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" eq. 8) never see them, and PNAO's structured
pruning (compress.prune, which prunes the output nodes of parameterised layers)
never selects them (tests/test_frontend.py checks this). Loading a checkpoint keeps
the values built from the spec (stored copies are replaced), so a checkpoint cannot
carry a front end other than the one its spec describes.

Cost for a 3 s window at 16 kHz: 20.7 M MACs for the spectrum (step 3) and
298 x 402 x 64 = 7.7 M for the mel filterbank.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sdk.spec import WAVEFORM, ModalitySpec

#: Added to the mel power before the log (the floor of a silent band: log(1e-6) = -13.8).
LOG_EPS = 1e-6


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window: 0.5 - 0.5 cos(2 pi n / length), n = 0 .. length-1."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa.hz_to_mel, htk=False): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mels)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of `hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, Slaney-normalised (librosa.filters.mel defaults)."""
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights


def dft_basis(win_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The windowed DFT rows of the textbook framed DFT and the bin each row belongs to.

    Returns (basis (R, win_length), bin_of_row (R,)): the cosine rows of bins
    0 .. win/2, then the (negated) sine rows of the bins whose sine is not identically 0.
    """
    n_bins = win_length // 2 + 1
    n = np.arange(win_length, dtype=np.float64)
    k = np.arange(n_bins, dtype=np.float64)
    angle = 2.0 * np.pi * np.outer(k, n) / win_length
    window = hann_window(win_length)
    sine_bins = [b for b in range(n_bins) if b != 0 and 2 * b != win_length]
    basis = np.concatenate([np.cos(angle) * window, -np.sin(angle[sine_bins]) * window])
    return basis, np.concatenate([np.arange(n_bins), sine_bins])


def chunked_dft(win_length: int, hop_length: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The fixed weights of steps 3a and 3b (module docstring).

    Returns (chunk_basis (2B, 1, c), twiddle (2B, 2, taps), c, stride) for the B = win/2 + 3
    bins k = -1 .. win/2 + 1, rows interleaved (2j: real part, 2j + 1: imaginary part of bin j - 1).
    """
    chunk = math.gcd(win_length, hop_length)
    taps, stride = win_length // chunk, hop_length // chunk
    bins = np.arange(-1, win_length // 2 + 2, dtype=np.float64)
    n = np.arange(chunk, dtype=np.float64)
    angle = 2.0 * np.pi * np.outer(bins, n) / win_length
    basis = np.empty((2 * len(bins), 1, chunk))
    basis[0::2, 0] = np.cos(angle)
    basis[1::2, 0] = -np.sin(angle)
    phase = -2.0 * np.pi * np.outer(bins, np.arange(taps)) * chunk / win_length  # (B, taps)
    wr, wi = np.cos(phase), np.sin(phase)
    twiddle = np.empty((2 * len(bins), 2, taps))
    twiddle[0::2, 0], twiddle[0::2, 1] = wr, -wi  # real out = Wr Gr - Wi Gi
    twiddle[1::2, 0], twiddle[1::2, 1] = wi, wr  # imag out = Wi Gr + Wr Gi
    return basis, twiddle, chunk, stride


class LogMelFrontEnd(nn.Module):
    """Raw PCM (B, S) -> normalised log-mel (B, n_mels, F), channel-major (see the module docstring).

    Fixed weights are buffers (never trained, never pruned). `forward(pcm, normalize=False)`
    gives the un-normalised log-mel (what `sdk.data.fit_normalization` fits the statistics on).
    `direct=True` computes the spectrum as the textbook framed DFT (one conv1d with
    kernel = win, stride = hop; 2.3x the MACs), e.g. when gcd(win, hop) is too small to chunk.
    """

    def __init__(self, modality: ModalitySpec, direct: bool | None = None):
        super().__init__()
        if modality.kind != WAVEFORM:
            raise ValueError(f"LogMelFrontEnd needs a 'waveform' modality, got {modality.kind!r} for {modality.name!r}")
        win, hop = modality.win_length, modality.hop_length
        self.hop_length = hop
        self.n_frames = modality.n_frames
        self.direct = bool(direct) if direct is not None else win // math.gcd(win, hop) > 16
        mel = mel_filterbank(modality.sample_rate, win, modality.n_mels, modality.fmin, modality.fmax)
        if self.direct:
            basis, bin_of_row = dft_basis(win)
            self._fixed("dft", basis[:, None, :])  # (R, 1, win)
            self._fixed("mel", mel[:, bin_of_row][:, :, None])
        else:
            basis, twiddle, self.chunk, self.stride = chunked_dft(win, hop)
            self.n_bins = win // 2 + 1
            self._fixed("dft", basis)  # (2B, 1, c)
            self._fixed("twiddle", twiddle)  # (2B, 2, taps)
            # rows 2k, 2k + 1 of the windowed spectrum are bin k's real and imaginary parts; the
            # window's 0.5 / -0.25 weights are applied as 2 X[k] - X[k-1] - X[k+1] = 4 X_w[k], so / 16
            self._fixed("mel", np.repeat(mel, 2, axis=1)[:, :, None] / 16.0)
        norm = modality.normalization
        mean = np.asarray(norm.mean, np.float32) if norm.mean else np.zeros(modality.n_mels, np.float32)
        std = np.asarray(norm.std, np.float32) if norm.std else np.ones(modality.n_mels, np.float32)
        self._fixed("mean", mean.reshape(1, -1, 1))
        self._fixed("inv_std", (1.0 / std).reshape(1, -1, 1))

    def _fixed(self, name: str, value: np.ndarray) -> None:
        # persistent: ExecuTorch's XNNPACK lowering rejects non-persistent buffers in fp32 programs
        self.register_buffer(name, torch.tensor(value, dtype=torch.float32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Loading keeps the front end built from the spec: stored copies are replaced (an older
        checkpoint may hold the framed-DFT weights of another shape, or none)."""
        for name, buffer in self.named_buffers(recurse=False):
            state_dict[prefix + name] = buffer
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def n_mels(self) -> int:
        return self.mel.shape[0]

    def mel_power(self, pcm: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, n_mels, F): mel-filtered power spectrum (librosa.feature.melspectrogram, center=False)."""
        x = pcm.unsqueeze(1)
        if self.direct:
            spectrum = nn.functional.conv1d(x, self.dft, stride=self.hop_length)  # (B, R, F)
        else:
            chunks = nn.functional.conv1d(x, self.dft, stride=self.chunk)  # (B, 2B, chunks)
            frames = nn.functional.conv1d(chunks, self.twiddle, stride=self.stride, groups=self.twiddle.shape[0] // 2)
            rows = 2 * self.n_bins
            spectrum = 2 * frames[:, 2 : 2 + rows] - frames[:, 0:rows] - frames[:, 4 : 4 + rows]  # 4 x Hann-windowed
        return nn.functional.conv1d(spectrum * spectrum, self.mel)

    def log_mel(self, pcm: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, n_mels, F): log(mel power + 1e-6), not normalised."""
        return torch.log(self.mel_power(pcm) + LOG_EPS)

    def forward(self, pcm: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.log_mel(pcm)
        return (x - self.mean) * self.inv_std if normalize else x


def fit_log_mel_statistics(modality: ModalitySpec, pcm: np.ndarray, lengths: np.ndarray,
                           batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of the log-mel of `pcm` (N, S), over the frames that lie
    entirely inside each sample's valid (last `lengths[i]`) samples.

    Padding frames are left out so the statistics describe speech, not the zero pad.
    Samples without a single valid frame contribute nothing.
    """
    front = LogMelFrontEnd(modality)
    starts = np.arange(modality.n_frames) * modality.hop_length  # first sample of each frame
    total = np.zeros(modality.n_mels)
    total_sq = np.zeros(modality.n_mels)
    count = 0
    with torch.no_grad():
        for i in range(0, len(pcm), batch):
            x = front(torch.from_numpy(np.ascontiguousarray(pcm[i : i + batch], dtype=np.float32)), normalize=False)
            x = x.double().numpy()  # (b, n_mels, F)
            valid = starts[None, :] >= (modality.seq_len - lengths[i : i + batch, None])  # (b, F)
            frames = x.transpose(0, 2, 1)[valid]  # (frames, n_mels)
            total += frames.sum(axis=0)
            total_sq += (frames * frames).sum(axis=0)
            count += len(frames)
    if count == 0:
        raise ValueError(f"modality {modality.name!r}: no training sample has a full frame of valid audio "
                         f"({modality.win_length} samples) to fit the log-mel statistics on")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    return mean, np.maximum(std, 1e-3)
