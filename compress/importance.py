"""L1 node importance and the global NAOR mask ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" eqs. 10 and 11).

    γ(l, j) = (1 / N_l) Σ_n |Θ_l(j, n)|                  (10)  mean |weight| of node j's row
    m(l, j) = U(γ(l, j) − k · max γ)                     (11)  one threshold for the whole network

A node whose output is written by several coupled layers (a GRU unit of every
modality, the D-wide residual stream) gets the mean over all its rows, so every
node is on the same per-weight scale and one global threshold applies.

Eq. 11 compares γ across layers, but a layer's mean |weight| scales with its fan-in
(initialisation and weight decay keep ‖row‖₂ near constant), so on the live model the
global threshold sorts layers, not nodes: the first face-CNN convs (fan-in 9-288) have
γ ≈ 0.10-0.22 and every attention projection (fan-in 128) γ ≈ 0.04-0.07, so any k that
cuts a CNN channel first removes all of attention. `normalizer="mean"` divides each
group's γ by its mean before the global mask (torch-pruning's MagnitudeImportance
default, ``normalizer="mean"``), so k then reads "prune a node below k · the most
important node's share of its own layer". `normalizer="none"` is eq. 11 as written.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch_pruning as tp

from compress.prune import NodeGroup, choose_pruned, group_rows, keep_count


def node_importance(graph: tp.DependencyGraph, group: NodeGroup) -> torch.Tensor:
    """γ for every node of `group` (eq. 10); a GRU unit averages its two directions' rows."""
    rows = group_rows(graph, group)
    width = 2 * group.width if group.paired else group.width
    per_channel = [rows.get(i, []) for i in range(width)]
    if group.paired:  # node j = channel j (forward) and width + j (backward)
        per_channel = [per_channel[j] + per_channel[j + group.width] for j in range(group.width)]
    gamma = []
    for parts in per_channel:
        if not parts:
            raise ValueError(f"node group {group.name}: a node has no weight rows; cannot compute eq. 10")
        gamma.append(torch.cat(parts).abs().mean())
    return torch.stack(gamma)


@dataclass
class PrunePlan:
    """What one PNAO round removes: per group, the importances and the nodes to cut."""

    threshold: float
    importance: dict[str, torch.Tensor]
    pruned: dict[str, list[int]]

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            name: {"width": len(gamma), "pruned": len(self.pruned[name]), "below_threshold": int((gamma < self.threshold).sum())}
            for name, gamma in self.importance.items()
        }


def naor_mask(importance: dict[str, torch.Tensor], naor: float) -> tuple[float, dict[str, torch.Tensor]]:
    """Eq. 11: keep a node iff γ ≥ k · max γ over the whole network. Returns (threshold, masks)."""
    top = max(float(g.max()) for g in importance.values())
    threshold = naor * top
    return threshold, {name: g >= threshold for name, g in importance.items()}


NORMALIZERS = ("none", "mean")


def normalize(importance: dict[str, torch.Tensor], normalizer: str) -> dict[str, torch.Tensor]:
    """γ per group as eq. 10 gives it ("none") or divided by the group's mean γ ("mean")."""
    if normalizer == "none":
        return importance
    if normalizer == "mean":
        return {name: gamma / gamma.mean().clamp_min(1e-12) for name, gamma in importance.items()}
    raise ValueError(f"unknown importance normalizer {normalizer!r}; choose one of {', '.join(NORMALIZERS)}")


def plan_pruning(graph: tp.DependencyGraph, groups: list[NodeGroup], naor: float, round_to: int,
                 normalizer: str = "none") -> PrunePlan:
    """Global mask (eq. 11) over γ (normalised per group by `normalizer`), then per group: keep at
    least the masked-in nodes, rounded up to a multiple of `round_to` (and of the head count), as
    many per head, the most important."""
    importance = normalize({g.name: node_importance(graph, g) for g in groups}, normalizer)
    threshold, masks = naor_mask(importance, naor)
    pruned = {}
    for g in groups:
        kept = int(masks[g.name].sum())
        keep = keep_count(kept, g.width, round_to, g.heads)
        pruned[g.name] = choose_pruned(importance[g.name], keep, g.heads) if keep < g.width else []
    return PrunePlan(threshold, importance, pruned)
