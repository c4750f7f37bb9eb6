"""MFDR: Multiple-stage Fusion and Dynamically Refined network ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition"), for audio + text.

    text (B, L, Ft) ─ Linear ─> q ─┐
                                   ├─ SAWA: windowed text->audio attention, adaptive width (Alg. 1) ─> z (B, L, D)
    audio (B, T, Fa) ─ Linear ─> k,v┘
    z ─ multi-head self-attention ─> g (global context)
    (z, g) ─ GCPU recurrence (eqs. 1-6) ─> H (B, L, D)
    H ─ two Dynamic Frame Convolution layers (eqs. 7-8) ─> (B, D) ─ classifier ─> logits

Everything is written without data-dependent Python control flow, so it traces
with torch.export: the adaptive window widening of Algorithm 1 is computed for
every window at once with masks and selected with `torch.where`.

Switches (`spec.mfdr`) give the ablations of "MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition" Table 3: fixed window widths
(`adaptive=False`, `window=...`), full-size attention (`full_attention=True`),
without context (`context=False`: no g_t stream), GRU instead of GCPU
(`recurrent="gru"`), max / average pooling instead of DFC (`pooling="max"|"avg"`).

Missing modalities: with audio absent, z is the text projection alone (the
attention term is multiplied by audio presence); with text absent, the queries are
zero and z carries attended audio only. Reported weights are uniform over the
present modalities (MFDR has no gate).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from sdk.fusion.base import uniform_weights
from sdk.layers import LayerNorm
from sdk.spec import ModelSpec

MFDR_DEFAULTS = {
    # audio window width (steps) per text step; Algorithm 1 can only widen a window of
    # width >= 2 (a single key never exceeds its own mean), so 1 would disable it
    "window": 3,
    "adaptive": True,  # Algorithm 1: widen strongly correlated windows to 3x, then 5x
    "full_attention": False,
    "context": True,  # GCPU's global-context stream g_t
    "recurrent": "gcpu",  # "gcpu" | "gru"
    "pooling": "dfc",  # "dfc" | "max" | "avg"
    "dfc_window": 3,
    "dfc_hops": [2, 3],
    "heads": 4,
}


def window_masks(text_len: int, audio_len: int, window: int) -> torch.Tensor:
    """(3, L, T) bool: text step i's audio window, widened by one and by two neighbour windows.

    Text step i is aligned with audio position c_i = floor((i + 0.5) T / L); its window
    is the `window` steps centred there, [c_i - window // 2, c_i - window // 2 + window).
    With the paper's T = 255, L = 50, window 10 this is its hop-5 sliding window.
    Widening by k windows adds k * window steps on each side (Algorithm 1 lines 7 and
    13). Everything is clipped to [0, T).
    """
    masks = torch.zeros(3, text_len, audio_len, dtype=torch.bool)
    for i in range(text_len):
        start = int((i + 0.5) * audio_len / text_len) - window // 2
        for level, extra in enumerate((0, 1, 2)):
            lo = max(0, start - extra * window)
            hi = min(audio_len, start + window + extra * window)
            masks[level, i, lo:hi] = True
    return masks


class SlidingAdaptiveWindowAttention(nn.Module):
    """SAWA ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition" sec. 2.1 and Algorithm 1), with residual and LayerNorm.

    att_w = softmax over the window of q k^T / sqrt(D). A window whose number of keys
    above the row mean (within the window) reaches half its width is widened to its
    neighbours (3x); if the widened window's count then reaches the full width it is
    widened again (5x). `full_attention` attends over all audio steps.
    """

    def __init__(self, dim: int, text_len: int, audio_len: int, window: int, adaptive: bool, full_attention: bool):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.norm = LayerNorm(dim)
        self.window = window
        self.adaptive = adaptive and not full_attention
        masks = window_masks(text_len, audio_len, window)
        if full_attention:
            masks = torch.ones_like(masks)
        self.register_buffer("masks", masks.float(), persistent=False)

    @staticmethod
    def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores + (mask - 1.0) * 1e9, dim=-1) * mask

    @staticmethod
    def _key_points(att: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per row: how many keys in the window exceed the row's mean attention (Alg. 1 lines 2-4)."""
        mean = att.sum(dim=-1, keepdim=True) / mask.sum(dim=-1, keepdim=True).clamp_min(1.0)
        return ((att > mean).float() * mask).sum(dim=-1, keepdim=True)

    def attention(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scores = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(q.shape[-1]))
        att = self._masked_softmax(scores, self.masks[0])
        if not self.adaptive:
            return att
        widened = self._masked_softmax(scores, self.masks[1])
        twice = self._masked_softmax(scores, self.masks[2])
        first = self._key_points(att, self.masks[0]) >= 0.5 * self.window
        second = first & (self._key_points(widened, self.masks[1]) >= self.window)
        return torch.where(second, twice, torch.where(first, widened, att))

    def forward(self, text: torch.Tensor, audio: torch.Tensor, audio_present: torch.Tensor) -> torch.Tensor:
        att = self.attention(self.query(text), self.key(audio))
        combined = torch.bmm(att, self.value(audio))
        return self.norm(text + audio_present.reshape(-1, 1, 1) * combined)


class GatedContextPerceptionUnit(nn.Module):
    """GCPU ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition" eqs. 1-6), one direction over the L steps.

    r = σ(W_hr h + W_zr z + W_gr g + b_r)                   (1)
    z~ = tanh(W_zz z + W_hz (r ⊙ h) + b_z)                  (2)
    g~ = tanh(W_gg g + W_hg (r ⊙ h) + b_g)                  (3)
    h~ = z~ + g~                                            (4)
    u = σ(W_zu z~ + W_gu g~ + W_hu (r ⊙ h) + b_u)           (5)
    h' = r ⊙ h + u ⊙ h~                                     (6)
    Without context (the "w/o Context" ablation) the g terms are dropped.
    """

    def __init__(self, dim: int, context: bool = True):
        super().__init__()
        self.context = context
        self.reset_z = nn.Linear(dim, dim)
        self.reset_h = nn.Linear(dim, dim, bias=False)
        self.cand_z = nn.Linear(dim, dim)
        self.cand_zh = nn.Linear(dim, dim, bias=False)
        self.update_z = nn.Linear(dim, dim)
        self.update_h = nn.Linear(dim, dim, bias=False)
        if context:
            self.reset_g = nn.Linear(dim, dim, bias=False)
            self.cand_g = nn.Linear(dim, dim)
            self.cand_gh = nn.Linear(dim, dim, bias=False)
            self.update_g = nn.Linear(dim, dim, bias=False)

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b, length, d = z.shape
        h = None  # h_0 = 0: the first step drops every h term
        outputs = []
        for t in range(length):
            zt = z[:, t : t + 1].reshape(b, d)
            gt = g[:, t : t + 1].reshape(b, d)
            pre_r = self.reset_z(zt)
            if h is not None:
                pre_r = pre_r + self.reset_h(h)
            if self.context:
                pre_r = pre_r + self.reset_g(gt)
            r = torch.sigmoid(pre_r)
            rh = None if h is None else r * h
            cand_z = self.cand_z(zt) if rh is None else self.cand_z(zt) + self.cand_zh(rh)
            candidate = torch.tanh(cand_z)
            pre_u = self.update_z(candidate)
            if self.context:
                cand_g = self.cand_g(gt) if rh is None else self.cand_g(gt) + self.cand_gh(rh)
                cand_g = torch.tanh(cand_g)
                candidate_sum = candidate + cand_g
                pre_u = pre_u + self.update_g(cand_g)
            else:
                candidate_sum = candidate
            if rh is not None:
                pre_u = pre_u + self.update_h(rh)
            u = torch.sigmoid(pre_u)
            h = u * candidate_sum if rh is None else rh + u * candidate_sum
            outputs.append(h.reshape(b, 1, d))
        return torch.cat(outputs, dim=1)


class PlainGRU(nn.Module):
    """The "GRU" row of Table 3: a standard GRU over z (no context stream), explicit gates."""

    def __init__(self, dim: int):
        super().__init__()
        self.gates_x = nn.ModuleDict({g: nn.Linear(dim, dim) for g in "rzn"})
        self.gates_h = nn.ModuleDict({g: nn.Linear(dim, dim) for g in "rzn"})

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b, length, d = z.shape
        h = None
        outputs = []
        for t in range(length):
            x = z[:, t : t + 1].reshape(b, d)
            hr = self.gates_h["r"].bias if h is None else self.gates_h["r"](h)
            hz = self.gates_h["z"].bias if h is None else self.gates_h["z"](h)
            hn = self.gates_h["n"].bias if h is None else self.gates_h["n"](h)
            r = torch.sigmoid(self.gates_x["r"](x) + hr)
            u = torch.sigmoid(self.gates_x["z"](x) + hz)
            n = torch.tanh(self.gates_x["n"](x) + r * hn)
            h = (1 - u) * n if h is None else (1 - u) * n + u * h
            outputs.append(h.reshape(b, 1, d))
        return torch.cat(outputs, dim=1)


class DynamicFrameConvolution(nn.Module):
    """One DFC layer ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition" eqs. 7-8): per-position generated kernels over framed windows.

    H (B, L, D) is cut into N_f = floor((L - w) / h) + 1 frames of w steps (eq. 7).
    A learned kernel-generation map M (L x D) passes through the kernel-generation
    block W (conv, LayerNorm, GELU, conv) to give Φ (eq. 8): one kernel of w x D
    weights per frame position, softmax-normalized over the w steps. Output frame i is
    sum_j Φ_i[j] ⊙ H[i*h + j]: a learned, position-aware pooling. Output (B, N_f, D).
    """

    def __init__(self, length: int, dim: int, window: int, hop: int, hidden: int = 64):
        super().__init__()
        if length < window:
            raise ValueError(f"DFC needs at least {window} steps, got {length}; lower dfc_window")
        self.window, self.hop = window, hop
        self.frames = (length - window) // hop + 1
        self.kernel_map = nn.Parameter(torch.randn(1, dim, length) * 0.02)
        self.generate = nn.Sequential(
            nn.Conv1d(dim, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv1d(hidden, dim * window, 1),
        )
        self.norm = LayerNorm(dim)

    def kernels(self) -> torch.Tensor:
        """Φ: (N_f, w, D), softmax over the w steps of each frame."""
        raw = self.generate(self.kernel_map)  # (1, D*w, L)
        d = raw.shape[1] // self.window
        starts = [i * self.hop for i in range(self.frames)]
        per_frame = torch.cat([raw[:, :, s : s + 1] for s in starts], dim=2)  # (1, D*w, N_f)
        per_frame = per_frame.reshape(self.window, d, self.frames).permute(2, 0, 1)
        return torch.softmax(per_frame, dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        phi = self.kernels()
        frames = [
            (h[:, i * self.hop : i * self.hop + self.window] * phi[i : i + 1]).sum(dim=1, keepdim=True)
            for i in range(self.frames)
        ]
        return self.norm(torch.cat(frames, dim=1))


class MFDRModel(nn.Module):
    """MFDR for the modalities `audio` and `text` of a spec (any order); same call signature as EmotionModel."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        spec.validate()
        self.spec = spec
        names = spec.modality_names
        if sorted(names) != ["audio", "text"]:
            raise ValueError(f"MFDR takes exactly the modalities audio and text, got {names}")
        options = {**MFDR_DEFAULTS, **spec.mfdr}
        self.options = options
        self.audio_index, self.text_index = names.index("audio"), names.index("text")
        audio, text = spec.modality("audio"), spec.modality("text")
        if audio.kind != "features" or text.kind != "features":
            raise ValueError("MFDR here takes feature-vector audio and text (e.g. MOSI)")
        dim = spec.hidden_size
        self.audio_proj = nn.Linear(audio.feature_dim, dim)
        self.text_proj = nn.Linear(text.feature_dim, dim)
        self.dropout = nn.Dropout(spec.dropout)
        self.sawa = SlidingAdaptiveWindowAttention(
            dim, text.seq_len, audio.seq_len, options["window"], options["adaptive"], options["full_attention"],
        )
        self.context = nn.MultiheadAttention(dim, options["heads"], batch_first=True) if options["context"] else None
        self.recurrent = (
            GatedContextPerceptionUnit(dim, options["context"]) if options["recurrent"] == "gcpu" else PlainGRU(dim)
        )
        length = text.seq_len
        layers = []
        if options["pooling"] == "dfc":
            for hop in options["dfc_hops"]:
                layer = DynamicFrameConvolution(length, dim, options["dfc_window"], hop)
                layers.append(layer)
                length = layer.frames
        self.dfc = nn.ModuleList(layers)
        self.classifier = nn.Linear(dim, spec.num_classes)

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        if self.options["pooling"] == "max":
            return h.max(dim=1).values
        if self.options["pooling"] == "avg":
            return h.mean(dim=1)
        for layer in self.dfc:
            h = layer(h)
        return h.mean(dim=1)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        *inputs, presence = args
        audio_present = presence[:, self.audio_index : self.audio_index + 1]
        text_present = presence[:, self.text_index : self.text_index + 1]
        audio = self.dropout(self.audio_proj(inputs[self.audio_index])) * audio_present.reshape(-1, 1, 1)
        text = self.dropout(self.text_proj(inputs[self.text_index])) * text_present.reshape(-1, 1, 1)
        z = self.sawa(text, audio, audio_present)
        g = self.context(z, z, z, need_weights=False)[0] if self.context is not None else z
        h = self.dropout(self.recurrent(z, g))
        return self.classifier(self.pool(h)), uniform_weights(presence)
