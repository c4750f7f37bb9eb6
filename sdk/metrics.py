"""Classification metrics: accuracy (WA), unweighted accuracy (UA), weighted and macro F1."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score


def classification_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """WA = accuracy; UA = mean per-class recall (over the classes present in `labels`)."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if len(labels) == 0:
        return {"accuracy": float("nan"), "unweighted_accuracy": float("nan"), "weighted_f1": float("nan"), "macro_f1": float("nan")}
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "unweighted_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "weighted_f1": float(f1_score(labels, predictions, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
    }


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predictions, labels=list(range(num_classes)))
