"""Exit codes 0, 1 and 2, and the one-line messages of unusable runs."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import joblib
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from batchdigits.learn.model import DigitModel, save_model
from helpers import deny_access, one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "zero.png", "zero")
    return folder


@pytest.fixture(scope="module")
def pickle_model(tmp_path_factory):
    digits = load_digits()
    clf = LogisticRegression(max_iter=500).fit(digits.data[::2], digits.target[::2])
    path = tmp_path_factory.mktemp("models") / "logistic.joblib"
    joblib.dump(clf, path)
    return path


def test_exit_0_when_every_file_is_ok_low_confidence_or_blank(folder, tmp_path):
    save_digit(folder / "empty.png", "blank")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    found = {r["status"] for r in read_csv(out)}
    assert "blank" in found and found <= {"ok", "low_confidence", "blank"}


def test_exit_0_and_a_header_only_csv_for_a_folder_without_images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8") == "path,label,confidence,status,error\n"


def test_exit_1_when_some_files_are_errors(folder, tmp_path):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 1
    assert [r["status"] for r in read_csv(out)].count("error") == 1


def missing_folder(c):
    return ["classify", c.tmp_path / "no-such-folder", "--out", c.out]


def file_as_folder(c):
    return ["classify", c.folder / "one.png", "--out", c.out]


def output_in_missing_directory(c):
    return ["classify", c.folder, "--out", c.tmp_path / "no-such-dir" / "out.csv"]


def output_is_a_directory(c):
    (c.tmp_path / "outdir").mkdir()
    return ["classify", c.folder, "--out", c.tmp_path / "outdir"]


def missing_model_file(c):
    return ["classify", c.folder, "--out", c.out, "--model", c.tmp_path / "nope.skops"]


def pickle_without_allow(c):
    return ["classify", c.folder, "--out", c.out, "--model", c.pickle_model]


def wrong_grid_version(c):
    path = c.tmp_path / "future.skops"
    meta = {**c.default_model.metadata, "grid_version": 999}
    save_model(DigitModel(c.default_model.pipeline, meta), path)
    return ["classify", c.folder, "--out", c.out, "--model", path]


USAGE_CASES = [
    pytest.param(missing_folder, "folder not found", id="missing-folder"),
    pytest.param(file_as_folder, "not a folder", id="file-as-folder"),
    pytest.param(output_in_missing_directory, "does not exist", id="output-in-missing-dir"),
    pytest.param(output_is_a_directory, "is a folder", id="output-is-a-directory"),
    pytest.param(missing_model_file, "model file not found", id="missing-model"),
    pytest.param(pickle_without_allow, "--allow-pickle", id="pickle-without-allow"),
    pytest.param(wrong_grid_version, "v999", id="wrong-grid-version"),
]


@pytest.mark.parametrize(("setup", "phrase"), USAGE_CASES)
def test_exit_2_with_one_clear_line(tmp_path, folder, pickle_model, default_model, setup, phrase):
    out = tmp_path / "out.csv"
    args = setup(SimpleNamespace(**locals()))

    result = run_cli(*args)

    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert line.startswith("batchdigits: error: ")
    assert phrase in line
    assert result.stdout == ""
    assert not out.exists()


def test_exit_2_for_an_unwritable_output_directory(tmp_path, folder, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    deny_access(monkeypatch, read_only=[locked])  # as chmod 555 does, for root too

    result = run_cli("classify", folder, "--out", locked / "out.csv")

    assert result.exit_code == 2
    assert "cannot write to" in one_line_error(result.stderr)
    assert "Permission denied" in result.stderr
    assert list(locked.iterdir()) == []


def test_exit_2_for_an_unreadable_folder(tmp_path, folder, monkeypatch):
    deny_access(monkeypatch, unreadable=[folder])  # as chmod 0 does, for root too

    result = run_cli("classify", folder, "--out", tmp_path / "out.csv")

    assert result.exit_code == 2
    assert "cannot read folder" in one_line_error(result.stderr)
    assert not (tmp_path / "out.csv").exists()


def test_exit_2_from_the_console_script(tmp_path):
    proc = run_script("classify", tmp_path / "missing", "--out", tmp_path / "out.csv")

    assert proc.returncode == 2
    assert "folder not found" in one_line_error(proc.stderr)
    assert proc.stdout == ""


BAD_OPTIONS = [
    pytest.param(["--batch-size", "0"], "--batch-size", id="batch-size-0"),
    pytest.param(["--min-confidence", "2"], "--min-confidence", id="min-confidence-2"),
    pytest.param(["--jobs", "-1"], "--jobs", id="jobs-negative"),
]


@pytest.mark.parametrize(("options", "name"), BAD_OPTIONS)
def test_exit_2_for_out_of_range_options(tmp_path, folder, options, name):
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, *options)

    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert name in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("options", "name"), BAD_OPTIONS[:2])
def test_out_of_range_options_give_one_clear_line(tmp_path, folder, options, name):
    result = run_cli("classify", folder, "--out", tmp_path / "out.csv", *options)

    assert result.exit_code == 2
    assert name in one_line_error(result.stderr)


def test_pickle_model_works_with_allow_pickle(tmp_path, folder, pickle_model):
    out = tmp_path / "out.csv"

    result = run_cli(
        "classify", folder, "--out", out, "--jobs", "1", "--model", pickle_model, "--allow-pickle"
    )

    assert result.exit_code == 0, result.stderr
    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["one.png", "zero.png"]
    for row in rows:
        assert row["status"] in ("ok", "low_confidence") and row["label"] in list("0123456789")
    # the logistic model, not the built-in one, made these numbers
    builtin = tmp_path / "builtin.csv"
    run_cli("classify", folder, "--out", builtin, "--jobs", "1")
    assert [r["confidence"] for r in rows] != [r["confidence"] for r in read_csv(builtin)]


def collapse(text: str) -> str:
    return re.sub(r"[\s│]+", " ", text)


EXIT_CODE_PHRASES = [
    "Exit codes",
    "0 every file classified",
    "1 run completed",
    "2 unusable",
    "70 internal error",
    "75 another run",
    "130 interrupted",
]


def test_help_mentions_the_exit_codes():
    result = run_cli("--help")

    assert result.exit_code == 0
    text = collapse(result.stdout)
    for phrase in EXIT_CODE_PHRASES:
        assert phrase in text


def test_classify_help_mentions_the_exit_codes():
    result = run_cli("classify", "--help")

    assert result.exit_code == 0
    text = collapse(result.stdout)
    for phrase in EXIT_CODE_PHRASES:
        assert phrase in text


@pytest.mark.parametrize("args", [["--bogus"], ["--batch-size", "0"], []])
def test_console_script_usage_errors_are_one_line(tmp_path: Path, args: list[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    extra = [folder, *args] if args else []
    proc = run_script("classify", *extra)
    assert proc.returncode == 2
    assert one_line_error(proc.stderr).startswith("batchdigits: error:"), proc.stderr
