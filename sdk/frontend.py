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
   ``win``-point DFT (n_fft = win_length), as plain matrix products: the waveform is cut
   into blocks of ``hop`` samples, so frame f is blocks f, f+1, ... (win // hop whole
   blocks, then the first win % hop samples of the next), and the spectrum of all frames
   is  sum_j  blocks[f + j] @ W_j  with W_j the Hann-windowed DFT basis's columns for
   block j (3 GEMMs of K = 160, 160, 80 at 16 kHz). Each is one XNNPACK fully-connected
   GEMM (LiteRT FULLY_CONNECTED / BATCH_MATMUL, ONNX MatMul): 298 x 400 x 400 = 47.7 M
   multiply-accumulates for 3 s at 16 kHz. Measured on this x86 CPU at one thread in
   ExecuTorch (XNNPACK, fp32), this front end runs in 1.03 ms against 2.33 ms for the
   earlier chunked form (a 1 -> 406-channel conv1d over 80-sample chunks plus a grouped
   twiddle conv: 20.7 M MACs, but XNNPACK runs a one-input-channel conv as an indirect
   GEMM at ~10 GFLOP/s). ``direct=True`` keeps the textbook form (one conv1d with
   kernel = win, stride = hop) as a reference;
4. the mel filterbank: one fixed-weight matrix product that also adds the real and
   imaginary halves (Slaney mel scale and area normalisation, librosa's defaults
   ``htk=False, norm="slaney"``);
5. ``log(mel_power + eps)`` with eps = 1e-6 (natural log);
6. per-band normalisation ``(x - mean) / std`` with the band statistics stored in the
   spec (`ModalitySpec.normalization`, n_mels values, fitted on the training split by
   `sdk.data.fit_normalization`).

Only matmul, slice, reshape, transpose, mul, add, sub and log: ops that ExecuTorch's
XNNPACK partitioner delegates, that LiteRT converts and that ONNX has; `torch.stft` is
not used (it exports to neither ExecuTorch/XNNPACK nor LiteRT).

The DFT basis, the mel matrix and the normalisation statistics are registered
BUFFERS, not `nn.Parameter`s: the optimizer never updates them, weight decay and
PNAO's L1 sparsity term ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" eq. 8) never see them, and PNAO's structured
pruning (compress.prune, which prunes the output nodes of parameterised layers)
never selects them (tests/test_frontend.py checks this). Loading a checkpoint keeps
the values built from the spec (stored copies are replaced), so a checkpoint cannot
carry a front end other than the one its spec describes.

Cost for a 3 s window at 16 kHz: 47.7 M MACs for the spectrum (step 3) and
298 x 400 x 64 = 7.6 M for the mel filterbank.
"""
from __future__ import annotations

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
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # the DFT bins' frequencies (np.fft.rfftfreq)
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


def block_dft(win_length: int, hop_length: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The Hann-windowed DFT basis of step 3, cut by hop blocks (module docstring).

    Returns ([W_0, W_1, ...] with W_j (samples of block j in a frame, R): the basis's
    columns j * hop .. min((j + 1) * hop, win), transposed; bin_of_row (R,)).
    """
    basis, bin_of_row = dft_basis(win_length)
    parts = [basis[:, start:start + hop_length].T for start in range(0, win_length, hop_length)]
    return parts, bin_of_row


class LogMelFrontEnd(nn.Module):
    """Raw PCM (B, S) -> normalised log-mel (B, n_mels, F), channel-major (see the module docstring).

    Fixed weights are buffers (never trained, never pruned). `forward(pcm, normalize=False)`
    gives the un-normalised log-mel (what `sdk.data.fit_normalization` fits the statistics on).
    `direct=True` computes the spectrum as the textbook framed DFT (one conv1d with
    kernel = win, stride = hop): the same numbers, kept as a reference.
    """

    def __init__(self, modality: ModalitySpec, direct: bool = False):
        super().__init__()
        if modality.kind != WAVEFORM:
            raise ValueError(f"LogMelFrontEnd needs a 'waveform' modality, got {modality.kind!r} for {modality.name!r}")
        win, hop = modality.win_length, modality.hop_length
        self.hop_length = hop
        self.n_frames = modality.n_frames
        self.direct = bool(direct)
        mel = mel_filterbank(modality.sample_rate, win, modality.n_mels, modality.fmin, modality.fmax)
        if self.direct:
            basis, bin_of_row = dft_basis(win)
            self._fixed("dft", basis[:, None, :])  # (R, 1, win)
            self._fixed("mel", mel[:, bin_of_row][:, :, None])
        else:
            parts, bin_of_row = block_dft(win, hop)
            self.n_parts = len(parts)
            for j, part in enumerate(parts):
                self._fixed(f"dft{j}", part)  # (samples of block j in a frame, R)
            self.last_width = parts[-1].shape[0]
            # blocks f .. f + n_parts - 1 feed frame f; zeros pad the window when the last frame's
            # last block runs past its end (those samples meet no basis column)
            self.n_blocks = self.n_frames + self.n_parts - 1
            self.pad = max(0, self.n_blocks * hop - modality.seq_len)
            self._fixed("mel", mel[:, bin_of_row].T)  # (R, n_mels)
        norm = modality.normalization
        mean = np.asarray(norm.mean, np.float32) if norm.mean else np.zeros(modality.n_mels, np.float32)
        std = np.asarray(norm.std, np.float32) if norm.std else np.ones(modality.n_mels, np.float32)
        self._fixed("mean", mean.reshape(1, -1, 1))
        self._fixed("inv_std", (1.0 / std).reshape(1, -1, 1))

    def _fixed(self, name: str, value: np.ndarray) -> None:
        # persistent: ExecuTorch's XNNPACK lowering rejects non-persistent buffers in fp32 programs
        self.register_buffer(name, torch.tensor(np.ascontiguousarray(value), dtype=torch.float32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Loading keeps the front end built from the spec: stored copies are replaced, and stored
        front-end tensors this form does not have (an older checkpoint's chunked-DFT `dft` and
        `twiddle`, or another shape) are dropped."""
        for key in [k for k in state_dict if k.startswith(prefix) and "." not in k[len(prefix):]]:
            del state_dict[key]
        for name, buffer in self.named_buffers(recurse=False):
            state_dict[prefix + name] = buffer
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def n_mels(self) -> int:
        return self.mel.shape[0] if self.direct else self.mel.shape[1]

    def mel_power(self, pcm: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, n_mels, F): mel-filtered power spectrum (librosa.feature.melspectrogram, center=False)."""
        if self.direct:
            spectrum = nn.functional.conv1d(pcm.unsqueeze(1), self.dft, stride=self.hop_length)  # (B, R, F)
            return nn.functional.conv1d(spectrum * spectrum, self.mel)
        if self.pad:
            pcm = nn.functional.pad(pcm, (0, self.pad))
        blocks = pcm[:, : self.n_blocks * self.hop_length].reshape(pcm.shape[0], self.n_blocks, self.hop_length)
        f, spectrum = self.n_frames, None
        for j in range(self.n_parts):  # frame f = blocks f, f + 1, ...: spectrum (B, F, R)
            block = blocks[:, j : j + f]
            if j == self.n_parts - 1:
                block = block[:, :, : self.last_width]
            term = block @ getattr(self, f"dft{j}")
            spectrum = term if spectrum is None else spectrum + term
        return ((spectrum * spectrum) @ self.mel).transpose(1, 2)

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
