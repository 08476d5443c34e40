"""Labels for train/evaluate: only the ASCII digits 0-9; an empty label is "not a digit"
and skipped; anything else is exit 2 with a line naming the file and line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batchdigits.learn.dataset import read_labels
from helpers import one_line_error, run_cli
from imagemaker import save_digit


def labels_csv(folder: Path, rows: list[tuple[str, str]], encoding: str = "utf-8") -> Path:
    """Images ``folder/NAME`` for each row and ``folder/labels.csv`` listing them."""
    for name, label in rows:
        save_digit(folder / name, "zero" if label == "0" else "one")
    path = folder / "labels.csv"
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("label", "phrase"),
    [
        ("²", "line 3: label must be a digit 0-9"),  # was exit 70 (int('²') fails)
        ("٣", "line 3: label must be a digit 0-9"),  # was taken as 3, silently
        ("10", "line 3: label must be a digit 0-9"),
        ("seven", "line 3: label must be a digit 0-9"),
    ],
)
def test_a_label_that_is_not_an_ascii_digit_is_exit_2_naming_the_line(tmp_path, label, phrase):
    labels = labels_csv(tmp_path / "scans", [("a.png", "1"), ("b.png", label)])

    result = run_cli("train", "--labels", labels, "--no-builtin", "--out", tmp_path / "m.skops")

    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert str(labels) in line and phrase in line
    assert not (tmp_path / "m.skops").exists()


def test_a_labels_csv_that_is_not_utf8_is_exit_2(tmp_path):
    labels = labels_csv(tmp_path / "scans", [("a.png", "1"), ("caf\u00e9.png", "0")], "latin-1")

    result = run_cli("train", "--labels", labels, "--no-builtin", "--out", tmp_path / "m.skops")

    assert result.exit_code == 2  # was 70: UnicodeDecodeError
    assert f"{labels} is not UTF-8 text" in one_line_error(result.stderr)


@pytest.mark.parametrize("name", ["²", "٣"])
def test_a_data_folder_named_with_a_non_ascii_digit_is_exit_2(tmp_path, name):
    save_digit(tmp_path / "data" / "1" / "a.png", "one")
    save_digit(tmp_path / "data" / name / "b.png", "zero")

    result = run_cli("train", "--data", tmp_path / "data", "--out", tmp_path / "m.skops")

    assert result.exit_code == 2  # was 70 for ², and ٣ ...
    line = one_line_error(result.stderr)
    assert name in line and "one ASCII digit 0-9" in line


def test_other_data_subfolders_are_still_ignored(tmp_path):
    from batchdigits.learn.dataset import from_folders

    save_digit(tmp_path / "data" / "1" / "a.png", "one")
    save_digit(tmp_path / "data" / "notes" / "b.png", "zero")
    save_digit(tmp_path / "data" / "12" / "c.png", "zero")

    assert from_folders(str(tmp_path / "data")) == [(str(tmp_path / "data" / "1" / "a.png"), 1)]


def test_empty_labels_are_not_digits_skipped_and_counted(tmp_path):
    rows = [(f"{d}_{k}.png", str(d % 2)) for d in range(4) for k in range(3)]
    labels = labels_csv(tmp_path / "scans", [*rows, ("smudge.png", ""), ("blot.png", "")])

    listed = read_labels(str(labels))
    assert listed.not_digits == 2
    assert len(listed.items) == len(rows)
    assert listed.items[0] == (str(tmp_path / "scans" / "0_0.png"), 0)

    result = run_cli(
        "train", "--labels", labels, "--no-builtin", "--no-augment", "--classifier", "knn",
        "--out", tmp_path / "m.skops", "--jobs", "1",
    )
    assert result.exit_code == 0, result.stderr
    assert "2 rows of" in result.stderr and "labelled 'not a digit' skipped" in result.stderr
    assert f"{len(rows)} labelled scans converted" in result.stderr


def test_labels_csv_paths_are_read_with_the_predictions_csv_escapes(tmp_path):
    save_digit(tmp_path / "scans" / "back\\slash.png", "one")
    labels = tmp_path / "scans" / "labels.csv"
    labels.write_text("path,label\nback\\\\slash.png,1\nlone\\slash.png,1\n", encoding="utf-8")

    with pytest.raises(Exception, match="line 3: not a path written by batchdigits"):
        read_labels(str(labels))
    labels.write_text("path,label\nback\\\\slash.png,1\n", encoding="utf-8")
    assert read_labels(str(labels)).items == [(str(tmp_path / "scans" / "back\\slash.png"), 1)]
