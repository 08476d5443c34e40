"""The installed console script, run as a user would: a subprocess without a terminal."""

from __future__ import annotations

import re
from collections import Counter

from helpers import ANSI_ESCAPE, console_script, read_csv, run_script
from imagemaker import save_digit


def test_console_script_on_a_small_folder(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "sub" / "zero.jpg", "zero", "RGB")
    save_digit(folder / "sub" / "blank.gif", "blank")
    (folder / "notes.txt").write_text("skip me")
    out = tmp_path / "predictions.csv"
    assert console_script()[-1].endswith("batchdigits")  # the installed script, not -m

    proc = run_script("classify", folder, "--out", out, "--jobs", "2", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["one.png", "sub/blank.gif", "sub/zero.jpg"]
    statuses = Counter(r["status"] for r in rows)
    assert statuses["blank"] == 1 and statuses["ok"] + statuses["low_confidence"] == 2
    assert "image files found" in proc.stderr
    assert "3 images:" in proc.stderr and "1 other file skipped" in proc.stderr
    assert ANSI_ESCAPE not in proc.stderr
    # no terminal: the summary is a log line with a timestamp
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} 3 images: ", proc.stderr, re.M)
    assert "Traceback" not in proc.stderr


def test_console_script_quiet_prints_nothing_on_success(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    out = tmp_path / "out.csv"

    proc = run_script("classify", folder, "--out", out, "--jobs", "1", "--quiet")

    assert proc.returncode == 0
    assert (proc.stdout, proc.stderr) == ("", "")
    assert [r["path"] for r in read_csv(out)] == ["one.png"]
