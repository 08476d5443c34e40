"""The built-in model is built once, cached under $XDG_CACHE_HOME, and
$BATCHDIGITS_MODEL replaces it."""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

import batchdigits.learn.builtin
import batchdigits.learn.train
from batchdigits.image.grid import GRID_VERSION
from batchdigits.learn.model import DigitModel, save_model
from batchdigits.learn.builtin import default_model_path, get_default_model
from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit


def test_session_model_lives_in_the_test_cache():
    cache = Path(os.environ["XDG_CACHE_HOME"])
    path = default_model_path()

    assert path.is_file()
    assert path.parent == cache / "batchdigits"
    assert path.name.startswith("default-") and path.suffix == ".skops"


def test_cached_default_model_is_reused_without_retraining(monkeypatch, default_model):
    def no_training():
        raise AssertionError("the cached model should have been used")

    monkeypatch.setattr(batchdigits.learn.train, "train_builtin", no_training)  # imported when needed

    model = get_default_model()

    assert model.source == str(default_model_path())
    grids = np.random.default_rng(0).integers(0, 17, size=(5, 64))
    np.testing.assert_allclose(model.predict_proba(grids), default_model.predict_proba(grids))


def test_console_script_builds_the_model_in_a_fresh_cache(first_run):
    """The session's first run (conftest.py) started with an empty cache."""
    assert first_run.before == []
    assert first_run.proc.returncode == 0, first_run.proc.stderr
    assert "building the built-in model" in first_run.proc.stderr
    built = [name for name in first_run.after if fnmatch(name, "batchdigits/default-*.skops")]
    assert built == [str(default_model_path().relative_to(first_run.cache))]
    assert [r["path"] for r in read_csv(first_run.out)] == ["one.png"]


def test_later_console_script_runs_reuse_the_cached_model(tmp_path, first_run):
    save_digit(tmp_path / "in" / "one.png", "one")
    model_file = default_model_path()
    stamp = model_file.stat().st_mtime_ns

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "out.csv", "--jobs", "1")

    assert proc.returncode == 0, proc.stderr
    assert "building" not in proc.stderr
    assert model_file.stat().st_mtime_ns == stamp
    assert (tmp_path / "out.csv").read_bytes() == first_run.out.read_bytes()


@pytest.fixture
def always_three(tmp_path) -> Path:
    """A model that answers 3 for every grid (one class only)."""
    knn = KNeighborsClassifier(n_neighbors=1).fit(np.zeros((2, 64)), [3, 3])
    path = tmp_path / "always-three.skops"
    save_model(DigitModel(knn, {"grid_version": GRID_VERSION}), path)
    return path


def test_batchdigits_model_env_is_honoured_by_get_default_model(monkeypatch, always_three):
    monkeypatch.setenv("BATCHDIGITS_MODEL", str(always_three))

    model = get_default_model()

    assert model.source == str(always_three)
    assert list(model.classes) == [3]


def test_batchdigits_model_env_is_honoured_by_the_cli(tmp_path, monkeypatch, always_three):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "zero.png", "zero")
    out = tmp_path / "out.csv"
    monkeypatch.setenv("BATCHDIGITS_MODEL", str(always_three))

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    assert [(r["label"], r["confidence"]) for r in read_csv(out)] == [("3", "1.000000")] * 2


def test_batchdigits_model_env_naming_a_missing_file_is_exit_2(tmp_path, monkeypatch):
    save_digit(tmp_path / "in" / "one.png", "one")
    monkeypatch.setenv("BATCHDIGITS_MODEL", str(tmp_path / "gone.skops"))

    result = run_cli("classify", tmp_path / "in", "--out", tmp_path / "out.csv")

    assert result.exit_code == 2
    assert "gone.skops" in one_line_error(result.stderr)


def test_models_cached_for_other_versions_are_removed(tmp_path):
    from batchdigits.learn.builtin import remove_outdated_models

    current = tmp_path / "default-g5-f2-sk1.9.1.skops"
    current.write_bytes(b"PK current")
    stale = [tmp_path / "default-g4-f2-sk1.9.1.skops", tmp_path / "default-g5-f1-sk1.8.0.skops"]
    for path in stale:
        path.write_bytes(b"PK old")
    mine = tmp_path / "my-model.skops"  # the user's own files stay
    mine.write_bytes(b"PK mine")
    assert sorted(remove_outdated_models(current)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([current.name, mine.name])
