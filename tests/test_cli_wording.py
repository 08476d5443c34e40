"""What the commands say, read as a person reads it (issue 21, points 10-11), through the console script.

A count of one is singular (``classify --adapt``'s reading rate without the
adaptation's time: ``test_adapt.py``, which runs it anyway), and ``evaluate`` without a terminal prints
timestamped lines whose titles are never wrapped.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers import LOG_TIMESTAMP, run_script
from imagemaker import save_digit
from test_train import labelled_tree


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
