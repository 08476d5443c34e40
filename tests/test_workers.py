"""The workers read a file all the way to its row: the main process walks, merges and writes."""

from __future__ import annotations

import numpy as np

import batchdigits.run.pipeline as pipeline
import batchdigits.run.reading as reading
from batchdigits import Settings, classify_folder
from batchdigits.learn.arrays import ArrayModel
from batchdigits.learn.model import DigitModel
from helpers import read_csv
from imagemaker import save_digit


def no_prediction_here(*_args, **_kwargs):
    raise AssertionError("the main process predicted")


def scans(folder, n=14):
    for i in range(n):
        save_digit(folder / f"s{i:02d}.png", ["one", "zero"][i % 2], size=(40 + i, 56))
    return folder


def test_the_workers_predict_and_the_main_process_only_merges_and_writes(tmp_path, default_model, monkeypatch):
    folder = scans(tmp_path / "in")
    local = tmp_path / "local.csv"
    classify_folder(folder, out=local, model=default_model, settings=Settings(jobs=1))
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 3)  # several chunks: the local workers start
    # in this process no model may predict any more; the worker processes import their own modules
    monkeypatch.setattr(ArrayModel, "predict", no_prediction_here)
    monkeypatch.setattr(DigitModel, "predict", no_prediction_here)
    monkeypatch.setattr(pipeline, "predict_quietly", no_prediction_here)
    out = tmp_path / "workers.csv"
    report = classify_folder(folder, out=out, model=default_model, settings=Settings(jobs=2))
    assert report.counts["ok"] + report.counts.get("low_confidence", 0) == 14
    assert out.read_bytes() == local.read_bytes()
    assert {r["label"] for r in read_csv(out)} <= {"0", "1"}


def test_adapt_predicts_its_second_pass_in_the_workers(tmp_path, default_model, monkeypatch):
    folder = scans(tmp_path / "in", 12)
    local = tmp_path / "local.csv"
    classify_folder(folder, out=local, model=default_model, settings=Settings(jobs=1), adapt=True)
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 3)
    # every row's prediction goes through predict_quietly (here: a model without a numpy form);
    # the adapted model's numpy form is still checked here against it, on probe grids
    monkeypatch.setattr(pipeline, "predict_quietly", no_prediction_here)
    monkeypatch.setattr(reading, "predict_quietly", no_prediction_here)
    out = tmp_path / "workers.csv"
    report = classify_folder(folder, out=out, model=default_model, settings=Settings(jobs=2), adapt=True)
    assert report.adaptation is not None and report.found == 12
    assert out.read_bytes() == local.read_bytes()
    assert np.all([r["status"] in ("ok", "low_confidence") for r in read_csv(out)])
