"""``batchdigits review predictions.csv`` after a plain ``classify``: the folder is recorded beside the CSV.

Through the console script in a subprocess (issue 21, point 12): the record
is written by every run that writes a CSV file, read back as JSON; --folder
still overrides it; a record that no longer fits gives one clear line.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
from pathlib import Path

from batchdigits.io.hashing import file_sha256
from helpers import console_script, one_line_error, read_csv, run_script
from imagemaker import save_digit


def record_of(out: Path) -> dict[str, object]:
    return json.loads((out.parent / f".{out.name}.folder.json").read_text(encoding="utf-8"))


def review_starts(*args: str | os.PathLike[str], cwd: Path) -> str:
    """Start ``batchdigits review ARGS --no-browser``; return its second line (the rows and where
    decisions go) once the page answers, then stop it with SIGTERM (exit 0)."""
    proc = subprocess.Popen(
        [*console_script(), "review", *map(os.fspath, args), "--no-browser"],
        cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stderr.readline()
        url = re.search(r"review page: http://127\.0\.0\.1:(\d+)/\?token=(\S+)", first)
        assert url, first + proc.stderr.read()
        second = proc.stderr.readline()
        connection = http.client.HTTPConnection("127.0.0.1", int(url.group(1)), timeout=30)
        connection.request("GET", f"/api/summary?token={url.group(2)}")  # served: the page works
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    return second


def test_a_plain_classify_records_its_folder_and_review_needs_no_folder_option(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    save_digit(scans / "a.png", "one")
    save_digit(scans / "b.png", "blank")
    out = tmp_path / "predictions.csv"

    proc = run_script("classify", "scans", "--out", "predictions.csv", "--jobs", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png"]
    record = record_of(out)
    assert record["folder"] == str(scans.resolve()) and record["csv_sha256"] == file_sha256(str(out))

    line = review_starts("predictions.csv", cwd=tmp_path)
    assert "1 doubtful row left of 2;" in line  # b.png is blank


def test_a_rerun_into_the_folder_keeps_its_own_files_out_of_the_rows(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    save_digit(scans / "a.png", "one")
    out = scans / "predictions.csv"  # the CSV, its lock and the record live among the scans
    for _ in range(2):
        proc = run_script("classify", scans, "--out", out, "--jobs", "1", "--summary-json", tmp_path / "s.json")
        assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["found"] == 1 and summary["skipped"] == 0  # the record is neither a row nor a skipped file
    assert record_of(out)["folder"] == str(scans.resolve())


def test_standard_output_records_nothing(tmp_path: Path) -> None:
    save_digit(tmp_path / "scans" / "a.png", "one")
    proc = run_script("classify", "scans", "--out", "-", "--jobs", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scans"]


def test_a_changed_csv_or_a_moved_folder_gives_one_line_and_folder_overrides(tmp_path: Path) -> None:
    save_digit(tmp_path / "scans" / "a.png", "one")
    save_digit(tmp_path / "scans" / "b.png", "zero")
    out = tmp_path / "predictions.csv"
    assert run_script("classify", "scans", "--out", out, "--jobs", "1", cwd=tmp_path).returncode == 0

    (tmp_path / "scans").rename(tmp_path / "moved")
    proc = run_script("review", "predictions.csv", "--no-browser", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line_error(proc.stderr) == (
        f"batchdigits: error: the folder predictions.csv was made from, {tmp_path.resolve() / 'scans'}, "
        "no longer exists (moved or deleted?); pass --folder DIR"
    )
    assert "left of 2;" in review_starts("predictions.csv", "--folder", "moved", cwd=tmp_path)

    (tmp_path / "moved").rename(tmp_path / "scans")
    with open(out, "a", encoding="utf-8", newline="") as fh:  # edited by hand since
        fh.write("c.png,1,0.99,ok,\n")
    proc = run_script("review", "predictions.csv", "--no-browser", cwd=tmp_path)
    assert proc.returncode == 2
    assert "predictions.csv has changed since classify wrote it" in one_line_error(proc.stderr)
    assert "pass --folder DIR" in proc.stderr
