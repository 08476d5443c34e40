"""What the commands say, read as a person reads it (issue 21, points 10-11), through the console script.

``classify --adapt`` gives its reading rate without the adaptation's time, a
count of one is singular, and ``evaluate`` without a terminal prints
timestamped lines whose titles are never wrapped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import LOG_TIMESTAMP, read_csv, run_script
from imagemaker import save_digit
from test_adapt import scans
from test_train import labelled_tree

SUMMARY = re.compile(
    r"(\d+) images?: .* (\d+) errors?, .*; (\d+) other files? skipped; .*; (\d+) files? read in ([\d.]+)s "
    r"\((\d+) images/s\)(?:; adapting the model took ([\d.]+)s more)?$"
)


def test_adapt_reports_the_adaptation_apart_from_the_reading_rate(tmp_path: Path) -> None:
    scans(tmp_path / "in", per_digit=2)
    (tmp_path / "in" / "bad.png").write_bytes(b"")  # one error row
    (tmp_path / "in" / "notes.txt").write_text("not a scan")  # one other file
    proc = run_script("classify", tmp_path / "in", "--adapt", "--out", tmp_path / "p.csv",
                      "--summary-json", tmp_path / "s.json", "--jobs", "1")

    assert proc.returncode == 1, proc.stderr  # bad.png
    assert len(read_csv(tmp_path / "p.csv")) == 21
    line = LOG_TIMESTAMP.sub("", proc.stderr.splitlines()[-1])
    match = SUMMARY.search(line)
    assert match, line
    found, errors, skipped, read, reading, rate, adapting = match.groups()
    assert "1 error," in line and "1 other file skipped" in line  # not "1 errors", "1 other files"
    assert (found, errors, skipped, read) == ("21", "1", "1", "21")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert adapting is not None and float(adapting) == round(summary["adaptation"]["seconds"], 1)
    without = summary["elapsed_seconds"] - summary["adaptation"]["seconds"]
    assert abs(float(reading) - without) < 0.06
    assert abs(summary["images_per_second"] - 21 / without) <= 0.1 + 0.01 * summary["images_per_second"]


def test_one_unreadable_file_is_one_file(tmp_path: Path) -> None:
    save_digit(tmp_path / "in" / "a.png", "one")
    (tmp_path / "in" / "bad.png").write_bytes(b"")
    proc = run_script("classify", tmp_path / "in", "--out", tmp_path / "p.csv", "--jobs", "1", "--quiet")

    assert proc.returncode == 1
    first = LOG_TIMESTAMP.sub("", proc.stderr.splitlines()[0])
    assert first == "1 file could not be read (error rows in the CSV):"


def test_evaluate_without_a_terminal_prints_timestamped_unwrapped_lines(tmp_path: Path) -> None:
    labelled_tree(tmp_path / "test", per_digit=1)
    proc = run_script("evaluate", tmp_path / "test", "--jobs", "1", env={"COLUMNS": "80"})

    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and all(LOG_TIMESTAMP.match(line) for line in lines), proc.stdout
    text = [LOG_TIMESTAMP.sub("", line).rstrip() for line in lines]
    assert re.fullmatch(r"accuracy [01]\.\d{4} on 10 labelled images", text[0])
    for title in ("Per-class report", "Accuracy per status (--min-confidence 0.96)",
                  "Reliability (files with a grid, 10 equal-count confidence bins)",
                  "Confusion matrix (rows: true, columns: predicted)", "Most confident mistakes"):
        assert title in text, title  # a line of its own, whole
