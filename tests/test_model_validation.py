"""A model file is checked fully when it is loaded, before any work: its classifiers
predict integer digits from the 64 grid values, its metadata have their types, and
its archive cannot inflate beyond a cap (zip bomb).  Each is exit 2 with one line."""

from __future__ import annotations

import dataclasses
import os
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import batchdigits.run.reading as classify_module
from batchdigits.learn.model import MAX_MODEL_BYTES, ModelError, load_model, save_model
from helpers import one_line_error, run_cli, run_script
from imagemaker import save_digit


def fitted(labels: list, n_features: int = 64) -> LogisticRegression:
    """A small trusted-type classifier fitted to predict ``labels``."""
    rng = np.random.default_rng(0)
    y = np.array([labels[i % len(labels)] for i in range(10 * len(labels))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converging on noise is fine here
        return LogisticRegression(max_iter=20).fit(rng.random((len(y), n_features)) * 16, y)


def bad_model(default_model, tmp_path, **change):
    path = tmp_path / "bad.skops"
    save_model(dataclasses.replace(default_model, **change), path)
    return path


CASES = {
    "class 42": (lambda m: {"pipeline": fitted([*range(9), 42])}, "integer digits 0..9"),
    "class -1": (lambda m: {"pipeline": fitted([-1, *range(9)])}, "integer digits 0..9"),
    "string classes": (lambda m: {"pipeline": fitted([str(d) for d in range(10)])}, "integer digits 0..9"),
    "32 features": (lambda m: {"pipeline": fitted(list(range(10)), 32)}, "32 input values"),
    "grid_version five": (
        lambda m: {"metadata": {**m.metadata, "grid_version": "five"}},
        "'grid_version' must be Integral",
    ),
    "class_counts of 9": (
        lambda m: {"metadata": {**m.metadata, "class_counts": [1] * 9}}, "'class_counts' must be 10",
    ),
    "an opinion with class 42": (
        lambda m: {"opinions": [m.opinions[0], fitted([*range(9), 42])]}, "opinion 2",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_trusted_type_model_is_exit_2_before_any_work(tmp_path, default_model, monkeypatch, case):
    change, reason = CASES[case]
    model = bad_model(default_model, tmp_path, **change(default_model))
    save_digit(tmp_path / "in" / "a.png", "one")
    out = tmp_path / "out.csv"
    converted = []
    monkeypatch.setattr(classify_module, "convert_chunk", lambda tasks: converted.append(tasks))

    result = run_cli("classify", tmp_path / "in", "--out", out, "--model", model, "--jobs", "1")

    assert result.exit_code == 2, result.stderr
    line = one_line_error(result.stderr)
    assert reason in line and str(model) in line
    assert converted == [] and not out.exists()


def test_the_console_script_refuses_a_model_predicting_42(tmp_path, default_model):
    model = bad_model(default_model, tmp_path, pipeline=fitted([*range(9), 42]))
    save_digit(tmp_path / "in" / "a.png", "one")

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "out.csv", "--model", model)

    assert proc.returncode == 2
    assert "must predict the integer digits 0..9, not [0, 1, 2, 3, 4, 5, 6, 7, 8, 42]" in one_line_error(proc.stderr)


def test_a_model_of_some_digits_only_is_accepted(tmp_path, default_model):
    """``train --no-builtin`` on scans of two digits makes such a model."""
    model = bad_model(default_model, tmp_path, pipeline=fitted([0, 1]), opinions=[], calibrator=None)
    assert list(load_model(model).classes) == [0, 1]


def test_a_signals_calibrator_without_the_opinions_it_needs_is_refused(tmp_path, default_model):
    """A format-4 calibrator reads the logistic and k-NN opinions: without them it would crash mid-run."""
    model = bad_model(default_model, tmp_path, opinions=default_model.opinions[:1])

    result = run_cli("classify", tmp_path, "--model", model, "--out", tmp_path / "p.csv")

    assert result.exit_code == 2
    assert "calibrator of the signals must be a scaled logistic regression on 9 values" in result.stderr


def _deflated(info_name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(info_name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


@pytest.mark.parametrize(
    ("size", "reason"), [(MAX_MODEL_BYTES + 2**20, "would inflate to"), (8 * 2**20, "inflates")]
)
def test_a_model_whose_schema_inflates_is_refused_before_skops_reads_it(
    tmp_path, default_model, monkeypatch, size, reason
):
    import skops.io as sio

    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(default_model.source) as old, zipfile.ZipFile(bomb, "w") as new:
        for info in old.infolist():
            if info.filename != "schema.json":
                new.writestr(info, old.read(info.filename))
        with new.open(_deflated("schema.json"), "w", force_zip64=True) as fh:
            block = b" " * 2**20
            for _ in range(size // len(block)):
                fh.write(block)
    assert bomb.stat().st_size < os.path.getsize(default_model.source) + 2**20  # < 1 MB more on disk
    touched = []
    monkeypatch.setattr(sio, "get_untrusted_types", lambda **kw: touched.append(kw))
    monkeypatch.setattr(sio, "loads", lambda *a, **kw: touched.append(a))
    save_digit(tmp_path / "in" / "a.png", "one")

    with pytest.raises(ModelError, match="zip bomb"):
        load_model(bomb)
    result = run_cli("classify", tmp_path / "in", "--out", tmp_path / "o.csv", "--model", bomb, "--jobs", "1")

    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert reason in line and "zip bomb" in line
    assert touched == []
