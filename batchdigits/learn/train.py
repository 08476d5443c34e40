"""Train a digit classifier on ``load_digits``, generated pen strokes and the user's own labelled grids.

``train(...)`` measures accuracy on a holdout split (the scikit-learn
tutorial's split of ``load_digits``: ``test_size=0.2, random_state=0``, plus
20 % of any extra data), then refits on everything (with the built-in set:
``load_digits``, its shifted and distorted copies, and the shipped pen-stroke
grids of :mod:`batchdigits.learn.strokeset`), calibrates the model's confidence
(:func:`batchdigits.learn.fit.calibrate`) and returns the model with its report.

>>> result = train_builtin()              # doctest: +SKIP
>>> round(result.accuracy, 3)             # doctest: +SKIP
0.992
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import train_test_split

from ..image.grid import GRID_VERSION
from ..io.concurrency import default_jobs
from ..io.counted import counted
from .adapt import adapt_model
from .augment import distorted_grids, distorted_parallel, shifted_grids
from .fit import confidence_note, fit_classifier, calibrate, fit_model
from .model import MODEL_FORMAT, DigitModel
from .strokeset import load_strokes

SEED = 0
USER_COPIES = 3  # distorted copies of each of the user's own scans (plus 2 shifted)


@dataclass
class TrainResult:
    """A fitted model plus what was measured while making it."""

    model: DigitModel
    accuracy: float
    report: dict[str, Any]
    confusion: np.ndarray
    n_holdout: int
    builtin_accuracy: float | None = None  # on the load_digits holdout alone
    user_accuracy: float | None = None  # on the held-out 20 % of the user's scans alone
    n_user_holdout: int = 0
    n_user: int = 0  # the user's labelled grids given (20 % of them held out when 5 or more)


def builtin_data() -> tuple[np.ndarray, np.ndarray]:
    """``load_digits`` as flat grids ``(1797, 64)`` and labels."""
    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def expand_builtin(
    X: np.ndarray, y: np.ndarray, augment: bool = True, jobs: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``load_digits`` grids plus 1-px shifted copies and, with ``augment``, one
    distorted copy of each passed through the real conversion.

    Returns grids, labels and the index of the original grid each came from,
    so a holdout split can keep every copy of a test grid out of training.
    """
    index = np.arange(len(y))
    Xs, src_s = shifted_grids(X)
    parts = [(X, index), (Xs, src_s)]
    if augment:
        parts.append(distorted_parallel(X, seed=SEED, jobs=jobs or default_jobs(), y=y))
    grids = np.concatenate([p[0] for p in parts])
    source = np.concatenate([p[1] for p in parts])
    return grids, y[source], source


