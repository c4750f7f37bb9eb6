"""Physical removal of nodes with torch-pruning's DependencyGraph ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization", Algorithm 1 step 4).

DepGraph traces the model and groups every tensor slice that must shrink together
when one node goes; this module only tells it about the layers it cannot see into
and names the prunable node groups of `sdk.model.EmotionModel`:

================  ====================================  =====================================
width key         root (its output nodes)               what leaves with a node
================  ====================================  =====================================
<m>.face<i>       face CNN (sdk.layers.FaceEncoder):    its BatchNorm channel, the next
                  i=0 the stem conv, i=1..6 block i's   block's depthwise channel (groups ==
                  pointwise conv                        channels) and that block's pointwise
                                                        input column; after block 6, the
                                                        first temporal conv's channel
<m>.mel<i>        mel2d CNN (MelConv2dEncoder): i=0     the same; after the last block, the
                  the stem, i>=1 block i's pointwise    projection's `bands` stacked input
                                                        columns c*bands .. c*bands+bands-1
<m>.audio         mel2d's BandProjection (1x1 conv)     the first temporal conv's channel
<m>.conv<i>       encoders[m].convs[i].pointwise        the next conv's / the GRU's input column
model.rnn (*)     one hidden unit j of every encoder's  unit j of every gate, both directions
                  BiGRU/BiLSTM, in both directions      (rows j and H+j of the input weights,
                                                        row and column j of the recurrent ones)
                                                        in every modality, and channels j, H+j of
                                                        everything on the D-wide stream: attention
                                                        Q/K/V inputs, output projection rows,
                                                        LayerNorms, the fusion gate's input
                                                        columns m*D+j, FFN norm/up/down, classifier
<m>.attn_qk       attention[m].query                    key rows (Q.K couples them); whole-head
                                                        structure kept: every head loses as many
<m>.attn_v        attention[m].value                    output-projection columns; same per head
fusion.gate       fusion.gate[0] (the gate's hidden     fusion.gate[2]'s input column (pruned
                  layer, tanh)                          here, not by DepGraph: the head is one
                                                        customized DepGraph leaf)
ffn               ffn.up                                ffn.down columns
================  ====================================  =====================================

(*) D, the encoder output width, must be the same for every modality because fusion
stacks the pooled vectors (B, M, D) and the gate reads them flattened (M*D): so a GRU
unit is one node shared by all modalities (its importance averages over them), and its
removal is recorded as `<m>.rnn` for every m.

Every group's kept count is rounded up to a multiple of `round_to` (PNAO's `--round-to`,
8 by default, so XNNPACK gets aligned channel counts) and of the head count (`keep_count`).

Not prunable: input feature columns (fixed by the data), the fixed log-mel front end
(sdk.frontend: DFT, window, mel filterbank and normalisation are buffers, not parameters,
so no group's rows read them and no group reaches them), the in-graph pixel normalisation,
depthwise convs as roots (their channels are their inputs: they leave with their producer),
the 1-D audio front (sdk.layers.AudioEncoder: its convs share one width key,
`<m>.audio`), the plain FrameEncoder, the gate's output scores (one per modality) and the
classifier's outputs (the classes). Only the default `gated` fusion head is supported.

How DepGraph is made to see the model correctly (checked against torch-pruning 1.6.1):

* BiGRU/BiLSTM keep their weights in ParameterDicts and run an unrolled recurrence;
  DepGraph would treat those parameters as "unwrapped" and the unrolled slices/bmm as
  element-wise ops, coupling the GRU's input to its output. `RecurrentPruner` is
  registered as a customized pruner and, while tracing only, the layer runs a one-op
  surrogate (a linear map input -> 2H) so the layer is a clean leaf.
* `sdk.layers.LayerNorm` subclasses nn.LayerNorm (DepGraph's LayerNorm pruner applies)
  but computes its statistics through 4-D reshapes; while tracing it runs
  `F.layer_norm` with the same parameters.
* Attention splits heads with reshapes DepGraph would misread; while tracing it runs
  Q, K, V and the output projection without the head split, and Q*K is returned as an
  extra traced output so that Q and K rows are coupled. Heads are handled here.
* The fusion head stacks (B, M, D) and flattens to M*D, an index layout DepGraph's
  reshape mapping gets wrong (it assumes channel-major), so the whole head is a
  customized layer (`GatedFusionPruner`) that removes column m*D+j for every m.
* Pooling ("last" slices the time axis) runs as a sum over time while tracing.
* Depthwise-separable 2-D blocks need nothing: DepGraph's DepthwiseConvPruner (a conv with
  groups == out_channels) couples a depthwise conv's input and output channels, so a
  pointwise/stem node takes its BatchNorm, the next depthwise conv and BatchNorm and the
  next pointwise's input column along (checked on the tiny live model).
* The mel2d projection reads (B, C, bands, T) reshaped to (B, C*bands, T), channel-major;
  DepGraph's reshape mapping would map channel c to column c alone. `BandProjection` is a
  customized layer (`BandProjectionPruner`: input channel c = its `bands` columns) and,
  while tracing, it runs as one conv over the band sum (C channels in).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import torch
import torch_pruning as tp
from torch import nn

from sdk.attention import CrossAttention
from sdk.fusion.gated import AdaptiveGatedFusion
from sdk.layers import (BandProjection, BidirectionalRecurrence, BiGRU, BiLSTM, FaceEncoder, LayerNorm,
                        MelConv2dEncoder)
from sdk.model import EmotionModel


def _keep(n: int, idxs: Sequence[int]) -> torch.Tensor:
    drop = set(int(i) for i in idxs)
    return torch.tensor([i for i in range(n) if i not in drop], dtype=torch.long)


def _replace(old: nn.Parameter, value: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(value.detach().clone().contiguous(), requires_grad=old.requires_grad)


class RecurrentPruner(tp.pruner.BasePruningFunc):
    """Prunes hidden units of `BiGRU`/`BiLSTM` (sdk.layers) for DepGraph.

    Output channel i in [0, 2H) is unit i of the forward direction (i < H) or unit i-H
    of the backward one. The batched recurrence needs both directions equally wide, so
    the indices must come in pairs (j, H+j): unit j then leaves every gate's input rows
    j and H+j, input biases, and row and column j of both directions' recurrent weights.
    """

    TARGET_MODULES = (BidirectionalRecurrence,)

    def prune_out_channels(self, layer: BidirectionalRecurrence, idxs: Sequence[int]) -> nn.Module:
        h = layer.hidden_per_direction
        units = sorted({int(i) % h for i in idxs})
        if sorted(int(i) for i in idxs) != sorted(units + [u + h for u in units]):
            raise ValueError(f"recurrent units must be pruned in both directions together, got {sorted(idxs)}")
        keep = _keep(h, units)
        rows = torch.cat([keep, keep + h])
        for g in layer.gates:
            layer.input_weight[g] = _replace(layer.input_weight[g], layer.input_weight[g][rows])
            layer.input_bias[g] = _replace(layer.input_bias[g], layer.input_bias[g][rows])
            layer.recurrent_weight[g] = _replace(layer.recurrent_weight[g], layer.recurrent_weight[g][:, keep][:, :, keep])
            layer.recurrent_bias[g] = _replace(layer.recurrent_bias[g], layer.recurrent_bias[g][:, :, keep])
        return layer

    def prune_in_channels(self, layer: BidirectionalRecurrence, idxs: Sequence[int]) -> nn.Module:
        keep = _keep(layer.input_size, idxs)
        for g in layer.gates:
            layer.input_weight[g] = _replace(layer.input_weight[g], layer.input_weight[g][:, keep])
        return layer

    def get_out_channels(self, layer: BidirectionalRecurrence) -> int:
        return 2 * layer.hidden_per_direction

    def get_in_channels(self, layer: BidirectionalRecurrence) -> int:
        return layer.input_size

    def output_rows(self, layer: BidirectionalRecurrence, idx: int) -> torch.Tensor:
        """The weights that produce output channel `idx`: its input rows and recurrent rows, all gates."""
        h = layer.hidden_per_direction
        direction, unit = divmod(int(idx), h)
        parts = []
        for g in layer.gates:
            parts += [layer.input_weight[g][idx], layer.recurrent_weight[g][direction, unit]]
        return torch.cat(parts)


class GatedFusionPruner(tp.pruner.BasePruningFunc):
    """The adaptive gated fusion head as one DepGraph node of width D in and out.

    Its output is a weighted sum of the pooled (B, M, D) inputs, so channel j in is
    channel j out (intra-layer coupling: prune_in = prune_out); the gate's first
    Linear reads [e_1 .. e_M, p] flattened, so channel j is its column m*D + j for
    every modality m (the M presence columns stay).
    """

    TARGET_MODULES = (AdaptiveGatedFusion,)

    def prune_out_channels(self, layer: AdaptiveGatedFusion, idxs: Sequence[int]) -> nn.Module:
        d, m = layer.dim, layer.num_modalities
        keep = _keep(d, idxs)
        if layer.learned:
            first = layer.gate[0]
            columns = torch.cat([keep + i * d for i in range(m)] + [torch.arange(m * d, m * d + m)])
            first.weight = _replace(first.weight, first.weight[:, columns])
            first.in_features = len(columns)
        layer.dim = layer.out_dim = len(keep)
        return layer

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: AdaptiveGatedFusion) -> int:
        return layer.dim

    get_in_channels = get_out_channels


class BandProjectionPruner(tp.pruner.BasePruningFunc):
    """The mel2d CNN's 1x1 projection (`sdk.layers.BandProjection`): input channel c is the
    `bands` stacked columns c * bands + f, which DepGraph's reshape mapping would take for
    column c; outputs are plain conv rows."""

    TARGET_MODULES = (BandProjection,)

    def prune_out_channels(self, layer: BandProjection, idxs: Sequence[int]) -> nn.Module:
        keep = _keep(layer.out_channels, idxs)
        layer.weight = _replace(layer.weight, layer.weight[keep])
        if layer.bias is not None:
            layer.bias = _replace(layer.bias, layer.bias[keep])
        layer.out_channels = len(keep)
        return layer

    def prune_in_channels(self, layer: BandProjection, idxs: Sequence[int]) -> nn.Module:
        keep = _keep(self.get_in_channels(layer), idxs)
        columns = (keep[:, None] * layer.bands + torch.arange(layer.bands)[None, :]).flatten()
        layer.weight = _replace(layer.weight, layer.weight[:, columns])
        layer.in_channels = len(columns)
        return layer

    def get_out_channels(self, layer: BandProjection) -> int:
        return layer.out_channels

    def get_in_channels(self, layer: BandProjection) -> int:
        return layer.in_channels // layer.bands


RECURRENT_PRUNER = RecurrentPruner()
FUSION_PRUNER = GatedFusionPruner()
BAND_PROJECTION_PRUNER = BandProjectionPruner()
#: DepGraph looks pruners up by the exact class (not isinstance), so each recurrence is named.
CUSTOMIZED_PRUNERS = {BiGRU: RECURRENT_PRUNER, BiLSTM: RECURRENT_PRUNER, AdaptiveGatedFusion: FUSION_PRUNER,
                      BandProjection: BAND_PROJECTION_PRUNER}


# ------------------------------------------------------------------ tracing
@contextlib.contextmanager
def traceable(model: EmotionModel, side_outputs: list) -> Iterator[None]:
    """Swap in DepGraph-readable forwards (same parameters, same shapes) while tracing."""
    patched: list[nn.Module] = []

    def patch(module: nn.Module, forward) -> None:
        module.forward = forward
        patched.append(module)

    for module in model.modules():
        if isinstance(module, BidirectionalRecurrence):
            def recurrent(x, layer=module):
                proxy = torch.ones(2 * layer.hidden_per_direction, layer.input_size)
                return nn.functional.linear(x, proxy)
            patch(module, recurrent)
        elif isinstance(module, LayerNorm):
            def norm(x, layer=module):
                return nn.functional.layer_norm(x, layer.normalized_shape, layer.weight, layer.bias, layer.eps)
            patch(module, norm)
        elif isinstance(module, CrossAttention):
            def attend(queries, keys, key_present, layer=module):
                q, k = layer.query(queries), layer.key(keys)
                side_outputs.append(q.sum(dim=1) * k.sum(dim=1))  # couples Q and K rows
                # Mean over key steps: the same channel coupling, and it broadcasts over any
                # query length (modalities may have different sequence lengths).
                attended = layer.output(layer.value(keys)).mean(dim=1, keepdim=True)
                return layer.norm(queries + key_present.reshape(-1, 1, 1) * attended)
            patch(module, attend)
        elif isinstance(module, AdaptiveGatedFusion):
            def fuse(pooled, sequences, presence):
                return pooled.sum(dim=1), presence
            patch(module, fuse)
        elif isinstance(module, BandProjection):
            def project(x, layer=module):  # a leaf reading C channels: no band-stacking reshape
                proxy = torch.ones(layer.out_channels, layer.in_channels // layer.bands, 1)
                return nn.functional.conv1d(x.sum(dim=2), proxy)
            patch(module, project)
    patch(model, _traced_model_forward(model))
    try:
        yield
    finally:
        for module in patched:
            del module.forward


def _traced_model_forward(model: EmotionModel):
    def forward(*args):
        *inputs, presence = args
        sequences = model.encode(inputs, presence)
        pooled = torch.stack([h.sum(dim=1) for h in sequences], dim=1)
        fused, _ = model.fusion(pooled, sequences, presence)
        return model.classifier(model.ffn(fused))
    return forward


def example_inputs(model: EmotionModel, batch: int = 2) -> list[torch.Tensor]:
    """Zero inputs of the spec's shapes (token ids 0), all modalities present."""
    inputs = []
    for m in model.spec.modalities:
        dtype = torch.long if m.kind == "tokens" else torch.float32
        inputs.append(torch.zeros(batch, *m.input_shape(), dtype=dtype))
    return inputs + [torch.ones(batch, len(inputs))]


