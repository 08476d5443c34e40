"""A skops model file holding a type batchdigits does not trust is refused before anything
of it is built: exit 2 and one line naming the type."""

from __future__ import annotations

import dataclasses
import os

import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from batchdigits.learn.model import save_model
from helpers import one_line_error, run_cli, run_script
from imagemaker import save_digit

BUILT: list[str] = []


class Sneaky(BaseEstimator, TransformerMixin):
    """A custom step: building it when the file is loaded would leave a trace."""

    def __setstate__(self, state):
        BUILT.append("Sneaky")
        self.__dict__.update(state)

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def hostile_model(default_model, step, path):
    """The built-in model with ``step`` put in front of its pipeline, saved with skops."""
    pipeline = make_pipeline(step, default_model.pipeline)
    save_model(dataclasses.replace(default_model, pipeline=pipeline), path)
    return path


@pytest.mark.parametrize(
    ("step", "type_name"),
    [(FunctionTransformer(os.system), "posix.system"), (Sneaky(), f"{__name__}.Sneaky")],
)
def test_a_model_with_an_untrusted_type_is_refused_with_exit_2(tmp_path, default_model, step, type_name):
    model = hostile_model(default_model, step, tmp_path / "hostile.skops")
    assert type_name in sio.get_untrusted_types(file=model)  # the file really holds it
    save_digit(tmp_path / "in" / "a.png", "one")
    out = tmp_path / "out.csv"
    BUILT.clear()

    result = run_cli("classify", tmp_path / "in", "--out", out, "--model", model, "--jobs", "1")

    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert "does not trust" in line and type_name in line
    assert BUILT == []
    assert not out.exists()


def test_the_console_script_refuses_it_too(tmp_path, default_model):
    model = hostile_model(default_model, FunctionTransformer(os.system), tmp_path / "hostile.skops")
    save_digit(tmp_path / "in" / "a.png", "one")

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "out.csv", "--model", model)

    assert proc.returncode == 2
    line = one_line_error(proc.stderr)
    assert "does not trust" in line and "posix.system" in line
