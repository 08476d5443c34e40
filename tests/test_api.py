"""The Python API: ``classify_folder`` returns a Report that agrees with the CSV."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import batchdigits
from batchdigits import Report, Settings, classify_folder, read_rows
from helpers import read_csv
from imagemaker import save_digit


def mixed_folder(folder):
    save_digit(folder / "one.png", "one")
    save_digit(folder / "one-rgb.jpg", "one", "RGB")
    save_digit(folder / "sub" / "zero.png", "zero")
    save_digit(folder / "sub" / "blank.png", "blank")
    (folder / "sub" / "bad.png").write_text("nope")
    (folder / "notes.txt").write_text("skip")
    (folder / "data.csv").write_text("skip")
    return folder


def test_classify_folder_report_matches_the_csv(tmp_path):
    folder = mixed_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    report = classify_folder(folder, out=out, settings=Settings(jobs=1))

    assert isinstance(report, Report)
    rows = read_csv(out)
    statuses = Counter(r["status"] for r in rows)
    assert report.counts == {s: statuses.get(s, 0) for s in ("ok", "low_confidence", "blank", "error", "reviewed")}
    assert report.found == len(rows) == 5
    assert report.classified == statuses["ok"] + statuses["low_confidence"] == 3
    assert report.skipped == 2
    labels = Counter(int(r["label"]) for r in rows if r["label"])
    assert {d: n for d, (n, _) in report.per_digit.items()} == dict(labels)
    assert report.errors == [(r["path"], r["error"]) for r in rows if r["status"] == "error"]
    assert report.exit_code() == 1
    summary = report.as_dict()
    assert summary["found"] == 5 and summary["skipped"] == 2 and summary["output"] == str(out)
    assert sum(summary["digits"].values()) == report.classified


def test_read_rows_reads_what_classify_folder_wrote(tmp_path):
    folder = mixed_folder(tmp_path / "in")
    out = tmp_path / "out.csv"
    report = classify_folder(folder, out=out, settings=Settings(jobs=1))

    rows = read_rows(str(out))

    assert [row.path for row in rows] == [r["path"] for r in read_csv(out)]
    assert Counter(row.status for row in rows) == Counter({k: v for k, v in report.counts.items() if v})


def test_classify_folder_without_output_writes_nothing(tmp_path, monkeypatch):
    folder = mixed_folder(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    seen = []

    report = classify_folder(folder, out=None, settings=Settings(jobs=1), on_row=seen.append)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert report.found == len(seen) == 5
    assert [row.path for row in seen] == sorted(row.path for row in seen)


def test_large_files_go_to_workers_in_smaller_chunks(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    import batchdigits.run.pipeline as classify
    import batchdigits.run.reading as reading

    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(100):
        save_digit(folder / f"a{i:03d}.png")
    for i in range(12):  # about 190 KiB each: noise does not compress
        noise = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / f"b{i:03d}.png")
    seen: list[list[str]] = []
    convert_chunk = reading.convert_chunk

    def recording(tasks):
        seen.append([t.path for t in tasks])
        return convert_chunk(tasks)

    monkeypatch.setattr(reading, "convert_chunk", recording)
    report = classify_folder(folder, out=tmp_path / "out.csv", settings=Settings(jobs=1))
    assert report.found == 112
    flat = [p for chunk in seen for p in chunk]
    assert flat == sorted(str(p) for p in folder.iterdir())  # every file once, in order
    # a chunk closes once its files are worth its budget: one unit each, one more per 16 KiB
    # (the noise PNGs, about 196 KiB: 13 units each); the budgets are 64, 128, then 8 x 64 units
    assert seen[0] == [str(folder / f"a{i:03d}.png") for i in range(64)]
    units = [[1 + os.path.getsize(p) // classify.CHUNK_BYTES_PER_UNIT for p in chunk] for chunk in seen]
    budgets = [64, 128] + [512] * len(seen)
    assert all(sum(u[:-1]) < budget <= sum(u) for u, budget in zip(units[:-1], budgets, strict=False))
    assert [len(c) for c in seen] == [64, 36 + 8, 4] and units[1][-1] == 13


def test_classify_folder_and_settings_take_keywords_only(tmp_path):
    folder = mixed_folder(tmp_path / "in")
    with pytest.raises(TypeError):
        classify_folder(folder, tmp_path / "out.csv")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Settings(512, 1)  # type: ignore[misc]
    assert not (tmp_path / "out.csv").exists()
    assert Settings(jobs=1, batch_size=8).batch_size == 8


class _ShortAnswers:
    """A model that answers one grid fewer than it was asked about."""

    source, sha256 = "short", "0" * 64

    def __init__(self, model):
        self._model = model

    def predict(self, grids):
        digits, confidence = self._model.predict(grids)
        return digits[:-1], confidence[:-1]


def test_a_model_answering_too_few_grids_is_an_error_not_blank_rows(tmp_path, default_model):
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "b.png", "zero")
    # zip(..., strict=True): before, the last grid silently became a "blank" row
    with pytest.raises(ValueError, match="shorter"):
        classify_folder(folder, out=None, model=_ShortAnswers(default_model), settings=Settings(jobs=1))


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(Path(batchdigits.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    return {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names if node.module}


def test_the_public_names_are_typed_for_type_checkers():
    """Each lazily loaded name is also imported under TYPE_CHECKING, from the module that serves it."""
    assert _type_checking_imports() == dict(batchdigits._EXPORTS)
    assert sorted(batchdigits.__all__) == sorted(batchdigits._EXPORTS)
    for name in batchdigits.__all__:
        assert getattr(batchdigits, name) is getattr(importlib.import_module(
            f"batchdigits.{batchdigits._EXPORTS[name]}"), name)


def test_mypy_sees_the_real_signatures(tmp_path):
    """Through ``__getattr__`` alone, mypy typed every public name ``Any`` (and passed wrong calls)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from batchdigits import Settings, classify_folder\n"
        "reveal_type(classify_folder)\n"
        "classify_folder('scans', 'out.csv')\n"
        "Settings(512)\n"
    )
    root = Path(batchdigits.__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
         "--no-incremental", "--config-file", os.devnull, str(probe)],
        capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(root)}, cwd=tmp_path,
    )
    assert 'Revealed type is "def (folder: ' in proc.stdout, proc.stdout + proc.stderr
    assert "-> batchdigits.run.report.Report" in proc.stdout
    assert proc.stdout.count("Too many positional arguments") == 2, proc.stdout