def check_prunable(model: nn.Module) -> None:
    """PNAO's pruners know the M-fusHER model with the gated head; say so clearly otherwise."""
    if not isinstance(model, EmotionModel):
        raise ValueError(
            f"PNAO prunes the mfusher architecture (sdk.model.EmotionModel); this checkpoint is "
            f"{model.spec.architecture!r} ({type(model).__name__}), whose layers have no pruners yet. "
            "Export it unpruned with `python -m export`."
        )
    if model.spec.fusion != "gated" or not model.classify_here:
        raise ValueError(
            f"PNAO prunes models with the 'gated' fusion head (the default); this one has {model.spec.fusion!r}. "
            "Train with --fusion gated to prune it."
        )


def build_graph(model: EmotionModel) -> tp.DependencyGraph:
    """DepGraph of `model` with our customized pruners and tracing surrogates."""
    check_prunable(model)
    side: list[torch.Tensor] = []
    was_training = model.training
    with traceable(model, side):
        graph = tp.DependencyGraph().build_dependency(
            model,
            example_inputs=example_inputs(model),
            forward_fn=lambda m, x: [m(*x), *side],
            customized_pruners=CUSTOMIZED_PRUNERS,
            verbose=False,
        )
    model.train(was_training)
    return graph


# ------------------------------------------------------------------ groups
@dataclass
class NodeGroup:
    """One kind of prunable node: a root layer, how its nodes map to root channels, widths."""

    name: str  # e.g. "audio.conv0", "rnn", "audio.attn_qk", "ffn"
    root: nn.Module
    pruning_fn: object
    width: int  # number of nodes (GRU: units per direction)
    heads: int = 1  # nodes are split into this many equal contiguous heads
    paired: bool = False  # GRU: node j is root channels j and width + j
    #: Pruned here, not through DepGraph (a layer inside a customized DepGraph leaf): the root
    #: Linear loses output rows and this Linear the same input columns.
    consumer: nn.Linear | None = None

    def channels(self, nodes: Sequence[int]) -> list[int]:
        nodes = sorted(int(n) for n in nodes)
        return nodes + [n + self.width for n in nodes] if self.paired else nodes


