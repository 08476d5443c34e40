"""Measure a model on labelled scans: accuracy, per-class report, confusion, mistakes,
accuracy per status (``ok``, ``low_confidence``), a reliability table, and how well the
confidence puts the mistakes first (its AUROC and the review effort, check@1/0.5/0.2/0.1 %).

>>> from batchdigits.learn.dataset import from_folders
>>> result = evaluate(from_folders("labelled/"), model)     # doctest: +SKIP
>>> result.accuracy                                           # doctest: +SKIP
0.93
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, roc_auc_score

from .dataset import labelled_grids
from ..defaults import DEFAULT_MIN_CONFIDENCE
from ..io.files import csv_name
from .model import DigitModel
from .reliability import Bin, Effort, equal_count_bins, expected_calibration_error, review_effort

MAX_MISTAKES = 10
RELIABILITY_BINS = 10


@dataclass
class Evaluation:
    """What evaluating a model on labelled scans found."""

    accuracy: float
    n: int
    report: dict[str, Any]
    confusion: np.ndarray
    mistakes: list[tuple[str, int, int, float]]  # path, true, predicted, confidence
    dropped: list[tuple[str, str]]
    per_status: dict[str, tuple[int, float | None]]  # status -> (count, accuracy); blank/error: never right
    reliability: list[Bin]  # equal-count confidence bins of the files with a grid
    ece: float | None  # mean |confidence - accuracy| over those bins
    min_confidence: float
    effort: Effort  # every file, blank and unreadable ones first (flagged, wrong), then rising confidence
    auroc: float | None  # of confidence for "the reading is right", files with a grid (None: all right or all wrong)

    def as_dict(self) -> dict[str, Any]:
        return {
            "effort": {"rows": self.effort.rows, "wrong": self.effort.wrong, **self.effort.shares()},
            "auroc": self.auroc,
            "accuracy": self.accuracy,
            "n": self.n,
            "min_confidence": self.min_confidence,
            "per_status": {s: {"count": n, "accuracy": a} for s, (n, a) in self.per_status.items()},
            "reliability": [
                {"count": b.count, "low": round(b.low, 4), "high": round(b.high, 4),
                 "confidence": round(b.confidence, 4), "accuracy": round(b.accuracy, 4)}
                for b in self.reliability
            ],
            "ece": self.ece,
            "report": self.report,
            "confusion": self.confusion.tolist(),
            "mistakes": [
                {"path": p, "label": t, "predicted": q, "confidence": round(c, 4)}
                for p, t, q, c in self.mistakes
            ],
            "unreadable_or_blank": [{"path": p, "reason": r} for p, r in self.dropped],
        }


def evaluate(
    items: list[tuple[str, int]], model: DigitModel, jobs: int = 0, root: str | None = None,
    min_confidence: float | None = None,
) -> Evaluation:
    """Classify labelled ``(path, label)`` items; blank/unreadable files count as wrong.

    Mistake paths are given relative to ``root`` as the predictions CSV
    writes them (default: relative to the current folder).  Rows are split
    by the status ``classify`` would give them at ``min_confidence``
    (default: its default).
    """
    threshold = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
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
    mistakes = [(_shown(data.paths[i], root), int(data.y[i]), int(pred[i]), float(conf[i])) for i in order]
    right = pred == data.y
    ok = conf >= threshold
    blank = sum(1 for _, reason in data.dropped if reason == "blank")
    per_status = {
        "ok": (int(ok.sum()), _mean(right[ok])),
        "low_confidence": (int((~ok).sum()), _mean(right[~ok])),
        "blank": (blank, 0.0 if blank else None),
        "error": (len(data.dropped) - blank, 0.0 if len(data.dropped) > blank else None),
    }
    bins = equal_count_bins(conf, right, RELIABILITY_BINS)
    ece = expected_calibration_error(conf, right, RELIABILITY_BINS) if bins else None
    unread = n - len(conf)  # blank and unreadable files: rows a person checks first, never right
    effort = review_effort(np.concatenate([conf, np.full(unread, np.nan)]),
                           np.concatenate([right, np.zeros(unread, bool)]),
                           np.concatenate([ok, np.zeros(unread, bool)]))
    auroc = float(roc_auc_score(right, conf)) if 0 < right.sum() < len(right) else None
    return Evaluation(accuracy, n, report, confusion, mistakes, data.dropped, per_status, bins, ece, threshold,
                      effort, auroc)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _shown(path: str, root: str | None) -> str:
    """``path`` relative to ``root`` as the predictions CSV writes it, else relative to here."""
    if root is not None:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return csv_name(rel.replace(os.sep, "/"))
    return os.path.relpath(path)
