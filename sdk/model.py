"""The Lightweight M-fusHER model ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" sections 4-5), built from a `ModelSpec`.

    inputs of M modalities ──> ModalityEncoder (per modality) ──> (B, T_m, D)
        ──> cross-modal attention: modality i queries modality i-1 (sdk.attention)
        ──> pooling (mean over steps, or the last step = the target utterance)
        ──> fusion head (default: adaptive gating with the presence mask, sdk.fusion)
        ──> FFN (residual) ──> classifier ──> logits

Call signature, also the exported signature: ``model(x_1, ..., x_M, presence)``
with the modality tensors in spec order and ``presence`` (B, M) float (1 = present).
Returns ``(logits (B, C), gate_weights (B, M))``; an absent modality has gate weight 0.

The model trusts its inputs (it is what gets exported); `sdk.inputs.check_inputs`
is where user inputs are validated with errors that name the problem.
"""
from __future__ import annotations

import torch
from torch import nn

from sdk.attention import CrossAttention
from sdk.encoders import ModalityEncoder
from sdk.fusion import fusion_head_class
from sdk.fusion.gated import GATE_HIDDEN
from sdk.layers import LayerNorm, mean_over_steps
from sdk.spec import ModelSpec


class FeedForward(nn.Module):
    """x + W2 GELU(W1 LayerNorm(x)): the FFN after fusion ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 5.4)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.down(self.dropout(nn.functional.gelu(self.up(self.norm(x))))))


class EmotionModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        spec.validate()
        self.spec = spec
        widths = spec.widths
        self.encoders = nn.ModuleDict({m.name: ModalityEncoder(m, spec) for m in spec.modalities})
        #: encoders kept in eval mode by train() (stage-wise training, sdk.encoder_init); not saved
        self.frozen_encoders: set[str] = set()
        dims = [self.encoders[m.name].out_dim for m in spec.modalities]
        if len(set(dims)) != 1:
            raise ValueError(f"every encoder must output the same width for fusion, got {dims}")
        dim = dims[0]
        names = spec.modality_names
        self.use_attention = spec.components.cross_attention and len(names) > 1
        if self.use_attention:
            self.attention = nn.ModuleDict(
                {
                    name: CrossAttention(
                        dim,
                        dim,
                        widths.get(f"{name}.attn_qk", dim),
                        widths.get(f"{name}.attn_v", dim),
                        spec.attention_heads,
                    )
                    for name in names
                }
            )
        head = fusion_head_class(spec.fusion)
        kwargs = {}
        if spec.fusion == "gated":  # the gate's hidden layer: width key "fusion.gate" (PNAO prunes it)
            kwargs = {"learned": spec.components.gating, "gate_dim": widths.get("fusion.gate", GATE_HIDDEN)}
        self.fusion = head(len(names), dim, spec.num_classes, spec.dropout, **kwargs)
        self.classify_here = not self.fusion.produces_logits
        if self.classify_here:
            self.ffn = FeedForward(self.fusion.out_dim, widths.get("ffn", spec.ffn_size), spec.dropout)
            self.classifier = nn.Linear(self.fusion.out_dim, spec.num_classes)

    def train(self, mode: bool = True) -> "EmotionModel":
        super().train(mode)
        for name in self.frozen_encoders:  # frozen encoders keep their BatchNorm statistics and no dropout
            self.encoders[name].eval()
        return self

    @property
    def modality_names(self) -> list[str]:
        return self.spec.modality_names

    def pool(self, sequence: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, D): the last step (the target utterance) or the mean of all steps."""
        if self.spec.pooling == "last":
            t = sequence.shape[1]
            return sequence[:, t - 1 : t].reshape(sequence.shape[0], -1)
        return mean_over_steps(sequence)

    def encode(self, inputs: list[torch.Tensor], presence: torch.Tensor) -> list[torch.Tensor]:
        """Encoder outputs after cross-modal attention; absent modalities are exactly 0."""
        encoded = [self.encode_modality(name, x, presence[:, i]) for i, (name, x) in
                   enumerate(zip(self.modality_names, inputs))]
        if self.use_attention:
            attended = []
            for i, name in enumerate(self.modality_names):
                j = i - 1  # cyclic: modality 0 queries the last one
                key_present = presence[:, j : j + 1] if j >= 0 else presence[:, j:]
                attended.append(self.attention[name](encoded[i], encoded[j], key_present))
            encoded = attended
        return [h * presence[:, i : i + 1].reshape(-1, 1, 1) for i, h in enumerate(encoded)]

    def encode_modality(self, name: str, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """One encoder's output (B, T', D). In training mode only the rows where the modality is
        present go through it, so BatchNorm's batch statistics (and their running averages) never
        mix in the placeholder inputs of absent rows (silence, a blank image, padding), which
        modality dropout makes up to half of a batch; their rows are 0 (`encode` zeroes them at
        inference too). Inference runs every row (no data-dependent shapes in the exported graph)."""
        encoder = self.encoders[name]
        rows = present > 0
        if not self.training or bool(rows.all()) or not bool(rows.any()):
            return encoder(x)
        h = encoder(x[rows])
        out = h.new_zeros((x.shape[0], *h.shape[1:]))
        out[rows] = h
        return out

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        *inputs, presence = args
        sequences = self.encode(inputs, presence)
        pooled = torch.stack([self.pool(h) for h in sequences], dim=1)  # (B, M, D)
        fused, weights = self.fusion(pooled, sequences, presence)
        if not self.classify_here:
            return fused, weights
        return self.classifier(self.ffn(fused)), weights


def build_model(spec: ModelSpec) -> nn.Module:
    """The network a spec describes: EmotionModel (mfusher) or MFDRModel (mfdr)."""
    if spec.architecture == "mfdr":
        from sdk.mfdr import MFDRModel

        return MFDRModel(spec)
    return EmotionModel(spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