def node_groups(model: EmotionModel) -> list[NodeGroup]:
    """Every prunable node group of the model (see the module docstring)."""
    groups = []
    names = model.modality_names
    for name in names:
        cnn = cnn_front(model.encoders[name])
        if cnn is not None:
            part = "face" if isinstance(cnn, FaceEncoder) else "mel"
            for i, conv in enumerate(cnn.output_convs()):
                groups.append(NodeGroup(f"{name}.{part}{i}", conv, tp.prune_conv_out_channels, conv.out_channels))
            if isinstance(cnn, MelConv2dEncoder):
                groups.append(NodeGroup(f"{name}.audio", cnn.project, BAND_PROJECTION_PRUNER.prune_out_channels,
                                        cnn.project.out_channels))
        for i, conv in enumerate(model.encoders[name].convs):
            root = conv.pointwise
            groups.append(NodeGroup(f"{name}.conv{i}", root, tp.prune_conv_out_channels, root.out_channels))
    rnn = model.encoders[names[0]].rnn
    groups.append(NodeGroup("rnn", rnn, RECURRENT_PRUNER.prune_out_channels, rnn.hidden_per_direction, paired=True))
    if model.use_attention:
        for name in names:
            attention = model.attention[name]
            groups.append(NodeGroup(f"{name}.attn_qk", attention.query, tp.prune_linear_out_channels,
                                    attention.query.out_features, heads=attention.heads))
            groups.append(NodeGroup(f"{name}.attn_v", attention.value, tp.prune_linear_out_channels,
                                    attention.value.out_features, heads=attention.heads))
    if model.fusion.learned:
        hidden, scores = model.fusion.gate[0], model.fusion.gate[2]
        groups.append(NodeGroup("fusion.gate", hidden, tp.prune_linear_out_channels, hidden.out_features,
                                consumer=scores))
    groups.append(NodeGroup("ffn", model.ffn.up, tp.prune_linear_out_channels, model.ffn.up.out_features))
    return groups


