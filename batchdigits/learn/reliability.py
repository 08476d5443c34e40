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
