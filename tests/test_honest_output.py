"""Output that tells the truth: exit codes of show, --quiet with errors, empty folders,
timestamps on every line without a terminal, the speed of an incremental rerun."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import one_line_error, read_csv, run_script
from imagemaker import save_digit

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} ")


def broken_folder(folder: Path) -> None:
    save_digit(folder / "one.png", "one")
    save_digit(folder / "zero.png", "zero")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image")


# --- show ------------------------------------------------------------------


def test_show_a_missing_file_or_a_folder_is_exit_2_in_one_line(tmp_path: Path) -> None:
    save_digit(tmp_path / "one.png", "one")
    for bad, words in [(tmp_path / "missing.png", "file not found"), (tmp_path, "is a folder")]:
        proc = run_script("show", tmp_path / "one.png", bad)

        assert proc.returncode == 2, proc.stderr
        line = one_line_error(proc.stderr)
        assert words in line and str(bad) in line
        assert proc.stdout == ""  # refused before any work


def test_show_an_unreadable_image_is_exit_1_and_the_others_are_shown(tmp_path: Path) -> None:
    save_digit(tmp_path / "one.png", "one")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)

    proc = run_script("show", tmp_path / "broken.png", tmp_path / "one.png")

    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "broken.png" in line and "cannot read" in line
    assert "prediction" in proc.stdout and "one.png" in proc.stdout
    assert "broken.png" not in proc.stdout  # no panel for it


# --- classify --------------------------------------------------------------


def test_quiet_with_error_rows_says_how_many_and_why(tmp_path: Path) -> None:
    broken_folder(tmp_path / "in")

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "p.csv", "--quiet", "--jobs", "1")

    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), proc.stderr
    assert "2 files could not be read" in lines[0]
    assert re.search(r"empty\.png: empty file", proc.stderr)
    assert re.search(r"notes\.jpg: .*not a recognised image format", proc.stderr)
    assert len(lines) == 3


def test_without_a_terminal_every_line_is_timestamped(tmp_path: Path) -> None:
    broken_folder(tmp_path / "in")

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "p.csv", "--jobs", "1")

    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any("Predictions by digit" in line for line in lines)  # the summary tables ...
    assert any("empty.png" in line for line in lines)
    untimed = [line for line in lines if not TIMESTAMP.match(line)]
    assert untimed == []  # ... line by line, each with its timestamp


def test_an_empty_folder_warns_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    out = tmp_path / "p.csv"

    proc = run_script("classify", tmp_path / "inbox", "--out", out)

    assert proc.returncode == 0
    assert f"warning: no image files found in {tmp_path / 'inbox'}" in proc.stderr
    assert read_csv(out) == []
    # under cron (--quiet) an empty inbox is normal: nothing printed
    quiet = run_script("classify", tmp_path / "inbox", "--out", out, "--quiet")
    assert (quiet.returncode, quiet.stderr) == (0, "")


def test_a_folder_without_images_warns_even_when_quiet(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "report.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "docs" / "notes.txt").write_text("hello")

    proc = run_script("classify", tmp_path / "docs", "--out", tmp_path / "p.csv", "--quiet")

    assert proc.returncode == 0
    line = proc.stderr.strip()
    assert TIMESTAMP.match(line)
    assert "no image files found in" in line and "2 other files skipped" in line


def test_incremental_rerun_reports_speed_over_the_files_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i in range(6):
        save_digit(folder / f"{i}.png", "one" if i % 2 else "zero")
    out, summary = tmp_path / "p.csv", tmp_path / "s.json"
    first = run_script("classify", folder, "--out", out, "--incremental", "--jobs", "1")
    assert first.returncode == 0, first.stderr
    save_digit(folder / "new.png", "one")

    second = run_script("classify", folder, "--out", out, "--incremental", "--jobs", "1",
                        "--summary-json", summary)

    assert second.returncode == 0, second.stderr
    assert re.search(r"7 images: .*6 unchanged rows reused; 1 file read in ", second.stderr)
    data = json.loads(summary.read_text())
    assert (data["found"], data["reused"], data["read"]) == (7, 6, 1)
    expected = 1 / data["elapsed_seconds"]
    assert abs(data["images_per_second"] - expected) <= 0.05 * expected + 0.1


def test_an_empty_out_says_the_path_is_empty(tmp_path: Path) -> None:
    save_digit(tmp_path / "in" / "one.png", "one")

    proc = run_script("classify", tmp_path / "in", "--out", "", cwd=tmp_path)

    assert proc.returncode == 2
    assert "output path is empty" in one_line_error(proc.stderr)


def test_an_error_line_without_a_terminal_is_timestamped_too(tmp_path: Path) -> None:
    proc = run_script("classify", tmp_path / "no-such-folder", "--out", tmp_path / "p.csv")

    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and TIMESTAMP.match(lines[0]), proc.stderr
    assert TIMESTAMP.sub("", lines[0]).startswith("batchdigits: error: ")


@pytest.mark.parametrize("option", ["--summary-json", "--review-sheet"])
def test_an_empty_extra_output_says_the_path_is_empty(tmp_path: Path, option: str) -> None:
    save_digit(tmp_path / "in" / "one.png", "one")

    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "p.csv", option, "", cwd=tmp_path)

    assert proc.returncode == 2
    assert "output path is empty" in one_line_error(proc.stderr)
    assert not (tmp_path / "p.csv").exists()
