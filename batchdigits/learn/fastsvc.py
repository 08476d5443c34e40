"""Batch probabilities of a calibrated RBF SVC with matrix products.

scikit-learn's ``SVC`` evaluates its kernel inside libsvm one sample at a
time: about 90 us per grid for the built-in model's ~1850 support vectors,
the largest cost of the main process.  The same decision values come from
one kernel matrix per batch (a BLAS product), several times faster.

``fast_predict_proba(pipeline, probe)`` returns a function computing
``pipeline.predict_proba`` that way, or ``None`` when the pipeline is not a
sigmoid-calibrated multi-class RBF SVC or when the result differs from
scikit-learn's own on ``probe`` (so a future scikit-learn that changes its
internals only loses the speed, never the right answer).

>>> fast = fast_predict_proba(model.pipeline, probe_grids)   # doctest: +SKIP
>>> proba = fast(grids) if fast else model.pipeline.predict_proba(grids)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Proba = Callable[[np.ndarray], np.ndarray]


def fast_predict_proba(pipeline: object, probe: np.ndarray) -> Proba | None:
    """A faster, checked equivalent of ``pipeline.predict_proba``, or ``None``."""
    try:
        fast = _build(pipeline)
        if fast is None:
            return None
        same = np.allclose(fast(probe), pipeline.predict_proba(probe), rtol=0.0, atol=1e-9)  # type: ignore[attr-defined]
    except Exception:  # an unexpected pipeline shape or scikit-learn version
        return None
    return fast if same else None


def _build(pipeline: object) -> Proba | None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.svm import SVC

    if not isinstance(pipeline, Pipeline):
        return None
    last = pipeline[-1]
    head = pipeline[:-1] if len(pipeline) > 1 else None  # scalers etc. before the classifier
    if not isinstance(last, CalibratedClassifierCV) or len(last.calibrated_classifiers_) != 1:
        return None
    calibrated = last.calibrated_classifiers_[0]
    svc = calibrated.estimator
    if not (isinstance(svc, SVC) and svc.kernel == "rbf" and calibrated.method == "sigmoid"):
        return None
    if len(svc.classes_) < 3 or svc.decision_function_shape != "ovr" or svc.break_ties:
        return None
    decision = _svc_decision(svc)
    columns = np.searchsorted(calibrated.classes, svc.classes_)
    n_classes = len(calibrated.classes)

    def predict_proba(grids: np.ndarray) -> np.ndarray:
        x = head.transform(grids) if head is not None else grids
        values = decision(np.asarray(x, dtype=np.float64))
        proba = np.zeros((len(values), n_classes))
        for column, scores, calibrator in zip(columns, values.T, calibrated.calibrators, strict=True):
            proba[:, column] = calibrator.predict(scores)
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1.0 / n_classes), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    return predict_proba


def _svc_decision(svc: object) -> Callable[[np.ndarray], np.ndarray]:
    """``svc.decision_function`` (one-vs-rest shape) from one kernel matrix per batch."""
    from sklearn.utils.multiclass import _ovr_decision_function

    vectors = np.asarray(svc.support_vectors_, dtype=np.float64)  # type: ignore[attr-defined]
    norms = np.einsum("ij,ij->i", vectors, vectors)
    coef = np.asarray(svc.dual_coef_, dtype=np.float64)  # type: ignore[attr-defined]
    intercept = np.asarray(svc.intercept_, dtype=np.float64)  # type: ignore[attr-defined]
    gamma = float(svc._gamma)  # type: ignore[attr-defined]
    starts = np.concatenate([[0], np.cumsum(svc.n_support_)])  # type: ignore[attr-defined]
    n = len(starts) - 1
    # libsvm's one-vs-one layout: the pair (i, j) uses the support vectors of
    # class i with coefficient row j - 1 and those of class j with row i
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]

    def decision(x: np.ndarray) -> np.ndarray:
        kernel = x @ vectors.T  # then, in place: exp(-gamma * squared distance)
        kernel *= -2.0
        kernel += np.einsum("ij,ij->i", x, x)[:, None]
        kernel += norms[None, :]
        np.maximum(kernel, 0.0, out=kernel)
        kernel *= -gamma
        np.exp(kernel, out=kernel)
        ovo = np.empty((len(x), len(pairs)))
        for p, (i, j) in enumerate(pairs):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            ovo[:, p] = kernel[:, si] @ coef[j - 1, si] + kernel[:, sj] @ coef[i, sj] + intercept[p]
        return _ovr_decision_function(ovo < 0, -ovo, n)

    return decision
