"""The classifier: build, save and load it safely, and the built-in default.

A model file is a skops archive holding ``{"pipeline": ..., "metadata": ...}``.
Loading never runs code from the file: only types on :data:`ALLOWED_TYPES`
(plus skops' own defaults) are accepted; anything else is refused with a
clear message.  Pickle/joblib files are opened only when the caller passes
``allow_pickle=True`` (the CLI's ``--allow-pickle``).

The built-in model is trained on scikit-learn's bundled ``load_digits`` on
first use and cached in the user cache directory (``$XDG_CACHE_HOME``
respected); ``$BATCHDIGITS_MODEL`` points at another model file.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write
from .fastsvc import fast_predict_proba
from .signals import N_SIGNALS, by_class, class_distances, combined, signals, vote
from ..image.marks import GRID_VERSION
from .formats import MODEL_FORMAT, ModelError  # noqa: F401  # light, for the main process

FAST_PATH_PROBE = 64  # grids on which the fast SVC path is checked against scikit-learn
ALLOWED_TYPES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.svm._classes.SVC",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.decomposition._pca.PCA",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.utils._bunch.Bunch",
        "builtins.slice",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.random._mt19937.MT19937",
        "numpy.random.mtrand.RandomState",
        "collections.OrderedDict",
    }
)


MAX_MODEL_BYTES = 256 * 2**20
"""Largest model file, and largest sum of its archive members' uncompressed sizes
(the built-in model: 5 MB).  Checked before skops reads a byte of it."""
MAX_MODEL_RATIO = 100
"""A member larger than 1 MiB may be at most this many times its compressed size."""
DIGITS = tuple(range(10))  # the classes a model may predict
N_FEATURES = 64  # one value per cell of the 8x8 grid
METADATA_TYPES: dict[str, tuple[type, ...]] = {  # numbers.Integral: int and numpy's integers
    "format": (Integral,),
    "grid_version": (Integral,),
    "sklearn_version": (str,),
    "classifier": (str,),
    "augmented": (bool,),
    "training_data": (str,),
    "n_train": (Integral,),
    "class_counts": (list,),
    "holdout_accuracy": (Real,),
    "holdout_size": (Integral,),
    "confidence": (str,),
}


@dataclass
class DigitModel:
    """A fitted pipeline (64 grid values in, 10 class probabilities out) and its metadata.

    ``opinions`` are differently built classifiers: the raw score of a
    prediction is the smallest of all models' probabilities for the digit the
    main pipeline predicts, so a grid the models read differently is flagged.
    ``calibrator`` (an ``IsotonicRegression``, see ``train.fit_calibrator``)
    maps that score to the probability that the digit is right; without one
    the confidence is the raw score.  ``ceiling`` (set by
    :func:`batchdigits.learn.adapt.adapt_model` for a small folder or a k-NN
    classifier) is the model this one was adapted from: the confidence never
    exceeds the confidence that model gives the same digit.
    """

    pipeline: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in"
    sha256: str = ""
    opinions: list[Any] = field(default_factory=list)
    calibrator: Any = None
    ceiling: DigitModel | None = None
    _fast: Any = field(default=None, init=False, repr=False, compare=False)
    _by_class: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.pipeline.classes_)

    def predict_proba(self, grids: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` of the main pipeline for flat grids ``(n, 64)``."""
        return self.pipeline.predict_proba(np.asarray(grids, dtype=np.float64))

    def predict(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Digits and their confidence (the calibrated probability that the digit is
        right, when the model has a calibrator) for flat grids ``(n, 64)``."""
        grids = np.asarray(grids, dtype=np.float64)
        asked: dict[Any, np.ndarray] = {}  # an opinion the ceiling shares (the k-NN) is asked once
        proba = self._main_proba(grids)
        digits = self.classes[np.argmax(proba, axis=1)]
        confidence = self._confidence(grids, digits, proba, asked)
        if self.ceiling is not None and len(digits):
            confidence = np.minimum(confidence, self.ceiling._confidence_of(grids, digits, asked))
        return digits, confidence

    def confidence_of(self, grids: np.ndarray, digits: np.ndarray) -> np.ndarray:
        """This model's confidence that each grid is the digit given for it (not its own
        reading: 0 where no part of the model gives that digit any probability)."""
        return self._confidence_of(np.asarray(grids, dtype=np.float64), digits, {})

    def raw_predict(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Digits and their uncalibrated score (smallest probability of all models), one call per model."""
        grids = np.asarray(grids, dtype=np.float64)
        proba = self._main_proba(grids)
        digits = self.classes[np.argmax(proba, axis=1)]
        return digits, self._agreement(grids, digits, vote(self.classes, proba, digits), {})

    def signals(self, grids: np.ndarray, digits: np.ndarray | None = None) -> np.ndarray:
        """The :mod:`~batchdigits.learn.signals` ``(n, 9)`` of reading ``grids`` as ``digits``
        (default: the model's own readings).  Only for a model with a logistic and a k-NN opinion."""
        grids = np.asarray(grids, dtype=np.float64)
        proba = self._main_proba(grids)
        if digits is None:
            digits = self.classes[np.argmax(proba, axis=1)]
        return self._signals(grids, np.asarray(digits), proba, {})

    def predict_signals(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's digits for ``grids`` and their :meth:`signals` (the model's own, not its ceiling's)."""
        grids = np.asarray(grids, dtype=np.float64)
        proba = self._main_proba(grids)
        digits = self.classes[np.argmax(proba, axis=1)]
        return digits, self._signals(grids, digits, proba, {})

    def _confidence_of(self, grids: np.ndarray, digits: np.ndarray, asked: dict[Any, np.ndarray]) -> np.ndarray:
        return self._confidence(grids, digits, self._main_proba(grids), asked)

    def _confidence(self, grids: np.ndarray, digits: np.ndarray, proba: np.ndarray,
                    asked: dict[Any, np.ndarray]) -> np.ndarray:
        if len(digits) == 0:
            return np.zeros(0)
        if self.calibrator is not None and hasattr(self.calibrator, "predict_proba"):  # format 4: the signals
            scaler, regression = self.calibrator[0], self.calibrator[-1]
            return combined(self._signals(grids, digits, proba, asked), scaler.mean_, scaler.scale_,
                            regression.coef_[0], float(regression.intercept_[0]))
        return self._calibrated(self._agreement(grids, digits, vote(self.classes, proba, digits), asked))

    def _signals(self, grids: np.ndarray, digits: np.ndarray, proba: np.ndarray,
                 asked: dict[Any, np.ndarray]) -> np.ndarray:
        logistic, knn = self.opinions
        lp, kp = (self._opinion(o, grids, asked) for o in (logistic, knn))
        key = ("distances", id(knn))
        if key not in asked:
            if self._by_class is None or self._by_class[0] is not knn:  # prepared once per k-NN
                est = knn[-1] if hasattr(knn, "steps") else knn
                fit_x = np.asarray(est._fit_X, np.float64)
                self._by_class = (knn, by_class(fit_x, np.einsum("ij,ij->i", fit_x, fit_x),
                                                np.asarray(est._y, np.intp), len(est.classes_)))
            asked[key] = class_distances(grids, self._by_class[1])
        return signals(digits, self.classes, proba, np.asarray(logistic.classes_), lp,
                       np.asarray(knn.classes_), kp, asked[key])

    @staticmethod
    def _opinion(other: Any, grids: np.ndarray, asked: dict[Any, np.ndarray]) -> np.ndarray:
        if id(other) not in asked:
            asked[id(other)] = other.predict_proba(grids)
        return asked[id(other)]

    def _agreement(
        self, grids: np.ndarray, digits: np.ndarray, score: np.ndarray, asked: dict[Any, np.ndarray]
    ) -> np.ndarray:
        """``score`` lowered to each opinion's probability for ``digits``; ``asked`` holds
        the probabilities of the opinions already asked about these grids."""
        for other in self.opinions:
            score = np.minimum(score, vote(np.asarray(other.classes_), self._opinion(other, grids, asked), digits))
        return score

    def _calibrated(self, score: np.ndarray) -> np.ndarray:
        if self.calibrator is None or len(score) == 0:
            return score
        return np.asarray(self.calibrator.predict(score), dtype=np.float64)

    def _main_proba(self, grids: np.ndarray) -> np.ndarray:
        """The pipeline's probabilities; after a check on the first batch, by matrix products."""
        if self._fast is None:  # checked once, on the first grids this model sees
            self._fast = fast_predict_proba(self.pipeline, grids[:FAST_PATH_PROBE]) or False
        return self._fast(grids) if self._fast else self.pipeline.predict_proba(grids)


def save_model(model: DigitModel, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a skops file, atomically (temp file + ``os.replace``)."""
    with atomic_write(os.fspath(path), binary=True) as fh:
        data = _parts(model)
        if model.ceiling is not None:
            data["ceiling"] = _parts(model.ceiling)
        import skops.io as sio  # imported when needed: it imports all of scikit-learn

        sio.dump(data, fh)


def _parts(model: DigitModel) -> dict[str, Any]:
    data: dict[str, Any] = {"pipeline": model.pipeline, "metadata": model.metadata}
    if model.opinions:
        data["opinions"] = list(model.opinions)
    if model.calibrator is not None:
        data["calibrator"] = model.calibrator
    return data


def load_model(path: str | os.PathLike[str], allow_pickle: bool = False) -> DigitModel:
    """Load a model file; skops with trusted types only, pickle only if allowed."""
    path = os.fspath(path)
    try:
        if os.stat(path).st_size > MAX_MODEL_BYTES:
            raise ModelError(f"{path} is too large for a model file (over {MAX_MODEL_BYTES // 2**20} MiB)")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if data[:2] == b"PK":
        check_archive(path, data)
        obj = _load_skops(path, data)
    elif allow_pickle:
        obj = _load_pickle(path)
    else:
        raise ModelError(
            f"{path} is not a skops model file; if it is a pickle/joblib file you "
            "trust, pass --allow-pickle (loading a pickle can run arbitrary code)"
        )
    model = _as_model(obj, path)
    model.sha256 = digest
    check_compatible(model)
    if model.ceiling is not None:
        check_compatible(model.ceiling)
    return model


def check_archive(path: str, data: bytes) -> None:
    """Refuse a zip archive that would inflate beyond :data:`MAX_MODEL_BYTES`
    (in sum) or that holds a member compressed suspiciously well; the sizes come
    from the archive's directory, which ``zipfile`` enforces while reading."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelError(f"{path} is not a readable skops file ({exc})") from None
    total = sum(m.file_size for m in members)
    if total > MAX_MODEL_BYTES:
        raise ModelError(
            f"{path} would inflate to {total / 2**20:.0f} MiB (more than "
            f"{MAX_MODEL_BYTES // 2**20} MiB); refusing it as a possible zip bomb"
        )
    for m in members:
        if m.file_size > 2**20 and m.file_size > MAX_MODEL_RATIO * max(1, m.compress_size):
            raise ModelError(
                f"{path}: member {m.filename} inflates {m.file_size // max(1, m.compress_size)} times "
                f"(more than {MAX_MODEL_RATIO}); refusing it as a possible zip bomb"
            )


def _load_skops(path: str, data: bytes) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged archive
        raise ModelError(f"{path} is not a readable skops file ({exc})") from None
    unknown = sorted(set(untrusted) - ALLOWED_TYPES)
    if unknown:
        raise ModelError(
            f"{path} contains types batchdigits does not trust: {', '.join(unknown)}"
        )
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise ModelError(f"{path} could not be loaded ({exc})") from None


def _load_pickle(path: str) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # pickle's reasons for garbage are bare: KeyError(34) says "34"
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, LookupError) or not str(exc) else str(exc)
        raise ModelError(f"{path} is not a pickle/joblib file, or a damaged one ({reason})") from None


def _as_model(obj: Any, path: str, within: str = "") -> DigitModel:
    opinions: list[Any] = []
    calibrator = None
    ceiling = None
    if isinstance(obj, dict) and "ceiling" in obj:
        if within:
            raise ModelError(f"{path}: {within}ceiling must be a model without a ceiling of its own")
        if not isinstance(obj["ceiling"], dict) or "pipeline" not in obj["ceiling"]:
            raise ModelError(f"{path}: the ceiling must be a model (its pipeline, metadata, ...)")
        ceiling = _as_model(obj["ceiling"], path, within="the ceiling's ")
    if isinstance(obj, dict) and "pipeline" in obj:
        pipeline, metadata = obj["pipeline"], dict(obj.get("metadata") or {})
        opinions = list(obj.get("opinions") or [])
        calibrator = obj.get("calibrator")
    else:
        pipeline, metadata = obj, {}
    names = ["the pipeline"] + [f"opinion {i + 1}" for i in range(len(opinions))]
    for name, part in zip(names, [pipeline, *opinions], strict=True):
        check_classifier(part, f"{path}: {within}{name}")
    if calibrator is not None and not hasattr(calibrator, "predict"):
        raise ModelError(f"{path} holds {within or 'a '}calibrator without predict")
    if hasattr(calibrator, "predict_proba") and not _signals_calibrator(calibrator, opinions):
        raise ModelError(f"{path}: {within}calibrator of the signals must be a scaled logistic regression "
                         f"on {N_SIGNALS} values, with a logistic and a k-NN opinion")
    check_metadata(metadata, path)
    return DigitModel(pipeline=pipeline, metadata=metadata, source=path, opinions=opinions,
                      calibrator=calibrator, ceiling=ceiling)


def _signals_calibrator(calibrator: Any, opinions: list[Any]) -> bool:
    """Whether a format-4 calibrator and the opinions are what :meth:`DigitModel._signals` needs."""
    try:
        steps = [type(step).__name__ for step in calibrator]
        parts = [type(o[-1] if hasattr(o, "steps") else o).__name__ for o in opinions]
        return (steps == ["StandardScaler", "LogisticRegression"] and calibrator[0].mean_.shape == (N_SIGNALS,)
                and calibrator[-1].coef_.shape == (1, N_SIGNALS)
                and parts == ["LogisticRegression", "KNeighborsClassifier"])
    except (TypeError, AttributeError, IndexError):
        return False


def check_classifier(part: Any, where: str) -> None:
    """A fitted classifier of 64 grid values into integer digits: the classes 0..9,
    or (a model trained on scans of some digits only, ``train --no-builtin``)
    some of them, in increasing order."""
    if not (hasattr(part, "predict_proba") and hasattr(part, "classes_")):
        raise ModelError(f"{where} is not a fitted classifier with predict_proba")
    classes = np.asarray(part.classes_)
    values = classes.ravel().tolist()
    if (
        classes.dtype.kind not in "iu" or classes.ndim != 1 or not values
        or not set(values) <= set(DIGITS) or values != sorted(set(values))
    ):
        shown = ", ".join(repr(c) for c in values[:12])
        raise ModelError(f"{where} must predict the integer digits 0..9, not [{shown}]")
    features = getattr(part, "n_features_in_", None)
    if not isinstance(features, Integral) or int(features) != N_FEATURES:
        raise ModelError(f"{where} takes {features} input values, not the {N_FEATURES} of an 8x8 grid")


def check_metadata(metadata: dict[str, Any], path: str) -> None:
    """Known metadata keys must have their types (``grid_version`` an int, ...)."""
    for key, types in METADATA_TYPES.items():
        if key not in metadata:
            continue
        value = metadata[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise ModelError(f"{path}: metadata {key!r} must be {wanted}, not {value!r}")
    counts = metadata.get("class_counts")
    if counts is not None and not (
        len(counts) == len(DIGITS) and all(isinstance(c, Integral) and not isinstance(c, bool) for c in counts)
    ):
        raise ModelError(f"{path}: metadata 'class_counts' must be 10 integers, not {counts!r}")


def check_compatible(model: DigitModel) -> None:
    """Refuse a model made for another grid conversion version."""
    version = model.metadata.get("grid_version")
    if version is not None and version != GRID_VERSION:
        raise ModelError(
            f"model {model.source} was trained with grid conversion v{version}, "
            f"this batchdigits uses v{GRID_VERSION}; retrain it with `batchdigits train`"
        )