def cnn_front(encoder: nn.Module) -> FaceEncoder | MelConv2dEncoder | None:
    """The 2-D CNN front of a modality encoder (inside the in-graph normalization, if any), or None."""
    for module in encoder.front.modules():
        if isinstance(module, (FaceEncoder, MelConv2dEncoder)):
            return module
    return None


def group_rows(graph: tp.DependencyGraph, group: NodeGroup) -> dict[int, list[torch.Tensor]]:
    """Root channel -> the weight rows (eq. 10's Θ_l(j, :)) that produce it, over the DepGraph group.

    Out-channel pruning operations of the group are the layers whose rows produce the
    node (the root itself, and for the coupled D stream every encoder's GRU units and
    every residual writer); norms and 1-D parameters are not weight matrices and are skipped.
    """
    if group.consumer is not None:
        return {j: [group.root.weight[j].detach()] for j in range(group.width)}
    full = graph.get_pruning_group(group.root, group.pruning_fn, list(range(_root_width(group))))
    rows: dict[int, list[torch.Tensor]] = {}
    for item in full.items:
        layer, handler = item.dep.target.module, item.dep.handler
        if not graph.is_out_channel_pruning_fn(handler):
            continue
        for idx, root_idx in zip(item.idxs, item.root_idxs):
            row = _output_row(layer, idx)
            if row is not None:
                rows.setdefault(int(root_idx), []).append(row.detach())
    return rows


