"""``--backend dask`` when the cluster is not there or goes away (issue 22: 6, 10, 11).

Real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started by
the tests; nothing waits for ever: every case ends in one line and exit 2
within the ``--scheduler-timeout`` given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import one_line_error, read_csv, run_cli
from imagemaker import save_digit

pytest.importorskip("distributed")
DASK_CLI = str(Path(sys.executable).with_name("dask"))  # this venv's `dask` command
DASK = [DASK_CLI, "scheduler"]
WORKER = [DASK_CLI, "worker"]

SLOW_TASKS = """
import os, time
import batchdigits.image.convert as convert

def convert_chunk(tasks):  # says it started, then outlives the scheduler
    open(os.environ["BATCHDIGITS_TEST_FLAG"], "w").close()
    time.sleep(120)

convert.convert_chunk = convert_chunk
"""


def start_scheduler(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A real scheduler on 127.0.0.1 (any free port) and its address; ``env``: more environment."""
    address_file = tmp_path / "scheduler.json"
    proc = subprocess.Popen(
        [*DASK, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if address_file.exists() and address_file.stat().st_size:
            return proc, json.loads(address_file.read_text())["address"]
        assert proc.poll() is None, "the dask scheduler did not start"
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the dask scheduler did not write its address")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(3):
        save_digit(tmp_path / "in" / f"{i}.png", ("one", "zero")[i % 2])
    return tmp_path / "in"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("notanaddress", "bad dask scheduler address notanaddress: missing port number in address 'notanaddress'"),
        ("tcp://127.0.0.1:1", "cannot reach the dask scheduler at tcp://127.0.0.1:1: "
                              "Timed out trying to connect to tcp://127.0.0.1:1 after 1 s"),
    ],
)
def test_a_malformed_or_unreachable_scheduler_exits_2_naming_it(tmp_path, folder, address, message):
    """Issue 22 #10: failed before (exit 70; a traceback after 30 s blaming 'p.csv')."""
    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--backend", "dask",
                     "--scheduler", address, "--scheduler-timeout", "1")

    assert result.exit_code == 2
    assert one_line_error(result.stderr) == f"batchdigits: error: {message}"
    assert not (tmp_path / "p.csv").exists()


def test_a_scheduler_without_workers_exits_2_after_the_timeout_and_frees_the_output(tmp_path, folder):
    """Issue 22 #6: failed before (waited for ever holding the lock; later runs exited 75)."""
    scheduler, address = start_scheduler(tmp_path)
    try:
        for _ in range(2):  # the second run is not locked out by the first
            result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--backend", "dask",
                             "--scheduler", address, "--scheduler-timeout", "2")
            assert result.exit_code == 2
            assert one_line_error(result.stderr) == (
                f"batchdigits: error: no dask worker joined the scheduler at {address} within 2 s "
                "(--scheduler-timeout); start workers with `dask worker ADDRESS`"
            )
    finally:
        stop(scheduler)
    assert not (tmp_path / "p.csv").exists()


def test_the_scheduler_dying_mid_run_exits_2_with_one_line_and_the_previous_csv(tmp_path, folder):
    """Issue 22 #11: failed before (exit 70 and 28 lines of distributed tracebacks under --quiet)."""
    out = tmp_path / "p.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    before = out.read_bytes()
    preload = tmp_path / "slow_tasks.py"
    preload.write_text(SLOW_TASKS)
    flag = tmp_path / "task-started"
    scheduler, address = start_scheduler(tmp_path)
    worker = subprocess.Popen(
        [*WORKER, address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--preload", str(preload)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "BATCHDIGITS_TEST_FLAG": str(flag)},
    )
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "batchdigits", "classify", str(folder), "--out", str(out),
             "--backend", "dask", "--scheduler", address, "--scheduler-timeout", "5", "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 180
        while not flag.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        assert flag.exists(), "no task reached the worker"
        scheduler.send_signal(signal.SIGKILL)
        _, err = run.communicate(timeout=120)
    finally:
        stop(worker)
        stop(scheduler)

    assert run.returncode == 2, err
    line = one_line_error(err)
    assert line.startswith(f"batchdigits: error: lost the dask scheduler at {address}: "), line
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert read_csv(out)  # still a whole CSV
