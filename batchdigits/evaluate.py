"""Measure a model on labelled scans: accuracy, per-class report, confusion, mistakes.

>>> from batchdigits.dataset import from_folders
>>> result = evaluate(from_folders("labelled/"), model)     # doctest: +SKIP
>>> result.accuracy                                           # doctest: +SKIP
0.93
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from .dataset import labelled_grids
from .model import DigitModel

MAX_MISTAKES = 10


@dataclass
class Evaluation:
    """What evaluating a model on labelled scans found."""

    accuracy: float
    n: int
    report: dict[str, Any]
    confusion: np.ndarray
    mistakes: list[tuple[str, int, int, float]]  # path, true, predicted, confidence
    dropped: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "report": self.report,
            "confusion": self.confusion.tolist(),
            "mistakes": [
                {"path": p, "label": t, "predicted": q, "confidence": round(c, 4)}
                for p, t, q, c in self.mistakes
            ],
            "unreadable_or_blank": [{"path": p, "reason": r} for p, r in self.dropped],
        }


def evaluate(items: list[tuple[str, int]], model: DigitModel, jobs: int = 0) -> Evaluation:
    """Classify labelled ``(path, label)`` items; blank/unreadable files count as wrong."""
    data = labelled_grids(items, jobs)
    if len(data.y):
        pred, conf = model.predict(data.X)
    else:
        pred, conf = np.zeros(0, np.int64), np.zeros(0)
    converted = set(data.paths)
    lost = [label for path, label in items if path not in converted]
    y_true = np.concatenate([data.y, np.asarray(lost, np.int64)])
    y_pred = np.concatenate([pred, np.full(len(y_true) - len(pred), -1)])
    n = len(y_true)
    accuracy = float(np.mean(y_true == y_pred)) if n else 0.0
    report = classification_report(
        y_true, y_pred, labels=np.arange(10), output_dict=True, zero_division=0
    )
    confusion = confusion_matrix(y_true, y_pred, labels=np.arange(10))
    wrong = np.flatnonzero(pred != data.y)
    order = wrong[np.argsort(-conf[wrong], kind="stable")][:MAX_MISTAKES]
    mistakes = [
        (os.path.relpath(data.paths[i]), int(data.y[i]), int(pred[i]), float(conf[i])) for i in order
    ]
    return Evaluation(accuracy, n, report, confusion, mistakes, data.dropped)
