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
   ``win``-point DFT (n_fft = win_length). Frames are cut from blocks of ``hop`` samples
   (frame f is blocks f, f+1, ...: win // hop whole blocks, then the first win % hop
   samples of the next), windowed, and transformed by a two-stage DFT (Cooley and Tukey
   1965) with win = n1 x n2 (20 x 20 at 16 kHz): an n2-point DFT as one matrix product,
   a twiddle multiply, an n1-point DFT as a second matrix product (`two_stage_dft`).
   Each product is one XNNPACK fully-connected GEMM (LiteRT FULLY_CONNECTED /
   BATCH_MATMUL, ONNX MatMul): 298 x (400 x 40 + 20 x 40 x 22) = 10.0 M
   multiply-accumulates for 3 s at 16 kHz, against 47.7 M for one 400 x 400 basis
   GEMM (the previous form), with the same numbers to 4e-6 (relative). On this x86 CPU at one thread
   both forms run in about 1.3 ms in ExecuTorch (XNNPACK, fp32; here the GEMM runs near
   peak and the extra transposes cost what the MACs save); on a phone core, with a
   fraction of this CPU's multiply throughput, the MACs are the cost. The constants
   shrink from 0.74 MB (the whole windowed basis) to 0.12 MB. ``direct=True`` keeps the
   textbook form (one conv1d with kernel = win, stride = hop) as a reference;
4. the mel filterbank: one fixed-weight matrix product that also adds the real and
   imaginary parts and gives the mirrored bins over win / 2 weight 0 (Slaney mel scale
   and area normalisation, librosa's defaults ``htk=False, norm="slaney"``);
5. ``log(mel_power + eps)`` with eps = 1e-6 (natural log);
6. per-band normalisation ``(x - mean) / std`` with the band statistics stored in the
   spec (`ModalitySpec.normalization`, n_mels values, fitted on the training split by
   `sdk.data.fit_normalization`).

Only matmul, slice, cat, reshape, transpose, mul, add, sub and log: ops that ExecuTorch's
XNNPACK partitioner delegates, that LiteRT converts and that ONNX has; `torch.stft` is
not used (it exports to neither ExecuTorch/XNNPACK nor LiteRT).

The DFT basis, the mel matrix and the normalisation statistics are registered
BUFFERS, not `nn.Parameter`s: the optimizer never updates them, weight decay and
PNAO's L1 sparsity term ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" eq. 8) never see them, and PNAO's structured
pruning (compress.prune, which prunes the output nodes of parameterised layers)
never selects them (tests/test_frontend.py checks this). Loading a checkpoint keeps
the values built from the spec (stored copies are replaced), so a checkpoint cannot
carry a front end other than the one its spec describes.

Cost for a 3 s window at 16 kHz: 10.0 M MACs for the spectrum (step 3) and
298 x 440 x 64 = 8.4 M for the mel filterbank (18.4 M in all; the one-basis GEMM form was 55.3 M).
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


def factor_pair(n: int) -> tuple[int, int]:
    """(n1, n2) with n1 * n2 = n and n1 <= n2 as close to sqrt(n) as the divisors allow
    (20 x 20 for a 400-sample window; (1, n) for a prime n: the two-stage DFT then
    degenerates into one plain DFT matrix, with the same numbers)."""
    n1 = max(d for d in range(1, int(np.sqrt(n)) + 1) if n % d == 0)
    return n1, n // n1


def two_stage_dft(win_length: int) -> dict[str, np.ndarray]:
    """The constants of step 3's two-stage DFT (Cooley and Tukey 1965) of a win-point frame.

    With win = n1 * n2, sample n = a + n1 b (a < n1, b < n2) and bin k = c + n2 d (c < n2):
    X[k] = sum_a W_n1^(a d) * W_win^(a c) * (sum_b x[a + n1 b] W_n2^(b c)), W_m = exp(-2 pi i / m).

    Returns: "stage1" (n2, 2 n2): [cos | -sin] of the inner n2-point DFT (over b); "twiddle_re"
    and "twiddle_im" (n2, n1): W_win^(a c) indexed [c, a]; "stage2" (2 n1, 2 nd): the outer
    n1-point DFT (over a) as a real matrix, input [Re | Im] over a, output [Re | Im] over
    the nd = (win // 2) // n2 + 1 values of d that reach bins k <= win / 2; "bin" (n2, nd):
    the bin k = c + n2 d of each output (bins over win / 2 are mirrors: their mel weight is 0).
    """
    n1, n2 = factor_pair(win_length)
    nd = (win_length // 2) // n2 + 1
    b, c, a, d = np.arange(n2), np.arange(n2), np.arange(n1), np.arange(nd)
    inner = 2.0 * np.pi * np.outer(b, c) / n2
    twiddle = 2.0 * np.pi * np.outer(c, a) / win_length
    outer = 2.0 * np.pi * np.outer(a, d) / n1
    cos, sin = np.cos(outer), -np.sin(outer)
    return {
        "stage1": np.concatenate([np.cos(inner), -np.sin(inner)], axis=1),
        "twiddle_re": np.cos(twiddle), "twiddle_im": -np.sin(twiddle),
        "stage2": np.block([[cos, sin], [-sin, cos]]),
        "bin": c[:, None] + n2 * d[None, :],
    }


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
            self.n1, self.n2 = factor_pair(win)
            dft = two_stage_dft(win)
            self._fixed("window", hann_window(win))
            for name in ("stage1", "twiddle_re", "twiddle_im", "stage2"):
                self._fixed(name, dft[name])
            # frame f = blocks f, f + 1, ... of `hop` samples (the last one cut to the window's end);
            # zeros pad the waveform when the last frame's last block runs past its end
            self.n_parts = -(-win // hop)
            self.last_width = win - (self.n_parts - 1) * hop
            self.n_blocks = self.n_frames + self.n_parts - 1
            self.pad = max(0, self.n_blocks * hop - modality.seq_len)
            # the spectrum's layout (c, [Re d | Im d]) flattened: the mel weight of each entry's bin
            bins = dft["bin"]
            n_bins = win // 2 + 1
            rows = np.zeros((2 * bins.size, modality.n_mels))
            for c in range(bins.shape[0]):
                for part in range(2):
                    for d, k in enumerate(bins[c]):
                        if k < n_bins:
                            rows[(c * 2 + part) * bins.shape[1] + d] = mel[:, k]
            self._fixed("mel", rows)  # (2 n2 nd, n_mels)
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
        batch, f, hop = pcm.shape[0], self.n_frames, self.hop_length
        blocks = pcm[:, : self.n_blocks * hop].reshape(batch, self.n_blocks, hop)
        parts = [blocks[:, j : j + f] for j in range(self.n_parts)]
        parts[-1] = parts[-1][:, :, : self.last_width]
        frames = (torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]) * self.window  # (B, F, win)
        x = frames.reshape(batch, f, self.n2, self.n1).transpose(2, 3)  # (B, F, a, b)
        y = (x @ self.stage1).transpose(2, 3)  # inner DFT over b: (B, F, [Re c | Im c], a)
        y_re, y_im = y[:, :, : self.n2], y[:, :, self.n2 :]  # (B, F, c, a)
        z = torch.cat([y_re * self.twiddle_re - y_im * self.twiddle_im,
                       y_re * self.twiddle_im + y_im * self.twiddle_re], dim=-1)  # twiddled: (B, F, c, [Re a | Im a])
        spectrum = z @ self.stage2  # outer DFT over a: (B, F, c, [Re d | Im d])
        power = (spectrum * spectrum).reshape(batch, f, -1)
        return (power @ self.mel).transpose(1, 2)

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
