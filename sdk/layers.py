"""Building blocks of the encoders: depthwise-separable convolutions and recurrences.

The recurrent layers are written out by hand instead of using nn.GRU / nn.LSTM,
for two reasons measured on this project's toolchain (ExecuTorch 1.5.1, torch-pruning 1.6.1):

* export speed: nn.GRU lowered to ExecuTorch is cut into dozens of XNNPACK
  subgraphs by `split`/`squeeze` copies; here every gate has its own weight, the
  input projection of all steps is one matmul, and the two directions run as one
  batched recurrence (one `bmm` per gate per step), so no split op exists;
* structured pruning: hidden unit j of a direction is row j of each gate's input
  weight and row and column j of each gate's recurrent weight, a layout PNAO's
  pruners can cut directly.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class DepthwiseSeparableConv1d(nn.Module):
    """Temporal depthwise conv (one k-tap filter per channel) then a 1x1 pointwise conv.

    Parameters: C*k + C*C_out instead of the dense C*C_out*k (MobileNet, "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" sec. 3.3).
    Input and output are (B, T, C): sequence-major like the rest of the model.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, depthwise: bool = True,
                 stride: int = 1):
        super().__init__()
        padding = kernel_size // 2
        if depthwise:
            self.depthwise = nn.Conv1d(in_channels, in_channels, kernel_size, stride, padding, groups=in_channels)
            self.pointwise = nn.Conv1d(in_channels, out_channels, 1)
        else:  # the "no depthwise conv" ablation: one dense convolution
            self.depthwise = nn.Identity()
            self.pointwise = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        x = self.activation(self.pointwise(self.depthwise(x)))
        return x.transpose(1, 2)


class FrameEncoder(nn.Module):
    """Depthwise-separable 2-D CNN applied to every frame: (B, T, C, H, W) -> (B, T, width).

    A plain 3x3 stem (depthwise is meaningless on 1-3 input channels), then
    stride-2 depthwise-separable blocks, then global average pooling.
    """

    def __init__(self, in_channels: int, width: int = 32, blocks: int = 2, depthwise: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU()]
        for _ in range(blocks):
            if depthwise:
                layers += [
                    nn.Conv2d(width, width, 3, stride=2, padding=1, groups=width),
                    nn.Conv2d(width, width, 1),
                ]
            else:
                layers += [nn.Conv2d(width, width, 3, stride=2, padding=1)]
            layers.append(nn.ReLU())
        self.cnn = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[0], frames.shape[1]
        x = self.cnn(frames.reshape(b * t, *frames.shape[2:]))
        return x.mean(dim=(2, 3)).reshape(b, t, -1)


