"""Derive the numpy-only form (:class:`~batchdigits.learn.arrays.ArrayModel`) of a loaded model.

``to_arrays(model)`` reads the fitted parts of a :class:`~batchdigits.learn.model.DigitModel`
(scikit-learn objects) into plain arrays, then checks the result against
``model.predict`` on probe grids: the same digits, confidences within
:data:`TOLERANCE`.  A model of another shape (a random forest, a distance-weighted
k-NN, ...) or one whose answers differ gets ``None``: it is then used as it is,
through scikit-learn, and is only slower.

>>> fast = to_arrays(load_model("mine.skops"))     # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .arrays import ARRAYS_FORMAT, ArrayModel, ArraysError
from .model import DigitModel

TOLERANCE = 1e-12  # confidences of the two forms may differ by this much (rounding), digits never
PROBE = 256  # random grids the two forms are compared on (plus grids of the model's own)


class Unsupported(Exception):
    """A part this numpy form does not know."""


def to_arrays(model: DigitModel) -> ArrayModel | None:
    """The checked numpy form of ``model``, or ``None`` (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    try:
        spec = _model(model, "", arrays)
        arrays["spec"] = np.asarray(json.dumps({
            "format": ARRAYS_FORMAT, "model": spec, "metadata": _plain(model.metadata),
            "source": model.source, "sha256": model.sha256,
        }))
        form = ArrayModel(arrays)
    except (Unsupported, ArraysError, AttributeError, TypeError, ValueError):
        return None
    return form if same_predictions(model, form, probe_grids(arrays)) else None


def same_predictions(model: DigitModel, form: ArrayModel, grids: np.ndarray) -> bool:
    """Whether ``form`` reads ``grids`` as ``model`` does (digits equal, confidences to 1e-12)."""
    digits, confidence = model.predict(grids)
    fast_digits, fast_confidence = form.predict(grids)
    return bool(np.array_equal(digits, fast_digits)
                and np.allclose(confidence, fast_confidence, rtol=0.0, atol=TOLERANCE))


def probe_grids(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Random integer grids and some of the model's own training grids (exact k-NN matches)."""
    rng = np.random.default_rng(0)
    grids = [rng.integers(0, 17, (PROBE, 64)).astype(np.float64)]
    for name, values in arrays.items():
        if name.endswith("fit_x") or name.endswith("vectors"):
            grids.append(np.clip(np.round(values[:: max(1, len(values) // 64)]), 0, 16))
    return np.concatenate(grids)


def _plain(value: Any) -> Any:
    """Metadata as JSON can hold it (numpy scalars to Python's)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _model(model: DigitModel, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    spec: dict[str, Any] = {"prefix": prefix, "combine": "min"}
    spec["main"] = _part(model.pipeline, prefix + "main.", arrays)
    spec["opinions"] = [_part(o, f"{prefix}op{i}.", arrays) for i, o in enumerate(model.opinions)]
    spec["calibrator"] = None
    if hasattr(model.calibrator, "predict_proba"):
        scaler, regression = model.calibrator[0], model.calibrator[-1]
        arrays[prefix + "comb.mean"] = np.asarray(scaler.mean_, np.float64)
        arrays[prefix + "comb.scale"] = np.asarray(scaler.scale_, np.float64)
        arrays[prefix + "comb.coef"] = np.asarray(regression.coef_[0], np.float64)
        arrays[prefix + "comb.intercept"] = np.asarray(float(regression.intercept_[0]))
        spec["calibrator"] = "signals"
    elif model.calibrator is not None:
        _isotonic(model.calibrator, prefix + "cal.", arrays)
        spec["calibrator"] = "isotonic"
    spec["ceiling"] = _model(model.ceiling, prefix + "ceiling.", arrays) if model.ceiling is not None else None
    return spec


def _part(pipeline: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = list(pipeline) if isinstance(pipeline, Pipeline) else [pipeline]
    part: dict[str, Any] = {"prefix": prefix, "scaler": False}
    if len(steps) == 2 and isinstance(steps[0], StandardScaler):
        scaler = steps[0]
        if not (scaler.with_mean and scaler.with_std):
            raise Unsupported("a scaler that does not both centre and scale")
        arrays[prefix + "mean"] = np.asarray(scaler.mean_, np.float64)
        arrays[prefix + "scale"] = np.asarray(scaler.scale_, np.float64)
        part["scaler"] = True
    elif len(steps) != 1:
        raise Unsupported("a pipeline of other steps")
    last = steps[-1]
    arrays[prefix + "classes"] = np.asarray(last.classes_)
    part["kind"] = _classifier(last, prefix, arrays)
    return part


def _classifier(last: Any, prefix: str, arrays: dict[str, np.ndarray]) -> str:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    if isinstance(last, CalibratedClassifierCV):
        _svc(last, prefix, arrays)
        return "svc"
    if isinstance(last, LogisticRegression) and len(last.classes_) > 2:
        arrays[prefix + "coef"] = np.asarray(last.coef_, np.float64)
        arrays[prefix + "intercept"] = np.asarray(last.intercept_, np.float64)
        return "logistic"
    if (isinstance(last, KNeighborsClassifier) and last.weights == "uniform" and last._fit_method == "brute"
            and last.effective_metric_ == "euclidean" and not last.outputs_2d_):
        fit_x = np.asarray(last._fit_X, np.float64)
        arrays[prefix + "fit_x"] = fit_x
        arrays[prefix + "norms"] = np.einsum("ij,ij->i", fit_x, fit_x)
        arrays[prefix + "labels"] = np.asarray(last._y, np.intp)
        arrays[prefix + "k"] = np.asarray(int(last.n_neighbors))
        return "knn"
    raise Unsupported(type(last).__name__)


def _svc(last: Any, prefix: str, arrays: dict[str, np.ndarray]) -> None:
    from sklearn.svm import SVC

    if len(last.calibrated_classifiers_) != 1:
        raise Unsupported("an ensemble of calibrated classifiers")
    calibrated = last.calibrated_classifiers_[0]
    svc = calibrated.estimator
    if not (isinstance(svc, SVC) and svc.kernel == "rbf" and calibrated.method == "sigmoid"):
        raise Unsupported("not a sigmoid-calibrated RBF SVC")
    if len(svc.classes_) < 3 or svc.decision_function_shape != "ovr" or svc.break_ties:
        raise Unsupported("an SVC of another shape")
    vectors = np.asarray(svc.support_vectors_, np.float64)
    arrays[prefix + "vectors"] = vectors
    arrays[prefix + "norms"] = np.einsum("ij,ij->i", vectors, vectors)
    arrays[prefix + "coef"] = np.asarray(svc.dual_coef_, np.float64)
    arrays[prefix + "intercept"] = np.asarray(svc.intercept_, np.float64)
    arrays[prefix + "gamma"] = np.asarray(float(svc._gamma))
    arrays[prefix + "starts"] = np.concatenate([[0], np.cumsum(svc.n_support_)]).astype(np.intp)
    arrays[prefix + "columns"] = np.searchsorted(calibrated.classes, svc.classes_).astype(np.intp)
    arrays[prefix + "sig_a"] = np.asarray([c.a_ for c in calibrated.calibrators], np.float64)
    arrays[prefix + "sig_b"] = np.asarray([c.b_ for c in calibrated.calibrators], np.float64)
    arrays[prefix + "classes"] = np.asarray(calibrated.classes)


def _isotonic(calibrator: Any, prefix: str, arrays: dict[str, np.ndarray]) -> None:
    from sklearn.isotonic import IsotonicRegression

    if not isinstance(calibrator, IsotonicRegression) or calibrator.out_of_bounds != "clip":
        raise Unsupported("a calibrator other than a clipped isotonic regression")
    arrays[prefix + "x"] = np.asarray(calibrator.X_thresholds_, np.float64)
    arrays[prefix + "y"] = np.asarray(calibrator.y_thresholds_, np.float64)
    arrays[prefix + "x_min"] = np.asarray(float(calibrator.X_min_))
    arrays[prefix + "x_max"] = np.asarray(float(calibrator.X_max_))
