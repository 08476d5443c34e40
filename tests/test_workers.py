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
    monkeypatch.setattr(reading, "predict_quietly", no_prediction_here)  # pipeline.predict_here's too
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
    monkeypatch.setattr(reading, "predict_quietly", no_prediction_here)  # pipeline.predict_here's too
    out = tmp_path / "workers.csv"
    report = classify_folder(folder, out=out, model=default_model, settings=Settings(jobs=2), adapt=True)
    assert report.adaptation is not None and report.found == 12
    assert out.read_bytes() == local.read_bytes()
    assert np.all([r["status"] in ("ok", "low_confidence") for r in read_csv(out)])


def test_a_worker_answers_a_chunk_with_a_few_lists_not_an_object_per_file(tmp_path, default_model):
    """``read_chunk`` takes a file as its path alone, or as a Task when more is asked, and
    answers the chunk as one ``Readings``: what crosses back to the main process is a few
    objects whatever the chunk's size (unpickling one object per file cost the main process
    more than anything else it did with a worker's answer)."""
    import hashlib
    import pickle
    import pickletools

    from batchdigits.image.convert import Task
    from batchdigits.run.pipeline import numpy_form

    folder = scans(tmp_path / "in", 3)
    (folder / "z-bad.png").write_bytes(b"not an image")
    files = [str(p) for p in sorted(folder.iterdir())]
    items = [files[0], Task(files[1], want_sha256=True), Task(files[2], "not a regular file"), files[3]]
    form = numpy_form(default_model)

    data = pickle.dumps(reading.read_chunk(items, form), protocol=pickle.HIGHEST_PROTOCOL)
    answer = pickle.loads(data)

    assert isinstance(answer, reading.Readings) and len(answer) == 4
    objects = sum(op.name in ("BUILD", "REDUCE", "NEWOBJ", "NEWOBJ_EX") for op, _, _ in pickletools.genops(data))
    assert objects <= 2  # the Readings itself: no object per file
    got = list(answer)
    assert got == [reading.read_chunk([item], form)[0] for item in items]  # the same as one file at a time
    assert got[0].digit in (0, 1) and 0 < got[0].confidence <= 1 and got[0].sha256 == ""
    assert got[1].sha256 == hashlib.sha256(open(files[1], "rb").read()).hexdigest()
    assert (got[2].digit, got[2].error) == (None, "not a regular file")
    assert got[3].digit is None and got[3].error
    assert [answer[i] for i in range(4)] == got


def test_a_dask_cluster_gets_tasks_of_up_to_1024_files(tmp_path, default_model, monkeypatch):
    """distributed costs the client about 5 ms of CPU per task whatever its size, so a
    cluster gets tasks of up to ``MAX_SLOTS`` files (``DASK_CHUNK_SIZE`` units); local workers get ``CHUNK_SIZE``,
    then twice that, then ``CHUNK_GROWTH`` times that (a long run pays per task less often)."""
    from batchdigits.io.files import walk

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(1100):
        (folder / f"f{i:04d}.png").write_bytes(b"")  # never read here: only stat'ed
    sent: dict[str, list[int]] = {}

    def recording(func, chunks, jobs, backend="loky", *args, **kwargs):
        for chunk in chunks:
            sent.setdefault(backend, []).append(len(chunk))
            yield [reading.worker_died(item) for item in chunk]

    monkeypatch.setattr(pipeline, "map_ordered", recording)
    for backend in ("loky", "dask"):
        rows = list(pipeline.iter_rows(walk(str(folder)), default_model, Settings(backend=backend)))
        assert len(rows) == 1100

    assert pipeline.CHUNK_SIZE == 64 and pipeline.CHUNK_GROWTH == 8
    assert sent == {"loky": [64, 128, 512, 396], "dask": [1024, 76]}
    assert pipeline.MAX_SLOTS == 1024 and pipeline.DASK_CHUNK_SIZE == 2048
