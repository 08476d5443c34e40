"""The matrix-product path for the calibrated SVC gives scikit-learn's own probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from batchdigits.learn.fastsvc import fast_predict_proba
from batchdigits.learn.model import DigitModel
from batchdigits.learn.builtin import get_default_model
from batchdigits.learn.fit import make_classifier

DIGITS = load_digits()


def test_the_builtin_model_gets_the_fast_path_and_the_same_probabilities():
    pipeline = get_default_model().pipeline
    probe, rest = DIGITS.data[:64], DIGITS.data[64:600]
    fast = fast_predict_proba(pipeline, probe)
    assert fast is not None
    np.testing.assert_allclose(fast(rest), pipeline.predict_proba(rest), rtol=0, atol=1e-9)
    noisy = np.random.default_rng(0).integers(0, 17, (200, 64)).astype(float)  # far from any digit
    np.testing.assert_allclose(fast(noisy), pipeline.predict_proba(noisy), rtol=0, atol=1e-9)


def test_digit_model_predictions_equal_scikit_learn_batch_after_batch():
    model = get_default_model()
    fresh = DigitModel(model.pipeline, model.metadata, opinions=model.opinions)
    for start in range(0, 900, 300):  # the first batch checks, the next ones use the fast path
        grids = DIGITS.data[start : start + 300]
        digits, confidence = fresh.predict(grids)
        proba = model.pipeline.predict_proba(grids)
        np.testing.assert_array_equal(digits, model.classes[proba.argmax(axis=1)])
        assert np.all(confidence <= proba.max(axis=1) + 1e-12)
    assert callable(fresh._fast)


def test_other_classifiers_and_scaled_svcs_are_handled():
    X, y = DIGITS.data[:400], DIGITS.target[:400]
    logistic = make_classifier("logistic").fit(X, y)
    assert fast_predict_proba(logistic, X[:50]) is None  # not an SVC: scikit-learn does it
    scaled = make_pipeline(MinMaxScaler(), make_classifier("svc")[-1]).fit(X, y)  # a scaler in front
    fast = fast_predict_proba(scaled, X[:50])
    assert fast is not None
    np.testing.assert_allclose(fast(DIGITS.data[400:700]), scaled.predict_proba(DIGITS.data[400:700]), atol=1e-9)


def test_a_result_that_differs_from_scikit_learn_disables_the_fast_path(monkeypatch):
    import batchdigits.learn.fastsvc as fastsvc

    pipeline = make_classifier("svc").fit(DIGITS.data[:300], DIGITS.target[:300])
    assert fast_predict_proba(pipeline, DIGITS.data[:40]) is not None
    exact = fastsvc._svc_decision

    def swapped_pairs(svc):  # what a changed libsvm coefficient layout would look like
        decision = exact(svc)
        return lambda x: decision(x)[:, ::-1]

    monkeypatch.setattr(fastsvc, "_svc_decision", swapped_pairs)
    assert fast_predict_proba(pipeline, DIGITS.data[:40]) is None
    model = DigitModel(pipeline)
    digits, _ = model.predict(DIGITS.data[300:400])  # falls back to scikit-learn
    np.testing.assert_array_equal(digits, pipeline.predict(DIGITS.data[300:400]))
    assert model._fast is False