def _root_width(group: NodeGroup) -> int:
    return 2 * group.width if group.paired else group.width


def _output_row(layer, idx: int) -> torch.Tensor | None:
    if isinstance(layer, BidirectionalRecurrence):
        return RECURRENT_PRUNER.output_rows(layer, idx)
    if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)) and layer.weight.dim() > 1:
        if isinstance(layer, nn.Conv1d | nn.Conv2d) and layer.groups > 1:
            return None  # depthwise: channel = input, not a produced node
        return layer.weight[idx].flatten()
    return None


def keep_count(kept: int, width: int, round_to: int, heads: int) -> int:
    """Nodes to keep: at least `kept`, a multiple of lcm(round_to, heads), at least one multiple, at most width."""
    step = math.lcm(max(1, round_to), max(1, heads))
    count = max(step, math.ceil(kept / step) * step)
    return min(width, count)


def choose_pruned(importance: torch.Tensor, keep: int, heads: int = 1) -> list[int]:
    """Indices to remove: all but the `keep` most important, as many from every head."""
    width = len(importance)
    per_head, size = keep // heads, width // heads
    pruned = []
    for h in range(heads):
        block = importance[h * size : (h + 1) * size]
        order = torch.argsort(block, descending=True, stable=True)
        pruned += [h * size + int(i) for i in order[per_head:]]
    return sorted(pruned)