def train(
    extra_X: np.ndarray | None = None,
    extra_y: np.ndarray | None = None,
    builtin: bool = True,
    classifier: str = "svc",
    augment: bool = True,
    description: str = "",
    unlabelled_X: np.ndarray | None = None,
    jobs: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit on ``load_digits`` (unless ``builtin=False``) plus extra grids.

    With ``builtin`` and ``augment`` the generated pen-stroke grids
    (:mod:`batchdigits.learn.strokeset`) are added too, and the model's confidence
    is calibrated on the distorted ones it was not trained on (:func:`batchdigits.learn.fit.calibrate`).  Accuracy is
    measured on held-out data: the tutorial's split of ``load_digits``
    (``test_size=0.2, random_state=0``) and 20 % of the extra grids; the
    returned model is then refitted on everything.  ``jobs`` worker processes
    make the distorted copies and run the two fits (0: all cores).  The extra
    (the user's own) grids weigh more: with ``augment`` each also comes as 2
    shifted and :data:`USER_COPIES` distorted copies through the real
    conversion.  With ``unlabelled_X`` (grids of unlabelled scans) both the
    measured and the returned model are adapted to them
    (:func:`batchdigits.learn.adapt.adapt_model`).  ``on_step`` hears a short
    description as each of the slow steps begins (the command line shows progress).
    """
    step = on_step or (lambda _what: None)
    has_extra = extra_X is not None and extra_y is not None and len(extra_y) > 0
    if not builtin and not has_extra:
        raise ValueError("no training data: give --data/--labels or keep the built-in set")
    train_parts, test_parts, all_parts = [], [], []
    strokes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    if builtin:
        X, y = builtin_data()
        test_idx = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SEED)[1]
        step("making shifted " + ("and distorted " if augment else "") + "copies of load_digits")
        grids, labels, source = expand_builtin(X, y, augment, jobs)
        in_test = np.isin(source, test_idx)
        train_parts.append((grids[~in_test], labels[~in_test]))
        test_parts.append((X[test_idx], y[test_idx]))
        all_parts.append((grids, labels))
        if augment:
            strokes = load_strokes()
            train_parts.append(strokes[:2])
    if has_extra:
        eX, ey = np.asarray(extra_X, np.float64), np.asarray(extra_y, np.int64)
        if augment:
            step(f"making copies of your {counted(len(ey), 'scan')}")
        eXtr, eXte, eytr, eyte = _split_extra(eX, ey)
        train_parts.append(user_grids(eXtr, eytr, augment))
        test_parts.append((eXte, eyte))
        all_parts.append(user_grids(eX, ey, augment))
    Xtr, ytr = _stack(train_parts)
    Xte, yte = _stack(test_parts)
    X_all, y_all = _stack(all_parts + ([strokes[:2]] if strokes is not None else []))
    step(f"fitting the {classifier} model twice, side by side: on {len(ytr)} grids to measure, "
         f"on all {len(y_all)} to keep")
    holdout, model = Parallel(n_jobs=min(2, jobs or default_jobs()))(  # two independent fits, side by side
        [delayed(fit_classifier)(classifier, Xtr, ytr), delayed(fit_model)(X_all, y_all, classifier)]
    )
    adapting = unlabelled_X is not None and len(unlabelled_X) > 0
    if adapting:
        step(f"adapting the measured model to the {counted(len(np.asarray(unlabelled_X)), 'unlabelled scan')}")
        measured = fit_model(Xtr, ytr, classifier)
        measured.metadata["classifier"] = classifier
        measured = adapt_model(measured, np.asarray(unlabelled_X), seed=SEED)
        pred = measured.classes[np.argmax(measured.predict_proba(Xte), axis=1)]
    else:
        pred = holdout.predict(Xte)
    accuracy = float(np.mean(pred == yte))
    n_builtin = len(test_parts[0][1]) if builtin else 0
    report = classification_report(yte, pred, output_dict=True, zero_division=0)
    confusion = confusion_matrix(yte, pred, labels=np.arange(10))
    model.metadata = {
        "format": MODEL_FORMAT,
        "grid_version": GRID_VERSION,
        "sklearn_version": sklearn.__version__,
        "classifier": classifier,
        "augmented": bool(augment and builtin),
        "training_data": description or _describe(builtin, extra_y if has_extra else None,
                                                  0 if strokes is None else len(strokes[1])),
        "n_train": int(len(y_all)),
        "class_counts": [int(c) for c in np.bincount(y_all, minlength=10)],
        "holdout_accuracy": round(accuracy, 6),
        "holdout_size": int(len(yte)),
        "confidence": confidence_note(model),
    }
    if strokes is not None:
        step("calibrating the confidence on held-out pen strokes")
        calibrate(model)  # also updates metadata["confidence"]
    if adapting:
        step("adapting the model to keep to the unlabelled scans")
        model = adapt_model(model, np.asarray(unlabelled_X), seed=SEED)
        model.metadata["training_data"] += f" + {counted(len(np.asarray(unlabelled_X)), 'unlabelled scan')} (adapted)"
    return TrainResult(
        model, accuracy, report, confusion, len(yte),
        builtin_accuracy=_share(pred[:n_builtin], yte[:n_builtin]),
        user_accuracy=_share(pred[n_builtin:], yte[n_builtin:]),
        n_user_holdout=len(yte) - n_builtin,
        n_user=len(extra_y) if has_extra and extra_y is not None else 0,
    )


def _share(pred: np.ndarray, true: np.ndarray) -> float | None:
    return float(np.mean(pred == true)) if len(true) else None


def user_grids(X: np.ndarray, y: np.ndarray, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The user's labelled grids, with ``augment`` plus 2 shifted and
    :data:`USER_COPIES` distorted copies each (seeded, through the real conversion).

    100 scans of one writer would otherwise be drowned by ~7000 built-in
    grids; on the DEV writers (10 scans per digit of one writer, 8 writers,
    uncalibrated SVC) the copies lift the rest of that writer from 0.975 to 0.979.
    """
    if not augment or not len(y):
        return X, y
    parts = [(X, y)]
    shifted, source = shifted_grids(X)
    parts.append((shifted, y[source]))
    for copy in range(USER_COPIES):
        distorted, source = distorted_grids(X, seed=SEED + 1 + copy)
        parts.append((distorted, y[source]))
    return _stack(parts)


def _split_extra(
    X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """80/20 split of the user's grids (stratified when every digit has 2+)."""
    if len(y) < 5:
        return X, X[:0], y, y[:0]
    counts = np.bincount(y, minlength=10)
    classes = int((counts > 0).sum())
    can_stratify = counts[counts > 0].min() >= 2 and int(np.ceil(0.2 * len(y))) >= classes
    stratify = y if can_stratify else None
    a, b, c, d = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=stratify)
    return a, b, c, d


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train_builtin() -> TrainResult:
    """The built-in model: the default classifier on ``load_digits`` alone."""
    return train()


def _describe(builtin: bool, extra_y: np.ndarray | None, n_strokes: int = 0) -> str:
    items = []
    if builtin:
        items.append("scikit-learn load_digits (1797 grids, UCI optdigits)")
    if n_strokes:
        items.append(f"{n_strokes} generated pen-stroke grids")
    if extra_y is not None and len(extra_y):
        items.append(counted(len(extra_y), "labelled scan"))
    return " + ".join(items)
