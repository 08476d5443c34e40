"""Fitting one model: the classifier, its two opinions, and the calibration of its confidence.

:func:`fit_model` fits a :class:`~batchdigits.learn.model.DigitModel` on
grids ``X`` (n, 64) and digits ``y``; :func:`calibrate` fits the map from its
raw confidence to the share of right readings on grids it was not trained
on; :func:`refit` fits a model of the same kind again on other data (what
``--adapt`` does).  :mod:`batchdigits.learn.train` builds the training data
and :mod:`batchdigits.learn.adapt` the folder's pseudo-labels on top of these.

>>> model = calibrate(fit_model(X, y))      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..io.counted import counted
from .model import DigitModel
from .signals import MAX_CONFIDENCE
from .strokeset import calibration_set

CLASSIFIERS = ("svc", "logistic", "knn")
MIN_CONFIDENCE = 0.0


def make_classifier(name: str = "svc", folds: int = 3) -> Pipeline:
    """A fresh, unfitted pipeline with calibrated ``predict_proba``."""
    if name == "svc":
        svc = SVC(kernel="rbf", C=10.0, gamma=0.001)
        return make_pipeline(CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False))
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "knn":
        return make_pipeline(KNeighborsClassifier(n_neighbors=5, weights="distance"))
    raise ValueError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")


def make_opinions() -> list[Pipeline]:
    """Models whose doubts lower the SVC's confidence (see ``DigitModel.predict``).

    A logistic regression and a 5-nearest-neighbour vote: on the synthetic
    cross-domain set the smallest of the three probabilities ranks right and
    wrong predictions far better than the SVC's own (benchmarks/accuracy.py).
    """
    return [
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=200, tol=1e-3)),
        make_pipeline(KNeighborsClassifier(n_neighbors=5)),
    ]


def refit(model: DigitModel, X: np.ndarray, y: np.ndarray, keep: Callable[[Any], bool] | None = None) -> DigitModel:
    """A model of the same kind as ``model`` (classifier, opinions) fitted on ``X, y``,
    with ``model``'s metadata; a calibrated ``model`` gives a model calibrated again
    (:func:`calibrate`: the new raw scores on the same held-out strokes).  Opinions
    of ``model`` for which ``keep(opinion)`` is true are kept as they are, not refitted."""
    classifier = str(model.metadata.get("classifier", "svc"))
    fitted = fit_model(X, y, classifier if classifier in CLASSIFIERS else "svc")
    if not model.opinions:
        fitted.opinions = []
    elif keep is not None and len(model.opinions) == len(fitted.opinions):
        fitted.opinions = [old if keep(old) else new for old, new in zip(model.opinions, fitted.opinions, strict=True)]
    fitted.metadata = dict(model.metadata)
    if model.calibrator is not None:
        calibrate(fitted)
    return fitted


def fit_model(X: np.ndarray, y: np.ndarray, classifier: str = "svc") -> DigitModel:
    """The main pipeline and (for the SVC) its two opinions fitted on ``X, y``; no calibrator."""
    opinions = [m.fit(X, y) for m in make_opinions()] if classifier == "svc" else []
    return DigitModel(fit_classifier(classifier, X, y), {}, opinions=opinions)


def fit_calibrator(scores: np.ndarray, right: np.ndarray) -> IsotonicRegression:
    """Isotonic map from a model's raw confidence to the share of right readings.

    Clipped to ``[MIN_CONFIDENCE, MAX_CONFIDENCE]``: a calibrated 1.0 would
    promise what no model of handwriting can.
    """
    iso = IsotonicRegression(y_min=MIN_CONFIDENCE, y_max=MAX_CONFIDENCE, out_of_bounds="clip")
    return iso.fit(np.asarray(scores, np.float64), np.asarray(right, np.float64))


def calibrate(model: DigitModel, X: np.ndarray | None = None, y: np.ndarray | None = None) -> DigitModel:
    """Fit ``model``'s calibrator on grids ``X`` with true digits ``y`` it was NOT trained on.

    The data should differ from the training data as the grids to be read
    will (other writers).  By default: the shipped calibration strokes
    (:func:`batchdigits.learn.strokeset.calibration_set`), other drawings than the
    training strokes, each further distorted.  (Calibrated on undistorted
    unseen drawings, 99.6 % right, the confidence is overconfident on the DEV
    writers, ECE 0.034; on the distorted ones, 97 % right, ECE 0.007.)

    A model with a logistic and a k-NN opinion (the built-in shape) gets a
    logistic regression on its :mod:`~batchdigits.learn.signals`; any other an
    isotonic map of its raw score (a step function: rows tie within a step).
    Returns ``model`` with ``model.calibrator`` set.
    """
    if X is None or y is None:
        X, y, _ = calibration_set()
    X = np.asarray(X, np.float64)
    if has_signals(model):
        digits = model.classes[np.argmax(model.predict_proba(X), axis=1)]
        features, right = model.signals(X, digits), digits == np.asarray(y)
        if 0 < right.sum() < len(right):
            model.calibrator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
            model.calibrator.fit(features, right)
            model.metadata["confidence"] = confidence_note(model, len(y))
            return model
    labels, score = model.raw_predict(X)
    model.calibrator = fit_calibrator(score, labels == np.asarray(y))
    model.metadata["confidence"] = confidence_note(model, len(y))
    return model


def has_signals(model: DigitModel) -> bool:
    """Whether ``model`` has the opinions the signals need: a logistic regression, then a k-NN."""
    if len(model.opinions) != 2:
        return False
    logistic, knn = (o[-1] if hasattr(o, "steps") else o for o in model.opinions)
    return isinstance(logistic, LogisticRegression) and isinstance(knn, KNeighborsClassifier)


def confidence_note(model: DigitModel, n_calibration: int | None = None) -> str:
    """What the confidence column means for this model (its metadata)."""
    raw = "min(svc, logistic, knn)" if model.opinions else "the classifier's probability"
    if model.calibrator is None:
        return f"{raw}, uncalibrated"
    grids = counted(n_calibration, "grid") if n_calibration is not None else "held-out grids"
    if hasattr(model.calibrator, "predict_proba"):
        return ("calibrated probability that the label is right: logistic regression on the three "
                "classifiers' probabilities and margins and the distances to the nearest training grids "
                f"of the digit and of any other, fitted on {grids} the model was not trained on")
    return (f"calibrated probability that the label is right: isotonic map of {raw}, fitted on "
            f"{grids} the model was not trained on")


def fit_classifier(classifier: str, X: np.ndarray, y: np.ndarray) -> Pipeline:
    """Fit, calibrating with as many folds (up to 3) as the rarest digit allows."""
    counts = np.bincount(y)
    folds = int(min(3, counts[counts > 0].min()))
    if folds < 2:
        raise ValueError("every digit in the training data needs at least 2 labelled scans")
    return make_classifier(classifier, folds).fit(X, y)
