"""The edges of a run: a reader that goes away (| head), a full disk, signals in the
first moments and after the CSV was replaced.  Real subprocesses and real pipes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from batchdigits.io.atomic import temp_prefix
from helpers import console_script, one_line_error, read_csv, run_cli
from imagemaker import save_digit
from test_reliability import fill, start_script

def test_a_reader_that_goes_away_stops_the_run_quietly(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 3000)  # ~100 KB of CSV: more than a pipe holds
    proc = subprocess.Popen(
        [*console_script(), "classify", str(folder), "--out", "-", "--jobs", "2"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    first = [proc.stdout.readline() for _ in range(2)]  # as `| head -2` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)

    assert first[0] == b"path,label,confidence,status,error\n"
    assert proc.returncode in (0, 141), err
    assert err == ""  # no message, no traceback, no joblib warning


def test_standard_output_on_a_full_device_is_exit_2_with_one_line(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 200)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*console_script(), "classify", str(folder), "--out", "-", "--jobs", "2"],
            stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )

    assert proc.returncode == 2, proc.stderr
    assert one_line_error(proc.stderr) == "batchdigits: error: no space left on device: standard output"


class FullDisk:
    """A file object whose writes fail with ENOSPC once ``room`` characters are written."""

    def __init__(self, real, room: int) -> None:
        self._real, self._room = real, room

    def write(self, data):
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._real.write(data)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


def fill_disk_for(monkeypatch, target: Path, room: int = 100) -> None:
    """Writes to ``target``'s temporary file (how it is written) hit a full disk."""
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        fh = real_fdopen(fd, *args, **kwargs)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        return FullDisk(fh, room) if name.startswith(temp_prefix(str(target))) else fh

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names descriptors through /proc")
@pytest.mark.parametrize("which", ["out", "summary"])
def test_a_full_disk_is_exit_2_naming_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch, which):
    folder = tmp_path / "in"
    fill(folder, 0, 150)
    out, summary = tmp_path / "p.csv", tmp_path / "last-run.json"
    args = ("classify", folder, "--out", out, "--jobs", "2", "--summary-json", summary)
    assert run_cli(*args).exit_code == 0
    before = out.read_bytes(), summary.read_bytes()
    fill(folder, 150, 10)
    target = out if which == "out" else summary
    fill_disk_for(monkeypatch, target)

    result = run_cli(*args)

    assert result.exit_code == 2, result.stderr
    assert one_line_error(result.stderr) == f"batchdigits: error: no space left on device: {target}"
    assert target.read_bytes() == before[0 if which == "out" else 1]
    if which == "summary":  # the CSV before it was complete and is the new one
        assert len(read_csv(out)) == 160
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []


def paused_run(tmp_path, phase: str, *args) -> tuple[subprocess.Popen, Path]:
    flag = tmp_path / f"paused-{phase}"
    proc = start_script(*args, extra_env={"BATCHDIGITS_TEST_PAUSE": f"{phase}={flag}"})
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached its pause"
        time.sleep(0.01)
    return proc, flag


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_first_moments_is_exit_130_with_one_line(tmp_path, sig):
    save_digit(tmp_path / "in" / "a.png", "one")
    out = tmp_path / "p.csv"
    proc, _ = paused_run(tmp_path, "start", "classify", tmp_path / "in", "--out", out)

    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert "interrupted" in one_line_error(err)
    assert not out.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_csv_was_replaced_says_the_new_csv_is_complete(tmp_path, sig):
    folder = tmp_path / "in"
    out = tmp_path / "p.csv"
    fill(folder, 0, 10)
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    fill(folder, 10, 10)
    proc, _ = paused_run(tmp_path, "replaced", "classify", folder, "--out", out, "--jobs", "1")

    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    line = one_line_error(err)
    assert "previous output was left" not in line
    assert f"after {out} had been written completely" in line
    assert len(read_csv(out)) == 20  # the new CSV, complete
