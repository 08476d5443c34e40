"""Atomic output: a failed run leaves the old CSV as it was; ``--out -`` is pure data."""

from __future__ import annotations

import dataclasses

import pytest

from batchdigits import classify_folder
from batchdigits.run.pipeline import CHUNK_SIZE, Settings
from batchdigits.learn.model import DigitModel
from helpers import one_line_error, parse_csv, read_csv, run_cli, run_script
from imagemaker import save_digit

OLD_CSV = b"path,label,confidence,status,error\nold.png,7,0.9000,ok,\n"


def two_chunk_folder(folder):
    """Enough images for more than one batch even with batch_size=1."""
    for i in range(CHUNK_SIZE + 8):
        save_digit(folder / f"img{i:03d}.png", "one" if i % 2 else "zero")
    return folder


def temp_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def failing_after_first_batch(model: DigitModel, exc: BaseException):
    calls = []
    real = model.predict

    def predict(grids):
        calls.append(len(grids))
        if len(calls) > 1:
            raise exc
        return real(grids)

    broken = dataclasses.replace(model)
    broken.predict = predict  # instance attribute shadows the method
    return broken, calls


def test_failed_run_leaves_the_existing_csv_untouched(tmp_path, default_model):
    folder = two_chunk_folder(tmp_path / "in")
    out = tmp_path / "predictions.csv"
    out.write_bytes(OLD_CSV)
    broken, calls = failing_after_first_batch(default_model, RuntimeError("model crashed"))
    written = []

    with pytest.raises(RuntimeError, match="model crashed"):
        classify_folder(
            folder, out=out, model=broken, settings=Settings(jobs=1, batch_size=1),
            on_row=written.append,
        )

    assert len(calls) == 2 and len(written) == calls[0]  # failed part-way
    assert out.read_bytes() == OLD_CSV
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [(RuntimeError("model crashed"), 70, "internal error"), (KeyboardInterrupt(), 130, "interrupted")],
)
def test_cli_run_failing_part_way_keeps_the_old_csv(tmp_path, monkeypatch, default_model, exc, code, message):
    folder = two_chunk_folder(tmp_path / "in")
    out = tmp_path / "predictions.csv"
    out.write_bytes(OLD_CSV)
    calls = []
    real = DigitModel.predict

    def predict(self, grids):
        calls.append(len(grids))
        if len(calls) > 1:
            raise exc
        return real(self, grids)

    monkeypatch.setattr(DigitModel, "predict", predict)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--batch-size", "1")

    assert result.exit_code == code
    assert message in one_line_error(result.stderr)
    assert len(calls) == 2
    assert out.read_bytes() == OLD_CSV
    assert temp_files(tmp_path) == []


def test_successful_run_replaces_the_csv_and_leaves_no_temp_file(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    out = tmp_path / "predictions.csv"
    out.write_bytes(OLD_CSV)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0
    assert [r["path"] for r in read_csv(out)] == ["one.png"]
    assert temp_files(tmp_path) == []


def folder_for_stdout(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "sub" / "zero.png", "zero")
    (folder / "bad.png").write_text("not an image")
    return folder


def test_out_dash_writes_only_the_csv_to_stdout_in_process(tmp_path, monkeypatch):
    folder = folder_for_stdout(tmp_path)
    monkeypatch.chdir(tmp_path)
    reference = tmp_path / "reference.csv"
    run_cli("classify", folder, "--out", reference, "--jobs", "1")

    result = run_cli("classify", folder, "--out", "-", "--jobs", "1")

    assert result.exit_code == 1  # bad.png
    assert result.stdout == reference.read_text(encoding="utf-8")
    assert [r["path"] for r in parse_csv(result.stdout)] == ["bad.png", "one.png", "sub/zero.png"]
    assert "image files found" in result.stderr
    assert not (tmp_path / "predictions.csv").exists()


def test_out_dash_writes_only_the_csv_to_stdout_from_the_console_script(tmp_path):
    folder = folder_for_stdout(tmp_path)
    reference = tmp_path / "reference.csv"
    run_cli("classify", folder, "--out", reference, "--jobs", "1")

    proc = run_script("classify", folder, "--out", "-", "--jobs", "1", cwd=tmp_path)

    assert proc.returncode == 1
    assert proc.stdout == reference.read_text(encoding="utf-8")
    assert "image files found" in proc.stderr
    assert not (tmp_path / "predictions.csv").exists()  # the default --out was not used
