"""Calibration measures: equal-count confidence bins and their ECE (used by `evaluate` and the benchmarks).

The issue's definition: sort rows by confidence, cut them into 10 bins of
(nearly) equal count, and average ``|mean confidence - accuracy|`` over the
bins (each bin counts the same, which for equal-count bins is the usual
count-weighted ECE up to the remainder rows).

>>> conf = np.array([0.9, 0.9, 0.6, 0.6])
>>> right = np.array([1, 1, 1, 0], bool)
>>> round(expected_calibration_error(conf, right, n_bins=2), 3)   # bins: |0.6-0.5|, |0.9-1.0|
0.1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bin:
    """One confidence bin: its rows' count, confidence range, mean confidence and accuracy."""

    count: int
    low: float
    high: float
    confidence: float
    accuracy: float


def equal_count_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> list[Bin]:
    """Rows sorted by confidence (stable, so deterministic) and cut into ``n_bins`` equal-count bins.

    Bin sizes differ by at most one (``np.array_split``); empty bins (fewer
    rows than bins) are left out.
    """
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    if confidence.shape != correct.shape:
        raise ValueError("confidence and correct must have the same shape")
    order = np.argsort(confidence, kind="stable")
    bins = []
    for idx in np.array_split(order, n_bins):
        if len(idx):
            c = confidence[idx]
            bins.append(Bin(len(idx), float(c.min()), float(c.max()), float(c.mean()),
                            float(correct[idx].mean())))
    return bins


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """Mean over equal-count bins of ``|mean confidence - accuracy|`` (0 = calibrated)."""
    bins = equal_count_bins(confidence, correct, n_bins)
    return float(np.mean([abs(b.confidence - b.accuracy) for b in bins])) if bins else float("nan")


#: the shares of all rows the review-effort curve is read at (1 %, 0.5 %, 0.2 %, 0.1 %)
EFFORT_TARGETS = (0.01, 0.005, 0.002, 0.001)


@dataclass(frozen=True)
class Effort:
    """What it costs a person to make a CSV right (the project's "review effort" metric).

    Rows are checked as a person checks them: not-``ok`` rows first, then rising
    confidence, ties in file order. ``check[x]`` is how many rows must be checked
    (and fixed) until at most ``x`` of all rows are still wrong; ``flagged`` the
    rows not marked ``ok``; ``silent`` the wrong rows marked ``ok``. Counts, not shares.
    """

    rows: int
    wrong: int
    flagged: int
    silent: int
    check: dict[float, int]

    def shares(self) -> dict[str, object]:
        """The same figures as fractions of all rows (keys as in ``review_sim.py --json``)."""
        n = max(self.rows, 1)
        return {"flagged": self.flagged / n, "silent": self.silent / n,
                "check": {f"{x:g}": self.check[x] / n for x in self.check}}


def review_effort(confidence: np.ndarray, correct: np.ndarray, ok: np.ndarray,
                  targets: tuple[float, ...] = EFFORT_TARGETS) -> Effort:
    """Review effort of rows in file order: ``confidence`` (NaN for error rows), ``correct`` and ``ok`` flags.

    The same count as ``../shared/effort.py``: sort by (ok, confidence) stably,
    then walk the rows and note, per target, the first position where the wrong
    rows left are at most ``target * n``.

    >>> e = review_effort(np.array([0.9, 0.5, 0.8]), np.array([1, 0, 1], bool), np.array([1, 0, 1], bool))
    >>> e.check[0.01], e.flagged, e.silent
    (1, 1, 0)
    """
    confidence = np.nan_to_num(np.asarray(confidence, np.float64), nan=0.0)
    correct = np.asarray(correct, bool)
    ok = np.asarray(ok, bool)
    n = len(correct)
    order = np.lexsort((confidence, ok))  # last key first: not-ok before ok, then rising confidence, stable
    wrong = ~correct[order]
    # wrong rows still left before each position 0..n
    left = int(wrong.sum()) - np.concatenate([[0], np.cumsum(wrong)])
    check = {x: int(np.argmax(left <= x * n)) for x in targets}
    return Effort(rows=n, wrong=int((~correct).sum()), flagged=int((~ok).sum()),
                  silent=int((~correct & ok).sum()), check=check)
