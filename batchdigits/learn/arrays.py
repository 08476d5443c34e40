"""The numpy-only prediction form of a validated model: plain arrays, no scikit-learn.

A :class:`~batchdigits.learn.model.DigitModel` needs scikit-learn (2.4 s of
imports) to predict; its parts are plain arrays all the same: the RBF SVC's
support vectors and sigmoid calibration, the logistic regression's weights,
the k-NN's training grids, the isotonic calibration of the confidence.
:class:`ArrayModel` holds those arrays and predicts with numpy alone, so
``classify``, ``show`` and the worker processes start without scikit-learn.

It is derived from a loaded, validated model (:func:`batchdigits.learn.export.to_arrays`,
which also checks it against ``DigitModel.predict``), saved with :func:`save_arrays`
and read back with :func:`load_arrays` (``allow_pickle=False``: no code can hide
in it).  The skops file stays the one format users save and share; this form is
a cache keyed by that file's SHA-256 (:mod:`batchdigits.learn.modelref`).

The arrays live under names ``<part>.<name>``; ``spec`` (JSON) says how the parts
combine (format :data:`ARRAYS_FORMAT`):

- ``model``: ``{"prefix": ..., "main": part, "opinions": [part...], "combine": "min",
  "calibrator": "isotonic" | "signals" | null, "ceiling": model | null}`` (an isotonic
  calibrator's arrays under ``<prefix>cal.``; the :mod:`~batchdigits.learn.signals`' logistic
  regression under ``<prefix>comb.``: ``mean``, ``scale``, ``coef``, ``intercept``);
- a part is ``{"kind": "svc" | "logistic" | "knn", "prefix": ..., "scaler": bool}``.

A new kind of part or of combination is a new ``kind``/``combine`` value here
and in the export; an unknown one is refused at load (the cache is rebuilt).

>>> model = load_arrays("m.npz")                  # doctest: +SKIP
>>> digits, confidence = model.predict(grids)     # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .formats import ARRAYS_FORMAT  # light, for the main process
from .nearest import Kernel, Neighbours, heap_neighbours, integer_bound
from .signals import by_class, class_distances, combined, signals, vote

KNN_BLOCK = 64  # grids per k-NN distance block (64 x 12k training grids: 6 MB)
KINDS = ("svc", "logistic", "knn")


class ArraysError(ValueError):
    """A numpy form that cannot be used (damaged, or of another format)."""


class ArrayModel:
    """Predicts as ``DigitModel.predict`` does, from plain arrays (see the module docstring).

    ``source``, ``sha256`` and ``metadata`` are those of the model file it came from.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str = "", sha256: str = ""):
        self.arrays = dict(arrays)
        self._prepared: dict[str, Any] = {}  # derived per part: not sent to workers (see __getstate__)
        try:
            spec = json.loads(str(self.arrays["spec"]))
        except (KeyError, ValueError) as exc:
            raise ArraysError(f"no readable spec ({exc})") from None
        if spec.get("format") != ARRAYS_FORMAT:
            raise ArraysError(f"format {spec.get('format')!r}, not {ARRAYS_FORMAT}")
        self.metadata: dict[str, Any] = dict(spec.get("metadata") or {})
        self.spec: dict[str, Any] = spec["model"]
        self.source = source or str(spec.get("source", ""))
        self.sha256 = sha256 or str(spec.get("sha256", ""))
        self._check(self.spec)

    def _check(self, model: dict[str, Any]) -> None:
        for part in [model["main"], *model.get("opinions", [])]:
            if part.get("kind") not in KINDS:
                raise ArraysError(f"unknown part kind {part.get('kind')!r}")
            if part["prefix"] + "classes" not in self.arrays:
                raise ArraysError(f"part {part['prefix']} has no classes")
        if model.get("combine", "min") != "min" or model.get("calibrator") not in (None, "isotonic", "signals"):
            raise ArraysError(f"unknown combination {model.get('combine')!r} / {model.get('calibrator')!r}")
        kinds = [p["kind"] for p in model.get("opinions", [])]
        if model.get("calibrator") == "signals" and kinds != ["logistic", "knn"]:
            raise ArraysError("the signals need a logistic and a k-NN opinion")
        if model.get("ceiling"):
            self._check(model["ceiling"])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_prepared": {}}

    @property
    def classes(self) -> np.ndarray:
        return self.arrays[self.spec["main"]["prefix"] + "classes"]

    def predict_proba(self, grids: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` of the main classifier for flat grids ``(n, 64)``."""
        return self._proba(self.spec["main"], np.asarray(grids, dtype=np.float64))

    def predict(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Digits and their confidence for flat grids ``(n, 64)``: ``DigitModel.predict``'s."""
        grids = np.asarray(grids, dtype=np.float64)
        model = self.spec
        asked: dict[str, Any] = {}  # part prefix -> its answer for these grids
        proba = self._proba(model["main"], grids, asked)
        digits = self.classes[np.argmax(proba, axis=1)]
        confidence = self._confidence(model, grids, digits, proba, asked)
        if model.get("ceiling") and len(digits):
            ceiling = model["ceiling"]
            confidence = np.minimum(confidence, self._confidence(
                ceiling, grids, digits, self._proba(ceiling["main"], grids, asked), asked))
        return digits, confidence

    def predict_signals(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Digits and the :mod:`~batchdigits.learn.signals` ``(n, 9)`` of reading flat grids
        ``(n, 64)`` so: ``DigitModel.predict_signals``'s (the model's own, not its ceiling's)."""
        grids = np.asarray(grids, dtype=np.float64)
        asked: dict[str, Any] = {}
        proba = self._proba(self.spec["main"], grids, asked)
        digits = self.classes[np.argmax(proba, axis=1)]
        return digits, self._signals(self.spec, grids, digits, proba, asked)

    def _confidence(self, model: dict[str, Any], grids: np.ndarray, digits: np.ndarray, proba: np.ndarray,
                    asked: dict[str, Any]) -> np.ndarray:
        a, main = self.arrays, model["main"]
        classes = self.arrays[main["prefix"] + "classes"]
        if len(digits) == 0:
            return np.zeros(0)
        if model.get("calibrator") == "signals":
            c = model["prefix"] + "comb."
            return combined(self._signals(model, grids, digits, proba, asked), a[c + "mean"], a[c + "scale"],
                            a[c + "coef"], float(a[c + "intercept"]))
        score = vote(classes, proba, digits)
        for part in model.get("opinions", []):
            score = np.minimum(score, vote(a[part["prefix"] + "classes"], self._asked(part, grids, asked), digits))
        return self._calibrated(model, score)

    def _signals(self, model: dict[str, Any], grids: np.ndarray, digits: np.ndarray, proba: np.ndarray,
                 asked: dict[str, Any]) -> np.ndarray:
        a = self.arrays
        logistic, knn = model["opinions"]
        key = knn["prefix"] + "distances"
        self._asked(knn, grids, asked)  # the exact float32 search answers this too
        if key not in asked:
            p = knn["prefix"]
            index = self._prepare(p + "by_class", lambda: by_class(
                a[p + "fit_x"], a[p + "norms"], a[p + "labels"], len(a[p + "classes"])))
            asked[key] = class_distances(grids, index)
        return signals(digits, a[model["main"]["prefix"] + "classes"], proba, a[logistic["prefix"] + "classes"],
                       self._asked(logistic, grids, asked), a[knn["prefix"] + "classes"],
                       self._asked(knn, grids, asked), asked[key])

    def _asked(self, part: dict[str, Any], grids: np.ndarray, asked: dict[str, Any]) -> np.ndarray:
        if part["prefix"] not in asked:
            asked[part["prefix"]] = self._proba(part, grids, asked)
        return asked[part["prefix"]]

    def _calibrated(self, model: dict[str, Any], score: np.ndarray) -> np.ndarray:
        if model.get("calibrator") != "isotonic" or len(score) == 0:
            return score
        a, p = self.arrays, model["prefix"] + "cal."
        return interp1d(np.clip(score, a[p + "x_min"], a[p + "x_max"]), a[p + "x"], a[p + "y"])

    def _prepare(self, key: str, make: Any) -> Any:
        """``make()``, made once per model (per process: see ``__getstate__``)."""
        if key not in self._prepared:
            self._prepared[key] = make()
        return self._prepared[key]

    def _proba(self, part: dict[str, Any], grids: np.ndarray, asked: dict[str, Any] | None = None) -> np.ndarray:
        a, p = self.arrays, part["prefix"]
        x = grids
        if part.get("scaler"):
            x = (x - a[p + "mean"]) / a[p + "scale"]
        kind = part["kind"]
        if kind == "logistic":
            return softmax(x @ a[p + "coef"].T + a[p + "intercept"])
        integers = None if part.get("scaler") else _integers(grids, {} if asked is None else asked)
        if kind == "svc":
            kernel = self._prepare(p + "kernel", lambda: Kernel.build(a[p + "vectors"], float(a[p + "gamma"])))
            if integers is not None and kernel is not None and integers[0] <= kernel.limit:
                return _svc_proba(a, p, x, kernel(integers[1], integers[2]))
            return _svc_proba(a, p, x)
        index = self._prepare(p + "neighbours", lambda: Neighbours.build(
            a[p + "fit_x"], a[p + "norms"], a[p + "labels"], len(a[p + "classes"]), int(a[p + "k"])))
        if integers is not None and index is not None and integers[0] <= index.limit:
            proba, distances = index.search(integers[1], integers[2])
            if asked is not None:
                asked[p + "distances"] = distances
            return proba
        return _knn_proba(a, p, x)


def _integers(grids: np.ndarray, asked: dict[str, Any]) -> tuple[float, np.ndarray, np.ndarray]:
    """The grids' :func:`~batchdigits.learn.nearest.integer_bound`, the grids in float32 and
    their squared norms, worked out once per prediction (kept in ``asked``)."""
    if "float32" not in asked:
        asked["float32"] = (integer_bound(grids), grids.astype(np.float32), np.einsum("ij,ij->i", grids, grids))
    found: tuple[float, np.ndarray, np.ndarray] = asked["float32"]
    return found


def softmax(values: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed as scikit-learn's ``utils.extmath.softmax``."""
    values = values - values.max(axis=1).reshape((-1, 1))
    np.exp(values, out=values)
    values /= values.sum(axis=1).reshape((-1, 1))
    return values


def interp1d(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear interpolation as scipy's ``interp1d`` (what ``IsotonicRegression`` uses)."""
    if len(x) == 1:
        return np.repeat(y, t.shape)
    hi = np.clip(np.searchsorted(x, t), 1, len(x) - 1)
    lo = hi - 1
    slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
    return slope * (t - x[lo]) + y[lo]


def _svc_proba(a: Mapping[str, np.ndarray], p: str, x: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
    """A sigmoid-calibrated one-vs-one RBF SVC's probabilities (one kernel matrix per batch).

    ``kernel`` is the kernel matrix when it is known already (the exact float32
    :class:`~batchdigits.learn.nearest.Kernel` of integer grids: the same numbers).
    """
    vectors, coef, intercept = a[p + "vectors"], a[p + "coef"], a[p + "intercept"]
    starts = a[p + "starts"]
    n = len(starts) - 1
    if kernel is None:
        kernel = x @ vectors.T  # then, in place: exp(-gamma * squared distance)
        kernel *= -2.0
        kernel += np.einsum("ij,ij->i", x, x)[:, None]
        kernel += a[p + "norms"][None, :]
        np.maximum(kernel, 0.0, out=kernel)
        kernel *= -float(a[p + "gamma"])
        np.exp(kernel, out=kernel)
    # libsvm's one-vs-one layout: the pair (i, j) uses the support vectors of
    # class i with coefficient row j - 1 and those of class j with row i.  One
    # matrix-vector product per pair and class, not one product of all pairs:
    # that would add the same terms in another order (other bits).
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    ovo = np.empty((len(x), len(pairs)))
    for k, (i, j) in enumerate(pairs):
        si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
        ovo[:, k] = kernel[:, si] @ coef[j - 1, si] + kernel[:, sj] @ coef[i, sj] + intercept[k]
    decision = _ovr(ovo < 0, -ovo, n)
    classes = a[p + "classes"]
    proba = np.zeros((len(x), len(classes)))
    proba[:, a[p + "columns"]] = _expit(-(a[p + "sig_a"] * decision + a[p + "sig_b"]))
    total = proba.sum(axis=1, keepdims=True)
    proba = np.divide(proba, total, out=np.full_like(proba, 1.0 / len(classes)), where=total != 0)
    proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


def _expit(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _ovr(predictions: np.ndarray, confidences: np.ndarray, n_classes: int) -> np.ndarray:
    """One-vs-rest scores from one-vs-one decisions, as scikit-learn's ``_ovr_decision_function``.

    scikit-learn walks the pairs ``(i, j)`` in order, subtracting each pair's
    confidence from class i's sum and adding it to class j's; here step ``t``
    does the ``t``-th of every class's ``n_classes - 1`` pairs at once, so each
    class's sum takes the same terms in the same order (the same bits), in 9
    steps, not 45 (0.02 ms a grid at chunks of 64).
    """
    signed = np.concatenate([-confidences, confidences], axis=1)  # class i's term, then class j's
    won = np.concatenate([predictions == 0, predictions == 1], axis=1).astype(np.float64)
    votes = np.zeros((len(predictions), n_classes))
    sums = np.zeros((len(predictions), n_classes))
    for step in _pair_steps(n_classes):
        sums += signed[:, step]
        votes += won[:, step]
    return votes + sums / (3 * (np.abs(sums) + 1))


@functools.cache
def _pair_steps(n_classes: int) -> list[np.ndarray]:
    """For :func:`_ovr`: step ``t`` gives, for each class, the column of ``signed``/``won``
    of its ``t``-th pair (pairs ``(i, j)``, ``i < j``, numbered in order: ``n_pairs + k``
    when the class is the pair's ``j``)."""
    number = {pair: k for k, pair in enumerate((i, j) for i in range(n_classes) for j in range(i + 1, n_classes))}
    n_pairs = len(number)
    return [np.array([number[(t, c)] + n_pairs if t < c else number[(c, t + 1)] for c in range(n_classes)])
            for t in range(n_classes - 1)]


def _knn_proba(a: Mapping[str, np.ndarray], p: str, x: np.ndarray) -> np.ndarray:
    """A uniform-weight k-NN's probabilities: the share of each class among the k nearest.

    Distances are squared euclidean by one matrix product per block, exact for
    integer grids (what the conversion makes; those are searched in float32 by
    :class:`~batchdigits.learn.nearest.Neighbours`, this is for any other).  Of
    training grids tied at the k-th distance, scikit-learn keeps those its
    max-heap keeps, walking the training grids in order (``ArgKminClassMode``,
    ``parallel_on_X``); where the tie changes the vote, the same heap is
    replayed (:func:`~batchdigits.learn.nearest.heap_neighbours`).
    """
    fit_x, labels, norms = a[p + "fit_x"], a[p + "labels"], a[p + "norms"]
    k, n_classes = int(a[p + "k"]), len(a[p + "classes"])
    out = np.zeros((len(x), n_classes))
    for start in range(0, len(x), KNN_BLOCK):
        xb = x[start : start + KNN_BLOCK]
        d = xb @ fit_x.T
        d *= -2.0
        d += np.einsum("ij,ij->i", xb, xb)[:, None]
        d += norms[None, :]
        nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(d, nearest, axis=1).max(axis=1)
        tied = d == kth[:, None]
        n_tied = tied.sum(axis=1)
        n_less = k - np.sum(np.take_along_axis(d, nearest, axis=1) == kth[:, None], axis=1)
        for row in np.flatnonzero(n_tied > k - n_less):  # more tied grids than places
            tied_labels = labels[tied[row]]
            if np.any(tied_labels != tied_labels[0]):
                nearest[row] = heap_neighbours(d[row], k)
        counts = np.zeros((len(xb), n_classes))
        np.add.at(counts, (np.repeat(np.arange(len(xb)), k), labels[nearest].ravel()), 1.0)
        out[start : start + len(xb)] = counts / counts.sum(axis=1, keepdims=True)
    return out


def save_arrays(model: ArrayModel, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s arrays to an ``.npz`` file at ``path`` (not atomically: see modelref)."""
    with open(path, "wb") as fh:
        np.savez(fh, **model.arrays)  # type: ignore[arg-type]


def load_arrays(path: str | os.PathLike[str], source: str = "", sha256: str = "") -> ArrayModel:
    """Read an ``.npz`` written by :func:`save_arrays` (no pickles); :class:`ArraysError` if unusable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ArraysError(f"cannot read {path}: {exc}") from None
    return ArrayModel(arrays, source, sha256)


_LOADED: dict[tuple[str, str], ArrayModel] = {}  # the numpy form a process loaded last (ArraysFile.load)
