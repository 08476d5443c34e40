"""The signals a reading's confidence is made from, and the map that combines them (numpy only).

A model of the built-in shape (an SVC with a logistic and a 5-NN opinion, see
:func:`batchdigits.learn.fit.make_opinions`) knows more about each reading than
the smallest of its three probabilities, the confidence's raw score until
format 3.  :func:`signals` gives, for each grid and the digit it is read as,
:data:`NAMES`:

- the SVC's, the logistic opinion's and the 5-NN's probability of the digit,
  and the smallest of the three (the old raw score);
- how far each of the SVC and the logistic opinion prefers it to the next digit
  (their margins), and whether the logistic opinion reads the same digit;
- how near the grid lies to the model's own training grids of that digit, and
  to those of any other digit (the nearest one of each, exact, from every
  training grid of the k-NN opinion).

A logistic regression on these (:func:`combined`), fitted on grids the model
was not trained on (:func:`batchdigits.learn.fit.calibrate`), is the confidence:
a calibrated probability whose order carries every signal, continuous, so
almost no two rows tie.  Measured on the TEST writers of ``benchmarks/accuracy.py``
(5200 scans, AUROC of "this row is right"): the old raw score 0.895, the SVC's
own probability 0.54, the distance ratio alone 0.946, the combination 0.943;
rows to check until 0.5 % / 0.1 % are wrong 43 % / 97 % -> 22 % / 35 % (the CSV through
the command line, ``docs/accuracy.md``).

>>> f = signals(np.array([3]), CLASSES, np.eye(10)[[3]], CLASSES, np.eye(10)[[3]], CLASSES, np.eye(10)[[3]],
...             np.full((1, 10), 20.0) - 15 * np.eye(10)[[3]])
>>> round(float(f[0, NAMES.index("log_distance_ratio")]), 3)   # log((5 + 1) / (20 + 1)): nearer its own digit
-1.253
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = np.arange(10)
NAMES = ("svc", "svc_margin", "logistic", "logistic_agrees", "knn", "smallest", "log_distance",
         "log_distance_ratio", "logistic_margin")
N_SIGNALS = len(NAMES)
EPS = 1e-4  # probabilities are clipped to [EPS, 1 - EPS] before their logit
MAX_CONFIDENCE = 0.995  # no reading of an unseen hand is surer: the DEV writers' best bins are 0.994 right
KNEE = 0.99  # above this the combined probability is squeezed into (KNEE, MAX_CONFIDENCE), never flat
SPREAD = 3.0  # logit units over which the squeezed top approaches MAX_CONFIDENCE
FAR = 128.0  # the largest distance of two 8x8 grids of values 0..16


def vote(classes: np.ndarray, proba: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Each row's value in ``proba`` for its digit in ``digits`` (0 for a digit not in ``classes``)."""
    column = np.clip(np.searchsorted(classes, digits), 0, len(classes) - 1)
    return np.where(classes[column] == digits, proba[np.arange(len(digits)), column], 0.0)


def _best_other(classes: np.ndarray, values: np.ndarray, digits: np.ndarray, fill: float) -> np.ndarray:
    others = np.where(classes[None, :] == np.asarray(digits)[:, None], fill, values)
    return others.max(axis=1) if fill < 0 else others.min(axis=1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class ByClass:
    """A k-NN's training grids sorted by class, prepared once per model for :func:`class_distances`."""

    grids_t: np.ndarray  # (64, n_train), columns grouped by class
    norms: np.ndarray  # (1, n_train), squared norms in the same order
    starts: np.ndarray  # first column of each class present
    present: np.ndarray  # (n_classes,) whether the class has training grids


def by_class(fit_x: np.ndarray, norms: np.ndarray, labels: np.ndarray, n_classes: int) -> ByClass:
    """The training grids ``fit_x`` (squared norms ``norms``, ``labels`` are column numbers
    0..n_classes-1) prepared for :func:`class_distances`."""
    order = np.argsort(labels, kind="stable")
    present = np.bincount(labels, minlength=n_classes) > 0
    starts = np.searchsorted(labels[order], np.arange(n_classes))[present]
    return ByClass(fit_x[order].T.copy(), norms[order][None, :], starts, present)


def class_distances(x: np.ndarray, index: ByClass, block: int = 64) -> np.ndarray:
    """Euclidean distance ``(n, n_classes)`` from each grid to the nearest training grid of each
    class of ``index`` (:func:`by_class`; ``inf`` for a class without training grids)."""
    out = np.full((len(x), len(index.present)), np.inf)
    for start in range(0, len(x), block):
        xb = x[start : start + block]
        d = xb @ index.grids_t
        d *= -2.0
        d += np.einsum("ij,ij->i", xb, xb)[:, None]
        d += index.norms
        mins = np.minimum.reduceat(d, index.starts, axis=1)
        out[start : start + len(xb), index.present] = np.sqrt(np.maximum(mins, 0.0))
    return out


def signals(digits: np.ndarray, main_classes: np.ndarray, main: np.ndarray, logistic_classes: np.ndarray,
            logistic: np.ndarray, knn_classes: np.ndarray, knn: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The :data:`NAMES` signals ``(n, 9)`` of reading each grid as its digit in ``digits``.

    ``main``, ``logistic`` and ``knn`` are the three classifiers' probabilities
    (columns: their ``*_classes``), ``distances`` the grids' :func:`class_distances`
    to the k-NN's training grids (columns: ``knn_classes``).
    """
    svc = vote(main_classes, main, digits)
    lr = vote(logistic_classes, logistic, digits)
    nn = vote(knn_classes, knn, digits)
    same = np.where(np.isin(digits, knn_classes), vote(knn_classes, distances, digits), np.inf)
    other = _best_other(knn_classes, distances, digits, np.inf)
    same, other = np.minimum(same, FAR), np.minimum(other, FAR)  # a digit the k-NN has no grid of: far
    agrees = logistic_classes[np.argmax(logistic, axis=1)] == digits
    return np.column_stack([
        _logit(svc), svc - _best_other(main_classes, main, digits, -1.0),
        _logit(lr), agrees.astype(np.float64), nn, _logit(np.minimum(np.minimum(svc, lr), nn)),
        np.log1p(same), np.log((same + 1.0) / (other + 1.0)),
        lr - _best_other(logistic_classes, logistic, digits, -1.0),
    ])


def combined(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
             intercept: float) -> np.ndarray:
    """The confidence from :func:`signals`: a standardised logistic regression's probability,
    its top squeezed into ``(KNEE, MAX_CONFIDENCE)`` -- strictly increasing, never flat."""
    z = ((features - mean) / scale) @ coef + intercept
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
    knee = np.log(KNEE / (1 - KNEE))
    top = KNEE + (MAX_CONFIDENCE - KNEE) * (1.0 - np.exp(-np.maximum(z - knee, 0.0) / SPREAD))
    return np.where(z <= knee, np.minimum(p, KNEE), top)
