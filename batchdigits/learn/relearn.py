"""Refit a model from a person's review decisions: the review that learns.

``relearn(model, grids, labels)`` takes one folder's grids ``(n, 64)`` and,
for each, the digit a person gave it (``labels``; ``-1`` where nobody did),
and returns a new :class:`~batchdigits.learn.model.DigitModel` of the same
kind that reads this folder better:

1. the folder's grids are read by ``model`` and those readings spread over
   the folder's own 10-nearest-neighbour graph, as ``--adapt`` does
   (:func:`batchdigits.learn.adapt.spread_labels`), with every labelled
   grid's seed replaced by its person's label, :data:`LABEL_SEED` times as
   strong: one corrected "4" of a writer pulls that writer's look-alikes along;
2. the main classifier and the logistic opinion are refitted on the
   support vectors of ``model``'s own SVC (the grids that decide its
   boundary: a refit on them alone gives nearly the same SVC, at a fraction
   of the ~12 000 training grids' cost), the folder's grids with the spread
   pseudo-labels, and each labelled grid with its two 1-px shifted copies,
   :data:`LABEL_COPIES` times over (a person's label weighs more than a
   pseudo-label); the k-NN opinion is refitted on ``model``'s own training
   grids plus the labelled ones only: never on pseudo-labels, which it would
   echo (see ``adapt``), but a look-alike of a grid a person labelled finds
   that label among its neighbours instead of doubting it;
3. the confidence is calibrated again on the held-out strokes
   (:func:`batchdigits.learn.fit.refit`).

Deterministic: the same model, grids and labels give the same model (the
order of the folder's grids is the order given; callers sort them).  A refit
of a 5200-grid folder takes 9-14 s of one core, growing with the labels
(``benchmarks/review_sim.py`` prints it); no ceiling is set, whatever the
folder's size: a person's label is the evidence a small folder's pseudo-labels lack.

>>> model2 = relearn(get_default_model(), grids, labels)        # doctest: +SKIP
>>> model2.metadata["relearning"]["labelled"]                   # doctest: +SKIP
50
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .adapt import AdaptError, keeps_grids, spread_labels, spreading_alpha, subsample, training_set
from .augment import shifted_grids
from .model import DigitModel

MAX_FIT = 8000  # unlabelled folder grids used for fitting at most (deterministic subsample)
MAX_BASE = 4000  # training grids kept from a model whose classifier is not an SVC
LABEL_SEED = 1.0  # a person's label seeds the spreading as strongly as a sure reading
LABEL_COPIES = 3  # each labelled grid (and its 2 shifted copies) enters the fit this many times
NO_LABEL = -1
METHOD = ("refit on the model's support vectors, the folder's grids (labels spread over their 10-NN "
          "graph from the model's readings and the person's labels) and the labelled grids with "
          "shifted copies")


class RelearnError(ValueError):
    """A model that cannot be refitted this way, or no labels; ``str(err)`` says why."""


@dataclass(frozen=True)
class Relearning:
    """What :func:`relearn` did (stored in the model's ``metadata["relearning"]``)."""

    method: str
    grids: int  # the folder's grids given
    labelled: int  # of them with a person's label
    fitted: int  # training rows of the refit (base + folder + labelled copies)
    changed: int  # folder grids whose pseudo-label differs from the model's own reading
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def relearn(model: DigitModel, grids: np.ndarray, labels: np.ndarray, seed: int = 0) -> DigitModel:
    """A copy of ``model`` refitted with a folder's ``grids`` (n, 64) and a person's ``labels``.

    ``labels[i]`` is the digit of ``grids[i]`` or :data:`NO_LABEL`.  See
    :func:`relearn_folder`, which also gives the folder's spread scores.
    """
    return relearn_folder(model, grids, labels, seed)[0]


def relearn_folder(
    model: DigitModel, grids: np.ndarray, labels: np.ndarray, seed: int = 0
) -> tuple[DigitModel, np.ndarray]:
    """:func:`relearn`, and the label-spreading scores ``(n, n_classes)`` of the given grids
    (rows sum to 1; a grid left out of the fit by the subsample gets the refit model's
    probabilities).  How much the folder's graph agrees with a reading ranks mistakes far
    better than the confidence: on the DEV writers (2600 scans, 300 labelled) the AUROC
    of "this reading is wrong" is 0.96 against 0.89, and checking the flagged rows, then
    the rest by rising agreement, leaves at most 2 wrong rows after 149 rows, not 1830.

    ``labels[i]`` is the digit of ``grids[i]`` or :data:`NO_LABEL`.  Raises
    :class:`RelearnError` without any label, with fewer than 2 grids, or for
    a model that keeps no training grids (see :func:`batchdigits.learn.adapt.training_set`).
    """
    from .fit import refit  # fit imports scikit-learn's heavy parts

    started = time.perf_counter()
    grids = np.asarray(grids, np.float64).reshape(-1, 64)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(labels) != len(grids):
        raise ValueError("one label (or NO_LABEL) per grid")
    known = labels != NO_LABEL
    if not known.any():
        raise RelearnError("no labelled scans to learn from")
    if len(grids) < 2:
        raise RelearnError(f"learning needs at least 2 readable grids, the folder has {len(grids)}")
    try:
        base_X, base_y = base_set(model)
    except AdaptError as exc:
        raise RelearnError(str(exc)) from None
    keep = _fit_rows(labels, seed)
    sample, sample_labels = grids[keep], labels[keep]
    proba = model.predict_proba(sample)
    classes = model.classes
    seeds = proba.copy()
    taught = np.flatnonzero(np.isin(sample_labels, classes))
    seeds[taught] = 0.0
    seeds[taught, np.searchsorted(classes, sample_labels[taught])] = LABEL_SEED
    spread = spread_labels(sample, seeds, spreading_alpha(len(sample)))
    pseudo = np.where(sample_labels != NO_LABEL, sample_labels, classes[np.argmax(spread, axis=1)])
    changed = int(np.sum(pseudo != classes[np.argmax(proba, axis=1)]))
    taught_X, taught_y = labelled_copies(grids[known], labels[known])
    X = np.concatenate([base_X, sample, taught_X])
    y = np.concatenate([base_y, pseudo, taught_y])
    # calibrated once, below, after the k-NN opinion is refitted too
    refitted = refit(replace(model, calibrator=None, ceiling=None), X, y, keep=keeps_grids)
    refitted.opinions = [_with_labels(o, model, taught_X, taught_y) if keeps_grids(o) else o
                         for o in refitted.opinions]
    if model.calibrator is not None:
        from .fit import calibrate

        calibrate(refitted)
    refitted.ceiling = None
    info = Relearning(METHOD, len(grids), int(known.sum()), len(y), changed,
                      round(time.perf_counter() - started, 2))
    refitted.metadata["relearning"] = info.as_dict()
    refitted.metadata["n_train"] = int(len(y))
    refitted.metadata["class_counts"] = [int(c) for c in np.bincount(y, minlength=10)]
    refitted.metadata.pop("adaptation", None)
    scores = refitted.predict_proba(grids) if len(keep) < len(grids) else np.empty((len(grids), len(classes)))
    scores[keep] = spread
    return refitted, scores


def base_set(model: DigitModel) -> tuple[np.ndarray, np.ndarray]:
    """The grids that carry what ``model`` learnt: its SVC's support vectors and their digits,
    else (another classifier) at most :data:`MAX_BASE` of its training grids."""
    svc = _svc(model.pipeline)
    if svc is not None:
        vectors = np.asarray(svc.support_vectors_, np.float64)
        return vectors, np.repeat(np.asarray(svc.classes_), svc.n_support_).astype(np.int64)
    X, y = training_set(model)
    keep = np.sort(np.random.default_rng(0).permutation(len(y))[:MAX_BASE])
    return X[keep], y[keep]


def labelled_copies(grids: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled grid and its two 1-px shifted copies, :data:`LABEL_COPIES` times over."""
    shifted, source = shifted_grids(grids)
    X = np.concatenate([grids, shifted])
    y = np.concatenate([labels, labels[source]])
    return np.tile(X, (LABEL_COPIES, 1)), np.tile(y, LABEL_COPIES)


def _with_labels(opinion: Any, model: DigitModel, X: np.ndarray, y: np.ndarray) -> Any:
    """A fresh copy of the k-NN ``opinion`` fitted on ``model``'s training grids plus ``X, y``."""
    from sklearn.base import clone

    base_X, base_y = training_set(model)
    return clone(opinion).fit(np.concatenate([base_X, X]), np.concatenate([base_y, y]))


def _fit_rows(labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices of the grids fitted on: every labelled one, and at most :data:`MAX_FIT` others."""
    index = np.arange(len(labels))
    others = subsample(index[labels == NO_LABEL], MAX_FIT, seed)
    return np.sort(np.concatenate([index[labels != NO_LABEL], others]))


def _svc(pipeline: Any) -> Any:
    """The SVC inside a ``make_classifier("svc")`` pipeline, or None."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    last = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    if isinstance(last, CalibratedClassifierCV) and len(getattr(last, "calibrated_classifiers_", [])) == 1:
        inner = last.calibrated_classifiers_[0].estimator
        if isinstance(inner, SVC) and len(getattr(inner, "n_support_", [])) == len(inner.classes_):
            return inner
    return None
