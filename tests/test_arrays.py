"""The numpy-only form of a model predicts exactly as the model does, and a run
starts without scikit-learn when that form is cached."""

from __future__ import annotations

import csv
import math
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
import batchdigits.learn.arrays as arrays_module
from batchdigits.learn.arrays import ArrayModel, _knn_proba, load_arrays, save_arrays
from batchdigits.learn.export import to_arrays
from batchdigits.learn.model import DigitModel, load_model
from batchdigits.learn.modelref import ModelRef, arrays_cache_path, open_model_file
from batchdigits.learn.nearest import Neighbours, heap_neighbours
from batchdigits.learn.signals import by_class, class_distances
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


def tied_grids(fit_x: np.ndarray) -> np.ndarray:
    """Integer grids at equal distances from several training grids: training grids
    themselves (duplicates among them), and grids one or two steps off them."""
    rng = np.random.default_rng(11)
    some = fit_x[rng.choice(len(fit_x), 150, replace=False)]
    step = np.eye(64)[rng.integers(0, 64, 150)] * rng.choice([-1, 1], (150, 1))
    return np.clip(np.concatenate([some, some + step, some + 2 * step, (some + some[::-1]) // 2]), 0, 16)


def every_answer(form: ArrayModel, grids: np.ndarray) -> list[np.ndarray]:
    """What ``form`` says of ``grids``: by chunks of 64 and at once, probabilities, signals."""
    with threadpool_limits(1):
        answers = [part for start in range(0, len(grids), 64) for part in form.predict(grids[start : start + 64])]
        return [*answers, *form.predict(grids), form.predict_proba(grids), *form.predict_signals(grids)]


def test_the_float32_search_of_integer_grids_gives_the_float64_forms_bits(default_model, monkeypatch):
    # integer grids go through nearest.py (float32 products, grouped candidates, kernel
    # table); with integer_bound refusing every grid the float64 code answers instead:
    # digits, confidences, probabilities and signals must be the same bits, not just close
    form = to_arrays(default_model)
    assert form is not None
    grids = np.concatenate([varied_grids(), tied_grids(form.arrays["op1.fit_x"])])
    searched = []
    search = Neighbours.search
    monkeypatch.setattr(Neighbours, "search", lambda self, *args: searched.append(1) or search(self, *args))
    fast = every_answer(form, grids)
    assert searched  # the float32 path was taken
    monkeypatch.setattr(arrays_module, "integer_bound", lambda x: math.inf)
    slow = every_answer(form, grids)
    assert len(fast) == len(slow)
    for mine, theirs in zip(fast, slow, strict=True):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs)


def test_grids_that_are_not_small_integers_are_predicted_in_float64_as_scikit_learn_does(default_model):
    form = to_arrays(default_model)
    assert form is not None
    grids = varied_grids()[::4]
    odd = np.concatenate([grids * 0.5 + 0.25, grids[:20] * 1000.0, grids[:20] + 1e-9])  # fractions, far grids
    assert arrays_module.integer_bound(odd) == math.inf or arrays_module.integer_bound(odd) > 1000
    assert_same_predictions(default_model, form, odd)


def test_the_grouped_search_agrees_with_the_full_one_on_a_small_k_nn():
    # a few training grids per class (groups shrink so that there are k of them), a class
    # with none, many ties: the k-NN's probabilities and the class distances, bit for bit
    rng = np.random.default_rng(5)
    for trial in range(20):
        n_train = int(rng.integers(5, 40))
        fit_x = rng.integers(0, 4, (n_train, 64)).astype(np.float64)
        labels = rng.integers(0, 4, n_train)  # classes 0..3 of 5: class 4 never
        norms = np.einsum("ij,ij->i", fit_x, fit_x)
        k = int(rng.integers(1, min(n_train, 7) + 1))
        index = Neighbours.build(fit_x, norms, labels, 5, k)
        assert index is not None and index.limit > 16
        x = np.concatenate([rng.integers(0, 4, (30, 64)), fit_x[:5]]).astype(np.float64)
        proba, distances = index.search(x.astype(np.float32), np.einsum("ij,ij->i", x, x))
        arrays = {"fit_x": fit_x, "labels": labels, "norms": norms, "k": np.asarray(k), "classes": np.arange(5)}
        assert np.array_equal(proba, _knn_proba(arrays, "", x)), trial
        assert np.array_equal(distances, class_distances(x, by_class(fit_x, norms, labels, 5))), trial
    assert Neighbours.build(fit_x + 0.5, norms, labels, 5, 3) is None  # not integers: no float32 search


def reference_heap(distances: np.ndarray, k: int) -> list[int]:
    """scikit-learn's ``heap_push`` over every training grid, in order (no filtering)."""
    values, indices = [math.inf] * k, [0] * k
    for j, val in enumerate(distances.tolist()):
        if val >= values[0]:
            continue
        current = 0
        while True:
            left, right = 2 * current + 1, 2 * current + 2
            if left >= k:
                break
            if right >= k or values[left] >= values[right]:
                swap = left if val < values[left] else -1
            else:
                swap = right if val < values[right] else -1
            if swap < 0:
                break
            values[current], indices[current] = values[swap], indices[swap]
            current = swap
        values[current], indices[current] = val, j
    return indices


def test_the_filtered_heap_replay_keeps_the_grids_the_full_heap_keeps():
    rng = np.random.default_rng(2)
    for trial in range(200):
        n, k = int(rng.integers(1, 3000)), int(rng.integers(1, 9))
        distances = rng.integers(0, int(rng.integers(1, 30)), n).astype(np.float64)  # ties everywhere
        assert heap_neighbours(distances, k).tolist() == reference_heap(distances, k), trial


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
