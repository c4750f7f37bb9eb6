"""PNG plots of a training run: learning curves and the confusion matrix."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sdk.atomic import save_figure  # noqa: E402


def plot_training_curves(history: list[dict], path: Path, monitor: str = "weighted_f1") -> Path:
    epochs = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(epochs, [h["train_loss"] for h in history], color="tab:blue", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h["val"]["accuracy"] for h in history], color="tab:orange", label="val accuracy")
    ax2.plot(epochs, [h["val"][monitor] for h in history], color="tab:green", label=f"val {monitor}")
    ax2.set_ylabel("validation metric")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path, dpi=120)  # atomic: a kill never leaves a torn PNG
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: Path, title: str = "test") -> Path:
    size = 1.2 + 0.55 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({title})")
    high = matrix.max() / 2 if matrix.size else 0
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > high else "black", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)  # atomic: a kill never leaves a torn PNG
    plt.close(fig)
    return Path(path)
