"""Train a digit classifier on ``load_digits`` (and the user's own labelled grids).

``train(...)`` measures accuracy on a holdout split (the scikit-learn
tutorial's split of ``load_digits``: ``test_size=0.2, random_state=0``, plus
20 % of any extra data), then refits on everything and returns the model with
its report.

>>> result = train_builtin()              # doctest: +SKIP
>>> round(result.accuracy, 3)             # doctest: +SKIP
0.992
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from .grid import GRID_VERSION
from .model import MODEL_FORMAT, DigitModel

CLASSIFIERS = ("svc", "logistic", "knn")
SEED = 0


@dataclass
class TrainResult:
    """A fitted model plus what was measured while making it."""

    model: DigitModel
    accuracy: float
    report: dict[str, Any]
    confusion: np.ndarray
    n_holdout: int


def make_classifier(name: str = "svc") -> Pipeline:
    """A fresh, unfitted pipeline with calibrated ``predict_proba``."""
    if name == "svc":
        svc = SVC(kernel="rbf", C=10.0, gamma=0.001)
        return make_pipeline(CalibratedClassifierCV(svc, method="sigmoid", cv=5))
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "knn":
        return make_pipeline(KNeighborsClassifier(n_neighbors=5, weights="distance"))
    raise ValueError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")


def builtin_data() -> tuple[np.ndarray, np.ndarray]:
    """``load_digits`` as flat grids ``(1797, 64)`` and labels."""
    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def train(
    extra_X: np.ndarray | None = None,
    extra_y: np.ndarray | None = None,
    builtin: bool = True,
    classifier: str = "svc",
    description: str = "",
) -> TrainResult:
    """Fit on ``load_digits`` (unless ``builtin=False``) plus extra grids."""
    parts = _datasets(extra_X, extra_y, builtin)
    if not parts:
        raise ValueError("no training data: give --data/--labels or keep the built-in set")
    train_X, test_X, train_y, test_y = [], [], [], []
    for X, y in parts:
        a, b, c, d = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=None)
        train_X.append(a), test_X.append(b), train_y.append(c), test_y.append(d)
    Xtr, ytr = np.concatenate(train_X), np.concatenate(train_y)
    Xte, yte = np.concatenate(test_X), np.concatenate(test_y)
    holdout = make_classifier(classifier).fit(Xtr, ytr)
    pred = holdout.predict(Xte)
    accuracy = float(np.mean(pred == yte))
    report = classification_report(yte, pred, output_dict=True, zero_division=0)
    confusion = confusion_matrix(yte, pred, labels=np.arange(10))
    X_all = np.concatenate([Xtr, Xte])
    y_all = np.concatenate([ytr, yte])
    final = make_classifier(classifier).fit(X_all, y_all)
    metadata = {
        "format": MODEL_FORMAT,
        "grid_version": GRID_VERSION,
        "sklearn_version": sklearn.__version__,
        "classifier": classifier,
        "training_data": description or _describe(builtin, extra_y),
        "n_train": int(len(y_all)),
        "class_counts": [int(c) for c in np.bincount(y_all, minlength=10)],
        "holdout_accuracy": round(accuracy, 6),
        "holdout_size": int(len(yte)),
    }
    return TrainResult(DigitModel(final, metadata), accuracy, report, confusion, len(yte))


def train_builtin() -> TrainResult:
    """The built-in model: the default classifier on ``load_digits`` alone."""
    return train()


def _datasets(
    extra_X: np.ndarray | None, extra_y: np.ndarray | None, builtin: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    parts = []
    if builtin:
        parts.append(builtin_data())
    if extra_X is not None and extra_y is not None and len(extra_y):
        parts.append((np.asarray(extra_X, np.float64), np.asarray(extra_y, np.int64)))
    return parts


def _describe(builtin: bool, extra_y: np.ndarray | None) -> str:
    items = []
    if builtin:
        items.append("scikit-learn load_digits (1797 grids, UCI optdigits)")
    if extra_y is not None and len(extra_y):
        items.append(f"{len(extra_y)} labelled scans")
    return " + ".join(items)