def prune_nodes(graph: tp.DependencyGraph, group: NodeGroup, nodes: Sequence[int]) -> None:
    """Remove `nodes` of `group` from every coupled tensor."""
    if not nodes:
        return
    if group.consumer is not None:
        prune_linear_pair(group.root, group.consumer, nodes)
        return
    graph.get_pruning_group(group.root, group.pruning_fn, group.channels(nodes)).prune()


def prune_linear_pair(producer: nn.Linear, consumer: nn.Linear, nodes: Sequence[int]) -> None:
    """Remove hidden units `nodes`: rows (and biases) of `producer`, input columns of `consumer`."""
    keep = _keep(producer.out_features, nodes)
    if len(keep) == 0:
        raise ValueError(f"pruning {len(set(nodes))} nodes would leave a layer of width 0; keep at least one")
    producer.weight = _replace(producer.weight, producer.weight[keep])
    if producer.bias is not None:
        producer.bias = _replace(producer.bias, producer.bias[keep])
    producer.out_features = len(keep)
    consumer.weight = _replace(consumer.weight, consumer.weight[:, keep])
    consumer.in_features = len(keep)


def current_widths(model: EmotionModel) -> dict[str, int]:
    """The width keys of `sdk.spec.ModelSpec.widths` read from the modules."""
    widths = {}
    for name in model.modality_names:
        encoder = model.encoders[name]
        cnn = cnn_front(encoder)
        if cnn is not None:
            part = "face" if isinstance(cnn, FaceEncoder) else "mel"
            for i, conv in enumerate(cnn.output_convs()):
                widths[f"{name}.{part}{i}"] = conv.out_channels
            if isinstance(cnn, MelConv2dEncoder):
                widths[f"{name}.audio"] = cnn.project.out_channels
        for i, conv in enumerate(encoder.convs):
            widths[f"{name}.conv{i}"] = conv.pointwise.out_channels
        widths[f"{name}.rnn"] = encoder.rnn.hidden_per_direction
        if model.use_attention:
            widths[f"{name}.attn_qk"] = model.attention[name].query.out_features
            widths[f"{name}.attn_v"] = model.attention[name].value.out_features
    if model.classify_here:
        widths["ffn"] = model.ffn.up.out_features
    if getattr(model.fusion, "learned", False):
        widths["fusion.gate"] = model.fusion.gate[0].out_features
    return widths


def rebuild(model: EmotionModel) -> EmotionModel:
    """A fresh EmotionModel from the spec with the pruned widths, holding the pruned weights.

    Building from the spec (not reusing the mutated modules) proves that the
    checkpoint reloads without the unpruned definition.
    """
    spec = replace(model.spec, widths={**model.spec.widths, **current_widths(model)})
    fresh = EmotionModel(spec)
    fresh.load_state_dict(model.state_dict())
    fresh.train(model.training)
    return fresh
