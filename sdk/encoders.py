"""Per-modality encoders of the Lightweight M-fusHER ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" sections 4.4 and 5.2).

    features (B, T, F)        ─┐
    frames   (B, T, C, H, W) ──┼─> [frame CNN | embedding] -> depthwise-separable temporal
    tokens   (B, T) int       ─┤    convs -> one BiGRU layer -> (B, T, hidden_size)
    waveform (B, S) PCM       ─┘  (waveform: in-graph log-mel + strided convs, sdk.layers.AudioEncoder)

Live kinds (normalize_in_graph) normalize inside the model: waveforms per mel band
in the front end, frames per channel before the CNN (sdk.layers.ChannelNormalization).
"""
from __future__ import annotations

import torch
from torch import nn

from sdk.layers import (AudioEncoder, BiGRU, BiLSTM, ChannelNormalization, DepthwiseSeparableConv1d, FaceEncoder,
                        FrameEncoder, MelConv2dEncoder)
from sdk.spec import FRAMES, TOKENS, WAVEFORM, ModalitySpec, ModelSpec


class ModalityEncoder(nn.Module):
    """Encodes one modality's sequence into `hidden_size`-wide steps.

    Widths that PNAO may have pruned are read from `spec.widths` under the keys
    `<name>.frame`, `<name>.face<i>` (FaceEncoder), `<name>.mel<i>` (MelConv2dEncoder),
    `<name>.embed`, `<name>.audio`, `<name>.conv<i>` and `<name>.rnn` (units per direction).
    """

    def __init__(self, modality: ModalitySpec, spec: ModelSpec):
        super().__init__()
        self.kind = modality.kind
        widths = spec.widths
        prefix = modality.name
        depthwise = spec.components.depthwise_conv
        if modality.kind == FRAMES:
            frame_class = FaceEncoder if modality.encoder == "face" else FrameEncoder
            if modality.encoder == "face":
                options = {"channels": FaceEncoder.channels_from_widths(widths, prefix)}
            else:
                options = {"depthwise": depthwise}
            self.front: nn.Module = frame_class(modality.channels, width=widths.get(f"{prefix}.frame", 32), **options)
            width = self.front.out_dim
            if modality.normalize_in_graph:
                norm = modality.normalization
                self.front = nn.Sequential(ChannelNormalization(norm.mean, norm.std, modality.channels), self.front)
        elif modality.kind == WAVEFORM:
            if modality.encoder == "mel2d":
                self.front = MelConv2dEncoder(modality, width=widths.get(f"{prefix}.audio", 64),
                                              channels=MelConv2dEncoder.channels_from_widths(widths, prefix))
            else:
                self.front = AudioEncoder(modality, width=widths.get(f"{prefix}.audio", 64))
            width = self.front.out_dim
        elif modality.kind == TOKENS:
            width = widths.get(f"{prefix}.embed", 64)
            self.front = nn.Embedding(modality.vocab_size, width, padding_idx=0)
        else:
            self.front = nn.Identity()
            width = modality.feature_dim
        convs = []
        for i in range(spec.conv_layers):
            out = widths.get(f"{prefix}.conv{i}", spec.hidden_size)
            stride = spec.conv_stride if i == 0 else 1
            convs.append(DepthwiseSeparableConv1d(width, out, spec.conv_kernel, depthwise=depthwise, stride=stride))
            width = out
        self.convs = nn.Sequential(*convs)
        self.dropout = nn.Dropout(spec.dropout)
        units = widths.get(f"{prefix}.rnn", spec.hidden_size // 2)
        recurrent = BiGRU if spec.components.recurrent == "gru" else BiLSTM
        self.rnn = recurrent(width, units)
        self.out_dim = 2 * units

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.front(x)
        x = self.dropout(self.convs(x))
        return self.dropout(self.rnn(x))