class BidirectionalRecurrence(nn.Module):
    """A one-layer bidirectional recurrence with explicit per-gate weights.

    For each gate g, `input_weight[g]` is (2, H, F) and `recurrent_weight[g]` is
    (2, H, H): index 0 is the forward direction, 1 the backward one. Both directions
    step together; the backward one reads the time-reversed input.
    Input (B, T, F) -> output (B, T, 2H): forward units then backward units.
    """

    gates: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_per_direction: int):
        super().__init__()
        h = hidden_per_direction
        bound = 1.0 / math.sqrt(h)

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        # Input weights of both directions in one matrix per gate: rows [0, H) are the
        # forward units, rows [H, 2H) the backward ones.
        self.input_weight = nn.ParameterDict({g: param(2 * h, input_size) for g in self.gates})
        self.input_bias = nn.ParameterDict({g: param(2 * h) for g in self.gates})
        self.recurrent_weight = nn.ParameterDict({g: param(2, h, h) for g in self.gates})
        self.recurrent_bias = nn.ParameterDict({g: param(2, 1, h) for g in self.gates})

    @property
    def hidden_per_direction(self) -> int:
        return self.recurrent_weight[self.gates[0]].shape[1]

    @property
    def input_size(self) -> int:
        return self.input_weight[self.gates[0]].shape[1]

    def project_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """W_ig x + b_ig of every step and gate: one matmul per gate, with the parameter as
        its weight (a weight computed in the graph, e.g. a cat of the gates, is not constant
        to XNNPACK and the matmul falls out of the delegate), then regrouped once per
        direction: (T, B, GH) forward and backward, gate k in columns [kH, (k+1)H)."""
        time_major = x.transpose(0, 1)
        h = self.hidden_per_direction
        projected = [nn.functional.linear(time_major, self.input_weight[g], self.input_bias[g]) for g in self.gates]
        forward = torch.cat([p[..., :h] for p in projected], dim=-1)
        backward = torch.cat([p[..., h:] for p in projected], dim=-1)
        return forward, backward

    def fused_recurrent_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[W_hg^T for every gate] side by side, (2, H, GH), and the biases, (2, 1, GH).

        Computed once per forward: inside the unrolled loop the transpose would be
        constant-folded into one weight copy per time step by the exporters (seen: 54
        copies instead of 9 in a MOSI-sized ONNX file)."""
        weights = torch.cat([self.recurrent_weight[g].transpose(1, 2) for g in self.gates], dim=2)
        biases = torch.cat([self.recurrent_bias[g] for g in self.gates], dim=2)
        return weights, biases

    def step(self, inputs: torch.Tensor, recurrent: torch.Tensor, state: tuple[torch.Tensor, ...] | None
             ) -> tuple[torch.Tensor, ...]:
        """One step of both directions. `inputs` = W_ig x + b_ig and `recurrent` = W_hg h + b_hg
        for every gate g side by side, (2, B, GH), gate k in columns [kH, (k+1)H)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, T, 2H).

        The input of all steps is projected before the loop; each step is then one
        `baddbmm` for the recurrent part of all gates of both directions. Written with
        static slices, views, cat and bmm only (no select, flip or zeros), so the whole
        unrolled recurrence stays inside one XNNPACK partition. At step i the forward
        direction reads time i and the backward one time T-1-i.
        """
        forward_in, backward_in = self.project_inputs(x)
        recurrent_weight, recurrent_bias = self.fused_recurrent_weights()
        t = x.shape[1]
        h = self.hidden_per_direction
        state = None
        forward_out, backward_out = [], []
        for i in range(t):
            j = t - 1 - i
            inputs = torch.cat([forward_in[i : i + 1], backward_in[j : j + 1]], dim=0)
            if state is None:  # h = 0: the recurrent part is its bias
                recurrent = recurrent_bias
            else:
                recurrent = torch.baddbmm(recurrent_bias, state[0], recurrent_weight)
            state = self.step(inputs, recurrent, state)
            forward_out.append(state[0][0:1])
            backward_out.append(state[0][1:2])
        backward_out.reverse()
        forward_seq = torch.cat(forward_out, dim=0)  # (T, B, H)
        backward_seq = torch.cat(backward_out, dim=0)
        return torch.cat([forward_seq, backward_seq], dim=-1).transpose(0, 1)


class BiGRU(BidirectionalRecurrence):
    """Bidirectional GRU (Cho et al. 2014), gates r (reset), z (update), n (candidate).

    r = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h  =  n + z * (h - n)
    """

    gates = ("r", "z", "n")

    def step(self, inputs, recurrent, state):
        h = self.hidden_per_direction
        rz = torch.sigmoid(inputs[..., : 2 * h] + recurrent[..., : 2 * h])  # r and z in one op
        r, z = rz[..., :h], rz[..., h:]
        n = torch.tanh(inputs[..., 2 * h :] + r * recurrent[..., 2 * h :])
        if state is None:
            return (n - z * n,)
        return (n + z * (state[0] - n),)


class BiLSTM(BidirectionalRecurrence):
    """Bidirectional LSTM (the "BiGRU -> LSTM" ablation of "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" sec. 6.5).

    i, f, o = sigma(W x + U h + b); g = tanh(W_g x + U_g h + b_g)
    c' = f * c + i * g; h' = o * tanh(c')
    """

    gates = ("i", "f", "g", "o")

    def step(self, inputs, recurrent, state):
        h = self.hidden_per_direction
        pre = inputs + recurrent
        i = torch.sigmoid(pre[..., :h])
        f = torch.sigmoid(pre[..., h : 2 * h])
        g = torch.tanh(pre[..., 2 * h : 3 * h])
        o = torch.sigmoid(pre[..., 3 * h :])
        c = i * g if state is None else f * state[1] + i * g
        return (o * torch.tanh(c), c)


def mean_over_last(x: torch.Tensor) -> torch.Tensor:
    """Mean over the last dimension, keepdim, as XNNPACK's global average pooling.

    XNNPACK only delegates `mean.dim` on 4-D tensors over dims (2, 3); viewing
    (..., D) as (1, N, D, 1) turns a row mean into exactly that.
    """
    rows = x.reshape(1, -1, x.shape[-1], 1).mean(dim=(2, 3), keepdim=True)
    return rows.reshape(*x.shape[:-1], 1)


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the last dimension, written in ops XNNPACK delegates.

    `native_layer_norm` is not in ExecuTorch's XNNPACK partitioner; this computes
    y = (x - mean) / sqrt(var + eps) * weight + bias with the same parameters
    (so checkpoints and torch-pruning treat it as nn.LayerNorm).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centered = x - mean_over_last(x)
        normed = centered * torch.rsqrt(mean_over_last(centered * centered) + self.eps)
        return normed * self.weight + self.bias


def mean_over_steps(x: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, D), the step mean as 4-D global average pooling."""
    b, t, d = x.shape
    return x.transpose(1, 2).reshape(b, d, t, 1).mean(dim=(2, 3), keepdim=True).reshape(b, d)


class ChannelNormalization(nn.Module):
    """(x - mean) / std per channel of (B, T, C, H, W) frames, inside the graph.

    For a frames modality with `normalize_in_graph` (the live face crops): the artifact
    takes raw 0..255 pixels and this applies the spec's per-channel statistics. mean and
    std are buffers (fixed after fitting on the training split; never trained or pruned).
    """

    def __init__(self, mean: list[float], std: list[float], channels: int):
        super().__init__()
        mean_t = torch.tensor(mean or [0.0] * channels, dtype=torch.float32)
        std_t = torch.tensor(std or [1.0] * channels, dtype=torch.float32)
        self.register_buffer("mean", mean_t.reshape(1, 1, channels, 1, 1))
        self.register_buffer("inv_std", (1.0 / std_t).reshape(1, 1, channels, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames - self.mean) * self.inv_std


def separable_block(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    """3x3 depthwise (stride) + BN + ReLU, 1x1 pointwise + BN + ReLU (MobileNet v1 block)."""
    return [
        nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class FaceEncoder(nn.Module):
    """A MobileNet-style depthwise-separable CNN for 48x48 gray face crops: (B, T, C, 48, 48) -> (B, T, 8w).

    For a frames modality with ``encoder="face"`` (FER2013-sized crops; MobileNets,
    Howard et al. 2017, sec. 3.1 for the block). With base width w (spec width key
    ``<name>.frame``, default 32): a 3x3 stem (w, stride 2: 48x48 -> 24x24), then separable
    blocks w->2w, 2w->2w, 2w->4w /2 (12x12), 4w->4w, 4w->8w /2 (6x6), 8w->8w, then global
    average pooling. BatchNorm follows every conv; at export it is folded into the conv
    (eval mode). About 11.6 M MACs and 0.15 M parameters per frame at w = 32.

    Per-layer widths (what PNAO prunes): ``channels[0]`` is the stem's output, ``channels[i]``
    the i-th block's pointwise output (its depthwise conv runs on ``channels[i-1]``); spec
    keys ``<name>.face0`` .. ``<name>.face6`` (`channels_from_widths`), defaults
    `default_channels(w)`, so a spec without them builds the network it always built.

    The stem strides (as MobileNet's does) instead of the first block: nothing runs at
    48x48 x w, which made CPU training 3x slower for 5 % of the MACs. In training mode
    the input is laid out channels-last, which mkldnn's convolutions run about 2x faster
    on a CPU; eval mode (and so every export) sees the plain layout and no extra op.
    """

    #: Stride of the stem and of each separable block.
    STRIDES = (2, 1, 1, 2, 1, 2, 1)

    def __init__(self, in_channels: int, width: int = 32, channels: Sequence[int] | None = None):
        super().__init__()
        channels = list(channels) if channels is not None else self.default_channels(width)
        if len(channels) != len(self.STRIDES) or min(channels) < 1:
            raise ValueError(f"FaceEncoder needs {len(self.STRIDES)} positive widths (stem + 6 blocks), got {channels}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(channels[0]), nn.ReLU()]
        for cin, cout, stride in zip(channels[:-1], channels[1:], self.STRIDES[1:]):
            layers += separable_block(cin, cout, stride)
        self.cnn = nn.Sequential(*layers)
        self.dropout = nn.Dropout2d(0.1)
        self.out_dim = channels[-1]

    @staticmethod
    def default_channels(width: int = 32) -> list[int]:
        """The unpruned widths for base width w: stem w, blocks 2w, 2w, 4w, 4w, 8w, 8w."""
        return [width, 2 * width, 2 * width, 4 * width, 4 * width, 8 * width, 8 * width]

    @classmethod
    def channels_from_widths(cls, widths: dict[str, int], prefix: str) -> list[int]:
        """The per-layer widths of modality `prefix` from a spec's `widths` (keys `<prefix>.face<i>`)."""
        defaults = cls.default_channels(widths.get(f"{prefix}.frame", 32))
        return [widths.get(f"{prefix}.face{i}", c) for i, c in enumerate(defaults)]

    def output_convs(self) -> list[nn.Conv2d]:
        """The stem and every block's pointwise conv: the convs whose output channels are nodes."""
        return [m for m in self.cnn if isinstance(m, nn.Conv2d) and m.groups == 1]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[0], frames.shape[1]
        x = frames.reshape(b * t, *frames.shape[2:])
        if self.training:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.dropout(self.cnn(x))
        return x.mean(dim=(2, 3)).reshape(b, t, -1)


class AudioEncoder(nn.Module):
    """Raw PCM (B, S) -> (B, T', width): the in-graph log-mel front end (sdk.frontend), then
    strided convolutions that shorten the ~300 frames before the recurrence.

    A stride-2 dense 3-tap conv n_mels -> width (frames F -> ceil(F/2)), then
    ``stages - 1`` stride-2 depthwise-separable 3-tap convs: 298 frames of a 3 s window
    become 149, 75, 38, 19 steps with the default 4 stages (one step per 160 ms). The
    BiGRU after it is unrolled at export, and export time grows with its steps
    (issue 14: a 259-step recurrence took over 40 minutes to export), so it sees 19.
    Width key ``<name>.audio`` (default 64).

    In training mode the normalised log-mel gets SpecAugment masks (Park et al.,
    Interspeech 2019): two bands of up to 1/8 of the mel bands and two spans of up to
    1/10 of the frames per sample set to 0 (the band mean). Eval mode, and so every
    export, has no masking op.
    """

    def __init__(self, modality, width: int = 64, stages: int = 4):
        super().__init__()
        from sdk.frontend import LogMelFrontEnd

        self.frontend = LogMelFrontEnd(modality)
        layers: list[nn.Module] = [nn.Conv1d(modality.n_mels, width, 3, stride=2, padding=1), nn.GELU()]
        for _ in range(stages - 1):
            layers += [nn.Conv1d(width, width, 3, stride=2, padding=1, groups=width), nn.Conv1d(width, width, 1),
                       nn.GELU()]
        self.cnn = nn.Sequential(*layers)
        self.out_dim = width
        steps = modality.n_frames
        for _ in range(stages):
            steps = (steps + 1) // 2
        self.steps = steps

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        mel = self.frontend(pcm)
        if self.training:
            mel = spec_augment(mel)
        return self.cnn(mel).transpose(1, 2)


class BandProjection(nn.Conv1d):
    """(B, C, bands, T) -> (B, out, T): the bands are stacked into channels (channel c, band f is
    input column c * bands + f) and a 1x1 conv maps them to `out`.

    A plain nn.Conv1d (same parameters, same state-dict keys, a reshape then a conv when
    exported); its own class tells PNAO (compress.prune) that input channel c of the CNN is
    the `bands` columns c * bands .. c * bands + bands - 1.
    """

    def __init__(self, channels: int, bands: int, out_channels: int):
        super().__init__(channels * bands, out_channels, 1)
        self.bands = bands

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        return super().forward(x.reshape(b, c * f, t))


class MelConv2dEncoder(nn.Module):
    """Raw PCM (B, S) -> (B, T', width): the in-graph log-mel read as a one-channel image by a
    2-D depthwise-separable CNN (``encoder="mel2d"`` on a waveform modality).

    A 3x3 stem (w/2 channels, stride 2 in time and frequency), then separable blocks
    w/2->w, w->2w, 2w->2w, each stride 2 (sdk.layers.separable_block), so 64 bands x 298
    frames become 4 x 19; the 4 remaining bands are stacked into channels and a 1x1 conv
    maps them to ``width``. Unlike the 1-D front (mel bands as channels), a 2-D kernel
    slides along frequency, so a pitch or formant pattern is recognised wherever a speaker
    puts it (Badshah et al., "Speech emotion recognition from spectrograms with deep
    convolutional neural network", 2017, use 2-D CNNs on spectrograms for the same reason).
    Each band's mean over the window is subtracted first (cepstral mean normalisation in the
    log-mel domain), which removes a speaker's and a microphone's fixed spectral tilt.
    Width key ``<name>.audio`` (default 64): the 1x1 projection's output. The CNN's widths
    (what PNAO prunes) are ``channels[0]`` for the stem and ``channels[i]`` for the i-th
    block's pointwise output; spec keys ``<name>.mel0`` .. ``<name>.mel<stages-1>``
    (`channels_from_widths`), defaults 16, 32, 64, 64 (`default_channels`), so a spec without
    them builds the network it always built. SpecAugment and the channels-last layout apply
    in training mode only, as in AudioEncoder and FaceEncoder.
    """

    def __init__(self, modality, width: int = 64, stages: int = 4, channels: Sequence[int] | None = None):
        super().__init__()
        from sdk.frontend import LogMelFrontEnd

        self.frontend = LogMelFrontEnd(modality)
        channels = list(channels) if channels is not None else self.default_channels(stages)
        if len(channels) != stages or min(channels) < 1:
            raise ValueError(f"MelConv2dEncoder needs {stages} positive widths (stem + {stages - 1} blocks), "
                             f"got {channels}")
        layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(channels[0]), nn.ReLU()]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += separable_block(cin, cout, 2)
        self.cnn = nn.Sequential(*layers)
        bands, steps = modality.n_mels, modality.n_frames
        for _ in range(stages):
            bands, steps = (bands + 1) // 2, (steps + 1) // 2
        self.project = BandProjection(channels[-1], bands, width)
        self.out_dim = width
        self.steps = steps

    @staticmethod
    def default_channels(stages: int = 4) -> list[int]:
        """The unpruned widths: stem 16, blocks 32, 64, 64 (the first `stages`)."""
        return [16, 32, 64, 64][:stages]

    @classmethod
    def channels_from_widths(cls, widths: dict[str, int], prefix: str, stages: int = 4) -> list[int]:
        """The per-layer widths of modality `prefix` from a spec's `widths` (keys `<prefix>.mel<i>`)."""
        return [widths.get(f"{prefix}.mel{i}", c) for i, c in enumerate(cls.default_channels(stages))]

    def output_convs(self) -> list[nn.Conv2d]:
        """The stem and every block's pointwise conv: the convs whose output channels are nodes."""
        return [m for m in self.cnn if isinstance(m, nn.Conv2d) and m.groups == 1]

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        mel = self.frontend(pcm)
        mel = mel - mel.mean(dim=2, keepdim=True)  # per-utterance mean per band: removes speaker and channel tilt
        if self.training:
            mel = spec_augment(mel)
        x = mel.unsqueeze(1)
        if self.training:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.cnn(x)  # (B, C, bands, steps)
        return nn.functional.gelu(self.project(x)).transpose(1, 2)


def spec_augment(mel: torch.Tensor, bands: int = 2, band_frac: float = 1 / 8, spans: int = 2,
                 span_frac: float = 1 / 10) -> torch.Tensor:
    """SpecAugment frequency and time masking of (B, n_mels, F), drawn from torch's global RNG."""
    b, n_mels, frames = mel.shape
    keep = torch.ones(b, n_mels, frames, dtype=torch.bool, device=mel.device)
    for size, count, axis in ((n_mels, bands, 1), (frames, spans, 2)):
        limit = max(1, int(size * (band_frac if axis == 1 else span_frac)))
        for _ in range(count):
            width = torch.randint(0, limit + 1, (b, 1), device=mel.device)
            start = (torch.rand(b, 1, device=mel.device) * (size - width + 1)).long()
            pos = torch.arange(size, device=mel.device)[None, :]
            hit = (pos >= start) & (pos < start + width)  # (B, size)
            keep &= ~(hit[:, :, None] if axis == 1 else hit[:, None, :])
    return mel * keep
