"""The two PNAO figures: metric and parameters over rounds ("Improving Multi-modal Emotion Recognition Using Entropy-based Fusion and Pruning-based Network Architecture Optimization" Fig. 3) and the
weight-magnitude distribution per round (Fig. 4)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sdk.atomic import save_figure  # noqa: E402

from compress.measure import HISTOGRAM_EDGES  # noqa: E402


def plot_rounds(rounds: list[dict], path: Path, best_round: int | None = None) -> Path:
    """Validation/test accuracy and weighted F1 (left axis) and parameters (right axis) per round."""
    x = [r["round"] for r in rounds]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for split, style in (("val", "--"), ("test", "-")):
        for metric, color in (("accuracy", "tab:blue"), ("weighted_f1", "tab:green")):
            ax.plot(x, [r[split][metric] for r in rounds], style, color=color, marker="o", label=f"{split} {metric}")
    ax.set_xlabel("PNAO round")
    ax.set_ylabel("metric")
    if best_round is not None:
        ax.axvline(best_round, color="grey", linestyle=":", label="best round")
    right = ax.twinx()
    right.bar(x, [r["params"] for r in rounds], alpha=0.2, color="tab:red", label="parameters")
    right.set_ylabel("parameters", color="tab:red")
    ax.set_zorder(right.get_zorder() + 1)
    ax.patch.set_visible(False)
    fig.legend(loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    save_figure(fig, path, dpi=120)  # atomic: a kill never leaves a torn PNG
    plt.close(fig)
    return Path(path)


def plot_weight_distributions(histograms: dict[int, list[int]], path: Path) -> Path:
    """|weight| density per round on a log axis (one line per round)."""
    centers = np.sqrt(np.maximum(HISTOGRAM_EDGES[:-1], 1e-6) * HISTOGRAM_EDGES[1:])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    colors = plt.cm.viridis(np.linspace(0, 1, max(2, len(histograms))))
    for color, (round_index, counts) in zip(colors, sorted(histograms.items())):
        counts = np.asarray(counts, dtype=float)
        ax.plot(centers, counts / max(1.0, counts.sum()), color=color, label=f"round {round_index}")
    ax.set_xscale("log")
    ax.set_xlabel("|weight|")
    ax.set_ylabel("fraction of weights")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)  # atomic: a kill never leaves a torn PNG
    plt.close(fig)
    return Path(path)
