"""The numpy-only form of a model predicts exactly as the model does, and a run
starts without scikit-learn when that form is cached."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from batchdigits.defaults import DEFAULT_MIN_CONFIDENCE
from batchdigits.image.convert import convert_file
from batchdigits.learn.arrays import ArrayModel, load_arrays, save_arrays
from batchdigits.learn.export import to_arrays
from batchdigits.learn.model import DigitModel, load_model
from batchdigits.learn.modelref import ModelRef, arrays_cache_path, open_model_file
from helpers import run_cli
from imagemaker import save_digit
from test_train import labelled_tree

DIGITS = load_digits()


def varied_grids() -> np.ndarray:
    """Integer grids as the conversion makes them: digits, noisy digits, noise, blank and full."""
    rng = np.random.default_rng(7)
    noisy = np.clip(DIGITS.data[:300] + rng.integers(-4, 5, (300, 64)), 0, 16)
    sparse = rng.integers(0, 17, (200, 64)) * (rng.random((200, 64)) < 0.3)
    return np.concatenate([
        DIGITS.data[:400], noisy, rng.integers(0, 17, (300, 64)), sparse,
        np.zeros((2, 64)), np.full((2, 64), 16.0), np.eye(64)[:8] * 16,
    ]).astype(np.float64)


def assert_same_predictions(model: DigitModel, form: ArrayModel, grids: np.ndarray) -> None:
    # one thread, as a run predicts: scikit-learn's k-NN breaks distance ties by thread layout
    with threadpool_limits(1):
        digits, confidence = model.predict(grids)
    fast_digits, fast_confidence = form.predict(grids)
    np.testing.assert_array_equal(fast_digits, digits)
    np.testing.assert_allclose(fast_confidence, confidence, rtol=0, atol=1e-12)
    np.testing.assert_allclose(form.predict_proba(grids), model.predict_proba(grids), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(form.classes, model.classes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> DigitModel:
    """A model made by ``batchdigits train`` (40 scans of the user's, no built-in set)."""
    tmp = tmp_path_factory.mktemp("trained")
    items = labelled_tree(tmp / "scans", per_digit=4)
    labels = tmp / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows([path, d] for path, d in items)
    result = run_cli("train", "--labels", labels, "--no-builtin", "--out", tmp / "m.skops")
    assert result.exit_code == 0, result.output
    return load_model(tmp / "m.skops")


def test_the_numpy_form_of_the_builtin_model_predicts_exactly_as_it(default_model, tmp_path):
    form = to_arrays(default_model)
    assert form is not None  # a model that loses its numpy form is only slower: this says so
    assert_same_predictions(default_model, form, varied_grids())
    save_arrays(form, tmp_path / "m.npz")
    again = load_arrays(tmp_path / "m.npz")  # allow_pickle=False
    assert_same_predictions(default_model, again, varied_grids()[::7])


def test_the_numpy_form_of_a_trained_and_of_a_capped_model_predicts_exactly_as_they(default_model, trained):
    form = to_arrays(trained)
    assert form is not None and trained.opinions  # no calibrator: trained without the built-in set
    assert_same_predictions(trained, form, varied_grids())
    capped = DigitModel(default_model.pipeline, {}, opinions=default_model.opinions,
                        calibrator=default_model.calibrator, ceiling=trained)
    capped_form = to_arrays(capped)
    assert capped_form is not None
    assert_same_predictions(capped, capped_form, varied_grids())


def test_k_nn_distance_ties_are_broken_as_scikit_learn_breaks_them():
    # training grids at the same distance from the query, of different digits: which of them
    # count among the k nearest is scikit-learn's max-heap's choice, walking them in order
    rng = np.random.default_rng(3)
    base = rng.integers(4, 13, (1, 64)).astype(np.float64)
    X, y = [], []
    for i in range(60):
        grid = base.copy()
        grid[0, rng.choice(64, 2, replace=False)] += rng.choice([-1, 1], 2) * (1 + i % 3)
        X.append(grid[0])
        y.append(i % 10)
    knn = make_pipeline(KNeighborsClassifier(n_neighbors=5)).fit(np.array(X), np.array(y))
    model = DigitModel(knn, {})
    form = to_arrays(model)
    assert form is not None
    queries = np.concatenate([base, base + np.eye(64)[:20], rng.integers(0, 17, (50, 64))])
    with threadpool_limits(1):
        expected = knn.predict_proba(queries)
    np.testing.assert_array_equal(form.predict_proba(queries), expected)


def test_a_model_file_is_validated_once_then_opened_from_its_cached_numpy_form(default_model, tmp_path):
    ref = open_model_file(default_model.source)
    assert isinstance(ref, ModelRef) and ref.sha256 == default_model.sha256
    assert Path(ref.arrays.path) == arrays_cache_path(default_model.sha256)
    assert_same_predictions(default_model, ref.load(), varied_grids()[::5])


COLD = textwrap.dedent("""
    import sys
    from batchdigits.cli.app import app
    try:
        app(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    import batchdigits.learn.arrays as arrays
    heavy = sorted(m for m in ("sklearn", "skops") if m in sys.modules)
    print("CODE", code, "HEAVY", ",".join(heavy) or "-", "LOADED", len(arrays._LOADED))
""")


def cold_run(*args: object) -> str:
    proc = subprocess.run([sys.executable, "-c", COLD, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    return proc.stdout.strip().splitlines()[-1]


def test_classify_and_show_never_import_scikit_learn_and_an_unchanged_rerun_never_loads_the_model(
    default_model, tmp_path
):
    open_model_file(default_model.source)  # the numpy form cached, as after any first run
    scans = tmp_path / "scans"
    for i in range(6):
        save_digit(scans / f"s{i}.png", ["one", "zero", "blank"][i % 3], size=(40 + 4 * i, 56))
    out = tmp_path / "p.csv"
    assert cold_run("classify", scans, "-o", out, "--incremental", "--jobs", "1", "--quiet") == \
        "CODE 0 HEAVY - LOADED 1"
    first = out.read_bytes()
    assert cold_run("classify", scans, "-o", out, "--incremental", "--jobs", "1", "--quiet") == \
        "CODE 0 HEAVY - LOADED 0"  # every file unchanged: the model is never read
    assert out.read_bytes() == first
    assert cold_run("show", scans / "s0.png").startswith("CODE 0 HEAVY - ")
    # and the rows are the model's own readings
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = []
    for i in range(6):
        grid, _ = convert_file(str(scans / f"s{i}.png"))
        if grid is None:
            expected.append(("", "", "blank"))
            continue
        with threadpool_limits(1):
            digit, conf = default_model.predict(grid.reshape(1, 64))
        status = "ok" if conf[0] >= DEFAULT_MIN_CONFIDENCE else "low_confidence"
        expected.append((str(digit[0]), f"{conf[0]:.6f}", status))
    assert [(r["label"], r["confidence"], r["status"]) for r in rows] == expected
