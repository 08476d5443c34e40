"""The confidence of a folder's own readings under ``--adapt``: the model's signals and the folder's graph.

When a run sees the whole folder (``classify --adapt``), it knows something
no single grid tells: how the folder's own 10-nearest-neighbour graph spreads
the readings (:func:`batchdigits.learn.adapt.spread_labels`).  A grid whose
look-alikes in the folder are read as the same digit is rarely wrong; one
whose neighbours say otherwise often is.  The folder's confidence is a
logistic regression on the nine :mod:`~batchdigits.learn.signals` of the
adapted model's reading and the logit of the spread score of that digit
(:class:`FolderLayer`), fitted by :func:`fit_folder_layer` on the shipped
calibration strokes spread as one folder by the model it adapts (never on the
folder being read): the same data and form as the model's own confidence.

Measured with the built-in model (``benchmarks/accuracy.py``'s writers, nothing
fitted on them; ``docs/accuracy.md``): TEST as one folder (5200 scans), ECE
0.026 -> 0.006, AUROC 0.946 -> 0.968, rows to check until 0.5 % / 0.1 % are
wrong 16.4 % / 33.5 % -> 11.9 % / 24.2 %, wrong rows marked ``ok`` 0.33 % ->
0.23 % with 19.0 % -> 15.9 % flagged; DEV writers each adapted alone (20 x 130
scans) ECE 0.032 -> 0.009, check@0.5 % 17.4 % -> 6.1 %.  Fitting the layer on
the strokes spread in groups of a small folder's size did worse (ECE 0.021):
random strokes are not one writer's, so their small graphs carry no signal.

>>> layer = fit_folder_layer(get_default_model())                     # doctest: +SKIP
>>> digits, features = adapted.predict_signals(grids)                 # doctest: +SKIP
>>> layer.confidence(digits, features, spread)                       # doctest: +SKIP
array([0.9931..., 0.4127...])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .signals import _logit, combined, vote

if TYPE_CHECKING:
    from .model import DigitModel


@dataclass(frozen=True)
class FolderLayer:
    """The standardised logistic regression on ``[signals, logit(spread score)]`` (10 columns)."""

    classes: np.ndarray  # the spread scores' columns
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def confidence(self, digits: np.ndarray, features: np.ndarray, spread: np.ndarray) -> np.ndarray:
        """The confidence ``(n,)`` of reading grids as ``digits``, given the readings'
        :func:`~batchdigits.learn.signals.signals` ``features`` ``(n, 9)`` and the grids'
        spread scores ``spread`` ``(n, len(classes))``."""
        if len(digits) == 0:
            return np.zeros(0)
        x = np.column_stack([features, _logit(vote(self.classes, np.asarray(spread, np.float64), digits))])
        return combined(x, self.mean, self.scale, self.coef, self.intercept)

    def read(self, model: object, grids: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``model``'s digits for ``grids`` ``(n, 64)`` and their folder confidence; ``model`` is
        the adapted model or its numpy form (anything with ``predict_signals``)."""
        digits, features = model.predict_signals(grids)  # type: ignore[attr-defined]
        return digits, self.confidence(digits, features, spread)


def folder_layer(model: DigitModel, adapted: DigitModel) -> FolderLayer | None:
    """The layer for a folder's grids read by ``adapted``, adapted from ``model``; ``None`` when
    they keep the adapted model's own confidence: a model without signals, or a capped
    adaptation (a small folder: on the TEST writers each alone, 20 x 130 scans, the layer
    ranked better, AUROC 0.960 against 0.945, but left 20 wrong rows ``ok`` against 10)."""
    from .fit import has_signals

    if not has_signals(model) or adapted.metadata.get("adaptation", {}).get("capped", True):
        return None
    return fit_folder_layer(model)


def read_adapted(model: DigitModel, grids: np.ndarray, seed: int = 0) -> tuple[DigitModel, np.ndarray, np.ndarray]:
    """What ``classify --adapt`` does with a folder's ``grids`` ``(n, 64)``, in this process:
    the adapted model, its digits and the folder's confidence (``run/adaptrun.py`` has the
    workers read them).  Raises ``AdaptError`` as :func:`~batchdigits.learn.adapt.adapt_model`."""
    from .adapt import adapt_to_folder

    adapted, spread = adapt_to_folder(model, grids, seed)
    layer = folder_layer(model, adapted)
    if layer is None:
        digits, confidence = adapted.predict(grids)
        return adapted, digits, confidence
    return adapted, *layer.read(adapted, np.asarray(grids, np.float64), spread)


def fit_folder_layer(model: DigitModel) -> FolderLayer:
    """Fit the layer for folders adapted from ``model`` (a model with signals, see
    :func:`batchdigits.learn.fit.has_signals`) on the shipped calibration strokes:
    spread by ``model`` as one folder, each read as its spread digit.  About 2 s."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from .adapt import spread_labels, spreading_alpha
    from .strokeset import calibration_set

    grids, labels, _ = calibration_set()
    grids = np.asarray(grids, np.float64)
    spread = spread_labels(grids, model.predict_proba(grids), spreading_alpha(len(grids)))
    classes = model.classes
    column = np.argmax(spread, axis=1)
    digits = classes[column]
    x = np.column_stack([model.signals(grids, digits), _logit(spread[np.arange(len(digits)), column])])
    scaler = StandardScaler().fit(x)
    regression = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), digits == labels)
    return FolderLayer(np.asarray(classes), scaler.mean_, scaler.scale_, regression.coef_[0],
                       float(regression.intercept_[0]))
