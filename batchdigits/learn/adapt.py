"""Adapt a model to one folder's own unlabelled grids (semi-supervised).

A folder of scans is usually many digits by the same few writers; their
grids of one digit lie close together even where the model misreads them.
``adapt_model(model, grids)``:

1. takes at most :data:`MAX_FIT` of the folder's grids (a deterministic
   subsample seeded by ``seed``), so a folder of 1M files costs no more to
   adapt to than one of 8000;
2. starts from the model's probabilities for them and spreads them over the
   folder's own k-nearest-neighbour graph (label spreading, Zhou et al.
   2004): a grid whose neighbours are read as 3 becomes a 3 even where the
   model alone said 9;
3. refits a model of the same kind (classifier, opinions) on its own
   training grids plus the folder's grids with those pseudo-labels -- all
   but the k-nearest-neighbour opinion, which stays the model's own
   (fitted on labelled grids only) -- and calibrates it again.

Why the k-NN opinion is kept: refitted, it holds the folder's very grids
with their pseudo-labels, so when the folder is then read each grid is its
own nearest neighbour and its look-alikes carry the same spread label: the
opinion only echoes the pseudo-label and no longer doubts it, and the
calibrator (fitted on held-out strokes, which are not in the model) cannot
know.  Measured on the DEV writers as one folder: ECE 0.016 with the
refitted k-NN, 0.005 with the model's own; the 146 readings the adaptation
changed (60 % right) had mean confidence 0.85, now 0.61; `ok` share /
accuracy 0.893 / 0.989 -> 0.866 / 0.991.  Labels do not change (the main
classifier decides them).  Cross-fitting instead (two refits, each
reading the half of the folder it was not fitted on) gave ECE 0.013 at
twice the cost: being in-sample is not the main cause, the echo is.  An
adapted model's confidence therefore means the same for the folder it was
adapted to and for new files.

A small folder (under :data:`CEILING_BELOW` grids, e.g. one writer's 130
scans) is different: the refitted classifiers grow sure of the writer's own
consistent misreadings.  On 12 DEV writers each adapted to alone, the wrong
rows at the default threshold went 18 -> 27 of 1560 and ECE 0.024 -> 0.033;
so such a model keeps the model it was adapted from as its ``ceiling``
(:class:`~batchdigits.learn.model.DigitModel`): no row more confident than
that model is of the same digit.  Then 17 wrong rows, ECE 0.020 (TEST, 10
writers: 18 -> 7 of 1300).  From 390 grids up the uncapped confidence meets
the targets (ECE <= 0.009) and leaves 27-45 % fewer rows to check.  A model whose
classifier is a k-NN vote (``train --classifier knn``) is always capped: refitted,
it holds the folder's own grids and is sure of every reading (DEV as one
folder: every row `ok`, 174 of 5200 wrong; capped: 405 rows to check, 74 wrong).

Measured on the DEV writers of ``benchmarks/accuracy.py`` (5200 scans, 40
synthetic writers, as one folder), first with the earlier built-in model
(fb8d13c): 0.905 zero-shot; confident pseudo-labels + refit (the
``SelfTrainingClassifier`` recipe) 0.912; label spreading alone 0.927
(alpha 0.8) / 0.962 (alpha 0.99), and the refitted model reproduces it
(0.962).  A small folder's graph is less reliable: alpha falls from 0.99 to
0.8 below a few hundred grids (each writer alone: 0.905 -> 0.922 at 0.8,
0.910 at 0.99).  With the calibrated built-in model of 606dc7f: 0.957 ->
0.965, ECE 0.007 -> 0.005 (the refitted model is calibrated again on the
same held-out strokes, :func:`batchdigits.learn.fit.refit`).

``classify --adapt`` uses :func:`adapt_to_folder`, which also gives every
grid's spread scores: with them the folder's own readings get the folder's
confidence (:mod:`batchdigits.learn.folderconf`), not the adapted model's.

>>> adapted = adapt_model(get_default_model(), grids)     # doctest: +SKIP
>>> adapted.metadata["adaptation"]["pseudo_labels"]       # doctest: +SKIP
5183
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from .fit import refit
from .model import DigitModel

MAX_FIT = 8000  # folder grids used for fitting at most (deterministic subsample)
NEIGHBOURS = 10  # edges per grid in the folder's graph
ALPHA_RANGE = (0.8, 0.99)  # spreading strength: small folders .. large folders
ALPHA_SCALE = 40.0  # alpha = 1 - ALPHA_SCALE / n, clipped to ALPHA_RANGE
ITERATIONS = 20  # spreading steps (as measured; more steps let labels drift across classes)
CEILING_BELOW = 300  # below this many grids the adapted confidence is capped by the model's own
CEILING_NOTE = "never above the confidence of the model it was adapted from (a small folder)"
METHOD = ("label spreading on the folder's 10-NN graph, seeded by the model, then refit "
          "(k-NN opinion kept unadapted)")


class AdaptError(ValueError):
    """A model or folder that cannot be adapted to; ``str(err)`` says why."""


@dataclass(frozen=True)
class Adaptation:
    """What ``adapt_model`` did (stored in the model's metadata and ``--summary-json``)."""

    method: str
    grids: int  # the folder's grids given
    fitted: int  # of them used for fitting (subsample)
    pseudo_labels: int  # fitted grids whose pseudo-label the spreading gave
    changed: int  # of those, different from the model's own reading
    alpha: float
    seed: int
    seconds: float
    capped: bool = False  # confidence capped by the unadapted model's (a small folder, or a k-NN classifier)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def adapt_model(model: DigitModel, grids: np.ndarray, seed: int = 0) -> DigitModel:
    """A copy of ``model`` refitted with the folder's unlabelled ``grids`` (n, 64).

    Deterministic: the same grids in the same order give the same model.
    The result's ``metadata["adaptation"]`` says what was done.  Raises
    :class:`AdaptError` for a model that keeps no training grids or fewer
    than 2 grids.
    """
    return _adapt(model, grids, seed)[0]


def adapt_to_folder(model: DigitModel, grids: np.ndarray, seed: int = 0) -> tuple[DigitModel, np.ndarray]:
    """:func:`adapt_model`, and the label-spreading scores ``(n, n_classes)`` (float32, rows
    summing to 1) of every one of the folder's ``grids``: what its graph says of each digit.

    A grid left out of the fit by the subsample (a folder over :data:`MAX_FIT`
    grids) gets the weighted mean of its :data:`NEIGHBOURS` nearest fitted grids'
    scores (the graph's weights).  See :mod:`batchdigits.learn.folderconf`.
    """
    adapted, rows, spread, sigma = _adapt(model, grids, seed)
    grids = np.asarray(grids).reshape(-1, 64)
    if rows is None:
        return adapted, spread.astype(np.float32)
    scores = np.empty((len(grids), spread.shape[1]), np.float32)
    scores[rows] = spread
    rest = np.setdiff1d(np.arange(len(grids)), rows)
    scores[rest] = extend_scores(grids[rest], grids[rows].astype(np.float64), spread, sigma)
    return adapted, scores


def _adapt(model: DigitModel, grids: np.ndarray, seed: int) -> tuple[DigitModel, np.ndarray | None, np.ndarray, float]:
    """The adapted model, the fitted rows of ``grids`` (``None``: all), their spread scores, the graph's sigma."""
    started = time.perf_counter()
    grids = np.asarray(grids).reshape(-1, 64)
    if len(grids) < 2:
        raise AdaptError(f"adaptation needs at least 2 readable grids, the folder has {len(grids)}")
    base_X, base_y = training_set(model)
    rows = sample_rows(len(grids), MAX_FIT, seed)
    sample = (grids if rows is None else grids[rows]).astype(np.float64)
    proba = model.predict_proba(sample)
    alpha = spreading_alpha(len(sample))
    spread, sigma = _spread(sample, proba, alpha)
    pseudo = model.classes[np.argmax(spread, axis=1)]
    changed = int(np.sum(pseudo != model.classes[np.argmax(proba, axis=1)]))
    X = np.concatenate([base_X, sample])
    y = np.concatenate([base_y, pseudo])
    adapted = refit(model, X, y, keep=keeps_grids)  # the k-NN opinion stays the model's own
    # a k-NN classifier refitted on the folder holds its very grids: each is its own nearest
    # neighbour, so it is sure of every reading (DEV as one folder: every row ok, 96.7 % right)
    capped = len(sample) < CEILING_BELOW or keeps_grids(model.pipeline)
    if capped:  # a model adapted before keeps the ceiling it had: the model of labelled grids
        adapted.ceiling = model.ceiling or model
        note = str(adapted.metadata.get("confidence", "the raw score"))
        if CEILING_NOTE not in note:  # refit copies an uncalibrated model's note as it was
            adapted.metadata["confidence"] = f"{note}; {CEILING_NOTE}"
    info = Adaptation(METHOD, len(grids), len(sample), len(pseudo), changed, round(alpha, 4), seed,
                      round(time.perf_counter() - started, 2), capped)
    adapted.metadata["adaptation"] = info.as_dict()
    adapted.metadata["n_train"] = int(len(y))
    adapted.metadata["class_counts"] = [int(c) for c in np.bincount(y, minlength=10)]
    return adapted, rows, spread, sigma


def training_set(model: DigitModel) -> tuple[np.ndarray, np.ndarray]:
    """The labelled grids a model was fitted on, from its nearest-neighbour part.

    The built-in model and every ``train`` model with opinions keep them in
    their k-nearest-neighbour vote (``_fit_X``, ``_y``).
    """
    for part in [model.pipeline, *model.opinions]:
        if keeps_grids(part):
            last = _classifier(part)
            X = np.asarray(last._fit_X, np.float64)
            return X, np.asarray(last.classes_)[np.asarray(last._y)].astype(np.int64)
    raise AdaptError(
        f"model {model.source} keeps no training grids to adapt with "
        "(train it with --classifier svc or knn)"
    )


def keeps_grids(part: Any) -> bool:
    """Whether a classifier (or pipeline) is a nearest-neighbour vote holding its training grids."""
    last = _classifier(part)
    return hasattr(last, "_fit_X") and hasattr(last, "_y")


def _classifier(part: Any) -> Any:
    """A pipeline's last step, or the classifier itself."""
    return part[-1] if hasattr(part, "steps") else part


def subsample(grids: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` rows of ``grids``, chosen by ``seed``, in their original order."""
    rows = sample_rows(len(grids), limit, seed)
    return grids if rows is None else grids[rows]


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray | None:
    """The sorted row numbers of :func:`subsample` of ``n`` rows; ``None`` when all are kept."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def spreading_alpha(n: int) -> float:
    """How far labels spread: 0.8 for a few hundred grids, up to 0.99 for thousands."""
    return float(np.clip(1.0 - ALPHA_SCALE / max(n, 1), *ALPHA_RANGE))


def spread_labels(X: np.ndarray, proba: np.ndarray, alpha: float, k: int = NEIGHBOURS) -> np.ndarray:
    """Label spreading of ``proba`` (n, classes) over the symmetric k-NN graph of ``X``.

    Edge weights ``exp(-(d / sigma)^2)`` with sigma the median distance to
    the k-th neighbour; ``F <- alpha * S F + (1 - alpha) * proba`` with the
    normalised graph ``S``.  Returns row-normalised scores.  Written out
    rather than ``sklearn.semi_supervised.LabelSpreading`` because that one
    takes hard seed labels, and the model's soft probabilities seed better
    (0.962 vs 0.909 for the issue's trial seeded by confident predictions).
    """
    return _spread(X, proba, alpha, k)[0]


def _spread(X: np.ndarray, proba: np.ndarray, alpha: float, k: int = NEIGHBOURS) -> tuple[np.ndarray, float]:
    """:func:`spread_labels`' scores, and the sigma of its edge weights."""
    n = len(X)
    k = int(min(k, n - 1))
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    dist, idx = dist[:, 1:], idx[:, 1:]
    sigma = float(np.median(dist[:, -1])) or 1.0
    weights = np.exp(-((dist / sigma) ** 2))
    graph = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    graph = graph + graph.T
    scale = 1.0 / np.sqrt(np.asarray(graph.sum(axis=1)).ravel() + 1e-12)
    normalised = sp.diags(scale) @ graph @ sp.diags(scale)
    scores = proba.copy()
    for _ in range(ITERATIONS):
        scores = alpha * (normalised @ scores) + (1 - alpha) * proba
    return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12), sigma


def extend_scores(grids: np.ndarray, fitted: np.ndarray, scores: np.ndarray, sigma: float,
                  k: int = NEIGHBOURS, block: int = 4096) -> np.ndarray:
    """Spread scores for ``grids`` outside the graph: the mean of their ``k`` nearest ``fitted``
    grids' ``scores``, weighted as the graph's edges (``exp(-(d / sigma)^2)``); rows sum to 1."""
    out = np.empty((len(grids), scores.shape[1]), np.float32)
    if not len(grids):
        return out
    index = NearestNeighbors(n_neighbors=int(min(k, len(fitted)))).fit(fitted)
    for start in range(0, len(grids), block):
        dist, idx = index.kneighbors(np.asarray(grids[start : start + block], np.float64))
        weights = np.exp(-((dist / sigma) ** 2)) + 1e-12  # far from every fitted grid: their plain mean
        mean = np.einsum("ij,ijc->ic", weights, scores[idx])
        out[start : start + len(dist)] = mean / mean.sum(axis=1, keepdims=True)
    return out
