"""The model spec: the one description of a model that every stage reads.

Training writes it, PNAO updates its widths, the exporters embed it in the
artifact manifest, and the runtimes (Python, Kotlin, Swift) parse the same JSON.
If a stage needs a fact about the model, it reads it here, never a constant of
its own.

A spec is made of plain dataclasses with a JSON round-trip and a version field:

    spec = ModelSpec(modalities=[...], class_names=[...])
    text = spec.to_json()
    assert ModelSpec.from_json(text) == spec
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SPEC_VERSION = 1

#: The kinds of one step of a modality.
FEATURES = "features"  # a feature vector of `feature_dim` floats
FRAMES = "frames"  # an image of `channels` x `height` x `width` floats
TOKENS = "tokens"  # a token id into `vocabulary`
WAVEFORM = "waveform"  # one mono PCM sample in [-1, 1] at `sample_rate` (the log-mel front end is in the model)
MODALITY_KINDS = (FEATURES, FRAMES, TOKENS, WAVEFORM)

#: Front-end defaults of a `waveform` modality (sdk.frontend): 25 ms Hann frames every
#: 10 ms, a 64-band Slaney mel filterbank from 0 Hz to the Nyquist frequency.
WAVEFORM_WINDOW_SECONDS = 0.025
WAVEFORM_HOP_SECONDS = 0.010
WAVEFORM_N_MELS = 64

#: The encoder fronts a modality kind may name in `ModalitySpec.encoder` ("" = the default).
ENCODERS = {FEATURES: ("",), FRAMES: ("", "face"), TOKENS: ("",), WAVEFORM: ("", "mel2d")}

#: The fusion heads behind one interface (see sdk.fusion).
FUSION_TYPES = ("gated", "concat", "gated2", "fbp", "cbp", "cbgp", "entropy")

#: The model families a spec can describe.
ARCHITECTURES = ("mfusher", "mfdr")

#: How an encoder's sequence becomes one vector per modality.
POOLING_TYPES = ("mean", "last")

#: `ModelSpec.widths` keys: "<modality>.<part>" with a part here (a trailing "<i>" is a layer
#: index), or one of WIDTH_GLOBAL_KEYS. A missing key means the layer's default width.
WIDTH_PARTS = ("frame", "face<i>", "mel<i>", "audio", "embed", "conv<i>", "rnn", "attn_qk", "attn_v")
WIDTH_GLOBAL_KEYS = ("ffn", "fusion.gate")


class SpecError(ValueError):
    """A spec (or manifest) that is malformed or of an unsupported version."""


@dataclass
class Normalization:
    """Per-feature (or per-channel, for frames) mean and standard deviation.

    Inputs are normalized as ``(x - mean) / std`` before they enter the model, or
    inside the model for a modality with ``normalize_in_graph`` (waveform: per mel
    band of the log-mel spectrogram; frames: per channel of the raw pixels).
    Empty lists mean "no normalization" (token modalities).
    """

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


@dataclass
class ModalitySpec:
    """One input modality: its name, what one step is, and how many steps.

    kind:
        ``features``: each step is a vector of ``feature_dim`` floats;
        ``frames``: each step is an image ``channels x height x width``;
        ``tokens``: each step is an integer id into ``vocabulary``;
        ``waveform``: each step is one mono PCM sample in [-1, 1] at ``sample_rate``
        (step shape ``()``, so one input is ``(seq_len,)`` float32); the model computes
        the log-mel spectrogram itself (sdk.frontend) from ``win_length``,
        ``hop_length``, ``n_mels``, ``fmin`` and ``fmax``.
    seq_len:
        The number of steps the model takes (shorter inputs are left-padded
        with zeros after normalization, longer ones keep their last steps).
        For a waveform this is the window in samples (3 s at 16 kHz = 48000).
    normalize_in_graph:
        True: ``normalization`` is applied inside the model (the artifact takes raw
        values: PCM for waveforms, 0..255 pixels for frames), so no runtime normalizes.
        Always True for waveforms. False (older specs): the runtime normalizes.
    encoder:
        Which encoder front reads this modality ("" = the kind's default; frames:
        "face" = the stronger 48x48 face CNN, sdk.layers.FaceEncoder).

    Specs written before the waveform kind lack these fields and load unchanged.
    """

    name: str
    kind: str
    seq_len: int
    feature_dim: int = 0
    channels: int = 0
    height: int = 0
    width: int = 0
    vocabulary: list[str] = field(default_factory=list)
    normalization: Normalization = field(default_factory=Normalization)
    sample_rate: int = 0
    win_length: int = 0  # samples per analysis frame (also the DFT size); 0 = 25 ms
    hop_length: int = 0  # samples between frames; 0 = 10 ms
    n_mels: int = 0  # 0 = WAVEFORM_N_MELS
    fmin: float = 0.0
    fmax: float = 0.0  # 0 = sample_rate / 2
    normalize_in_graph: bool = False
    encoder: str = ""

    def __post_init__(self) -> None:
        """Resolve a waveform modality's front-end defaults so the JSON holds explicit values."""
        if self.kind == WAVEFORM and self.sample_rate > 0:
            if not self.win_length:
                self.win_length = int(round(WAVEFORM_WINDOW_SECONDS * self.sample_rate))
            if not self.hop_length:
                self.hop_length = int(round(WAVEFORM_HOP_SECONDS * self.sample_rate))
            if not self.n_mels:
                self.n_mels = WAVEFORM_N_MELS
            if not self.fmax:
                self.fmax = self.sample_rate / 2
            self.normalize_in_graph = True

    @property
    def n_frames(self) -> int:
        """Log-mel frames of a waveform window (frames start every hop, no centre padding)."""
        if self.kind != WAVEFORM or self.seq_len < self.win_length:
            return 0
        return 1 + (self.seq_len - self.win_length) // self.hop_length

    def step_shape(self) -> tuple[int, ...]:
        """Shape of one step of this modality as the model takes it."""
        if self.kind == FEATURES:
            return (self.feature_dim,)
        if self.kind == FRAMES:
            return (self.channels, self.height, self.width)
        return ()

    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (without the batch dimension)."""
        return (self.seq_len, *self.step_shape())

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def validate(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise SpecError(f"modality name {self.name!r} must be a Python identifier, e.g. 'audio'")
        if self.kind not in MODALITY_KINDS:
            raise SpecError(f"modality {self.name!r}: kind {self.kind!r} is not one of {MODALITY_KINDS}")
        if self.seq_len < 1:
            raise SpecError(f"modality {self.name!r}: seq_len must be >= 1, got {self.seq_len}")
        if self.kind == FEATURES and self.feature_dim < 1:
            raise SpecError(f"modality {self.name!r}: a 'features' modality needs feature_dim >= 1")
        if self.kind == FRAMES and min(self.channels, self.height, self.width) < 1:
            raise SpecError(f"modality {self.name!r}: a 'frames' modality needs channels, height and width >= 1")
        if self.kind == TOKENS and len(self.vocabulary) < 3:
            raise SpecError(f"modality {self.name!r}: a 'tokens' modality needs a vocabulary (with <pad>, <unk>)")
        if self.kind == WAVEFORM:
            if self.sample_rate < 1:
                raise SpecError(f"modality {self.name!r}: a 'waveform' modality needs sample_rate >= 1 (e.g. 16000)")
            if self.n_frames < 1 or self.hop_length < 1 or self.n_mels < 1:
                raise SpecError(
                    f"modality {self.name!r}: a 'waveform' modality needs seq_len >= win_length and hop_length, "
                    f"n_mels >= 1, got seq_len {self.seq_len}, win_length {self.win_length}, "
                    f"hop_length {self.hop_length}, n_mels {self.n_mels}"
                )
            if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
                raise SpecError(
                    f"modality {self.name!r}: need 0 <= fmin < fmax <= sample_rate / 2, got {self.fmin}, {self.fmax}"
                )
            if not self.normalize_in_graph:
                raise SpecError(f"modality {self.name!r}: a 'waveform' modality is always normalized in the graph")
        elif self.normalize_in_graph and self.kind != FRAMES:
            raise SpecError(f"modality {self.name!r}: normalize_in_graph is for 'waveform' and 'frames' modalities")
        if self.encoder not in ENCODERS[self.kind]:
            raise SpecError(f"modality {self.name!r}: encoder {self.encoder!r} is not one of {ENCODERS[self.kind]}")
        norm = self.normalization
        if len(norm.mean) != len(norm.std):
            raise SpecError(f"modality {self.name!r}: normalization mean and std differ in length")
        expected = {FEATURES: self.feature_dim, FRAMES: self.channels, TOKENS: 0, WAVEFORM: self.n_mels}[self.kind]
        if norm.mean and len(norm.mean) != expected:
            raise SpecError(
                f"modality {self.name!r}: normalization has {len(norm.mean)} values, expected {expected}"
            )
        if any(s <= 0 for s in norm.std):
            raise SpecError(f"modality {self.name!r}: normalization std must be > 0")


#: ModalitySpec fields added with the waveform kind, and their defaults (omitted from JSON when default).
OPTIONAL_MODALITY_FIELDS = {
    f.name: f.default for f in dataclasses.fields(ModalitySpec)
    if f.name in ("sample_rate", "win_length", "hop_length", "n_mels", "fmin", "fmax", "normalize_in_graph", "encoder")
}


@dataclass
class Components:
    """Switches for the ablations of "A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition" section 6.5 (all on = the full model)."""

    depthwise_conv: bool = True  # False: dense temporal convolutions
    recurrent: str = "gru"  # "gru" (BiGRU) or "lstm" (BiLSTM)
    cross_attention: bool = True
    gating: bool = True  # False: mean of the present modalities
    focal_loss: bool = True  # False: cross-entropy


@dataclass
class ModelSpec:
    """Everything needed to build, train, export and run one model."""

    modalities: list[ModalitySpec]
    class_names: list[str]
    hidden_size: int = 128  # BiGRU output width (64 units per direction)
    fusion: str = "gated"
    components: Components = field(default_factory=Components)
    pooling: str = "mean"
    conv_kernel: int = 3
    conv_layers: int = 1
    #: Stride of the first temporal conv: T steps become ceil(T / stride) recurrent steps
    #: (the recurrence's per-step cost dominates latency: ../docs toolchain measurements).
    conv_stride: int = 1
    attention_heads: int = 4
    ffn_size: int = 128
    dropout: float = 0.2
    #: The architecture: "mfusher" ("A Lightweight and Efficient Multimodal Fusion Model for Emotion Recognition", sdk.model) or "mfdr" ("MFDR: Multiple-stage Fusion and Dynamically Refined Network for Multimodal Emotion Recognition", audio + text, sdk.mfdr).
    architecture: str = "mfusher"
    #: MFDR options (see sdk.mfdr.MFDR_DEFAULTS); only read when architecture == "mfdr".
    mfdr: dict[str, Any] = field(default_factory=dict)
    #: Per-layer widths after PNAO pruning (name -> width); empty = the defaults. Keys (see
    #: WIDTH_PARTS): ``<m>.frame`` (face/frame CNN base width), ``<m>.face<i>`` (FaceEncoder: stem
    #: i=0, separable block i's pointwise output i=1..6), ``<m>.mel<i>`` (MelConv2dEncoder: stem i=0,
    #: blocks i=1..3), ``<m>.audio`` (audio front's output), ``<m>.embed``, ``<m>.conv<i>``,
    #: ``<m>.rnn`` (units per direction), ``<m>.attn_qk``, ``<m>.attn_v``, ``ffn`` and
    #: ``fusion.gate`` (the gated head's hidden layer); a missing key is that layer's default.
    widths: dict[str, int] = field(default_factory=dict)
    dataset: str = ""
    version: int = SPEC_VERSION

    # ----------------------------------------------------------------- access
    @property
    def modality_names(self) -> list[str]:
        return [m.name for m in self.modalities]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def modality(self, name: str) -> ModalitySpec:
        for m in self.modalities:
            if m.name == name:
                return m
        raise KeyError(f"no modality {name!r}; this model has {self.modality_names}")

    def validate(self) -> "ModelSpec":
        if self.version != SPEC_VERSION:
            raise SpecError(
                f"spec version {self.version} is not supported (this emoedge reads version {SPEC_VERSION}); "
                "re-export the model with this emoedge version"
            )
        if not self.modalities:
            raise SpecError("a spec needs at least one modality")
        names = self.modality_names
        if len(set(names)) != len(names):
            raise SpecError(f"modality names must be unique, got {names}")
        for m in self.modalities:
            m.validate()
        if len(self.class_names) < 2:
            raise SpecError("a spec needs at least two class names")
        if self.fusion not in FUSION_TYPES:
            raise SpecError(f"fusion {self.fusion!r} is not one of {FUSION_TYPES}")
        if self.architecture not in ARCHITECTURES:
            raise SpecError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.pooling not in POOLING_TYPES:
            raise SpecError(f"pooling {self.pooling!r} is not one of {POOLING_TYPES}")
        if self.hidden_size < 2 or self.hidden_size % 2:
            raise SpecError(f"hidden_size must be even (two directions), got {self.hidden_size}")
        if self.conv_stride < 1 or self.conv_layers < 1:
            raise SpecError(f"conv_stride and conv_layers must be >= 1, got {self.conv_stride}, {self.conv_layers}")
        if self.components.recurrent not in ("gru", "lstm"):
            raise SpecError(f"components.recurrent must be 'gru' or 'lstm', got {self.components.recurrent!r}")
        self._validate_widths()
        return self

    def _validate_widths(self) -> None:
        """Every width key names a layer this spec can have (WIDTH_PARTS) and holds a positive int."""
        for key, value in self.widths.items():
            if not _known_width_key(key, self.modality_names):
                raise SpecError(
                    f"widths key {key!r} is not a layer width: use '<modality>.<part>' with a modality of "
                    f"{self.modality_names} and a part of {WIDTH_PARTS} (<i> = layer index), or one of "
                    f"{WIDTH_GLOBAL_KEYS}"
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"widths[{key!r}] must be a positive integer, got {value!r}")

    # ------------------------------------------------------------- round-trip
    def to_dict(self) -> dict[str, Any]:
        """The spec as plain types; the waveform-era modality fields are left out while they
        hold their defaults, so a spec without a live kind serializes exactly as before
        (manifests and the contract vectors of older models do not change)."""
        data = dataclasses.asdict(self)
        for m in data["modalities"]:
            for key, default in OPTIONAL_MODALITY_FIELDS.items():
                if m.get(key) == default:
                    del m[key]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        try:
            data = dict(data)
            modalities = []
            for m in data.pop("modalities"):
                m = dict(m)
                m["normalization"] = Normalization(**m.get("normalization", {}))
                modalities.append(ModalitySpec(**m))
            components = Components(**data.pop("components", {}))
            spec = cls(modalities=modalities, components=components, **data)
        except (KeyError, TypeError) as err:
            raise SpecError(f"malformed model spec: {err}") from err
        return spec.validate()

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"model spec is not valid JSON: {err}") from err
        return cls.from_dict(data)


def _known_width_key(key: str, modality_names: list[str]) -> bool:
    if key in WIDTH_GLOBAL_KEYS:
        return True
    modality, _, part = key.partition(".")
    if modality not in modality_names or not part:
        return False
    for pattern in WIDTH_PARTS:
        if pattern.endswith("<i>"):
            stem = pattern[: -len("<i>")]
            if part.startswith(stem) and part[len(stem):].isdigit():
                return True
        elif part == pattern:
            return True
    return False


def subset_name(names: list[str] | tuple[str, ...]) -> str:
    """The canonical name of a modality subset: sorted names joined by '+'."""
    return "+".join(sorted(names))
