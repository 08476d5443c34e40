"""``classify --backend dask`` on a real cluster: ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1, started once for this module (issue 20: a real cluster).

Not ``LocalCluster``: the workers are the command-line ones a user starts, in
processes of their own, and get the model only through the run's worker plugin.
The scheduler gives up on a task whose worker died at the first death
(``allowed-failures`` 0), as in ``test_dask.py``, so a death costs seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import distributed
import pytest

from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit
from test_dask import make_folder
from test_dask_faults import WORKER, start_scheduler, stop

POISON = "poison.png"  # a worker converting a file of this name kills itself (convert.py's test hook)


class Cluster:
    def __init__(self, address: str, client: distributed.Client) -> None:
        self.address = address
        self.client = client

    def task_prefixes(self) -> set[str]:
        return set(self.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and one ``dask worker`` command with 2 worker processes of 1 thread each
    (restarted by its nanny when one dies)."""
    scheduler, address = start_scheduler(
        tmp_path_factory.mktemp("scheduler"), env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    )
    workers = subprocess.Popen(
        [*WORKER, address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "BATCHDIGITS_TEST_CRASH_ON": POISON},
    )
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            yield Cluster(address, client)
    finally:
        stop(workers)
        stop(scheduler)


def test_a_real_cluster_writes_the_same_csv_bytes_as_a_local_run(tmp_path, cluster):
    folder = make_folder(tmp_path / "in")
    dask_csv, local_csv = tmp_path / "dask.csv", tmp_path / "local.csv"

    local = run_cli("classify", folder, "--jobs", "1", "--out", local_csv)
    proc = run_script("classify", folder, "--backend", "dask", "--scheduler", cluster.address,
                      "--out", dask_csv, timeout=120)

    assert local.exit_code == 1, local.stderr
    assert proc.returncode == 1, proc.stderr  # the broken files are error rows, not a crash
    assert "Traceback" not in proc.stderr
    assert any("read_chunk" in name for name in cluster.task_prefixes())  # the workers did the work
    assert dask_csv.read_bytes() == local_csv.read_bytes()
    rows = {r["path"]: r for r in read_csv(dask_csv)}
    assert len(rows) == 46
    assert {p for p, r in rows.items() if r["status"] == "error"} == {
        "dangling.png", "empty.jpg", "sub/not-an-image.png", "truncated.png"}
    assert sum(r["status"] in ("ok", "low_confidence") for r in rows.values()) == 41


def test_a_worker_process_killed_mid_run_costs_only_its_file(tmp_path, cluster):
    """The worker converting ``poison.png`` dies by SIGKILL (as by the OOM killer): that file is
    an error row, every other row is the local run's, and the run ends with exit 1."""
    folder = make_folder(tmp_path / "in")
    save_digit(folder / POISON, "one")
    local_csv, dask_csv = tmp_path / "local.csv", tmp_path / "dask.csv"
    run_cli("classify", folder, "--jobs", "1", "--out", local_csv)  # no crash hook outside a worker
    expected = {r["path"]: r for r in read_csv(local_csv)}

    proc = run_script("classify", folder, "--backend", "dask", "--scheduler", cluster.address,
                      "--out", dask_csv, timeout=120)

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rows = {r["path"]: r for r in read_csv(dask_csv)}
    assert rows.keys() == expected.keys()
    assert expected[POISON]["status"] != "error"
    assert (rows[POISON]["status"], rows[POISON]["error"]) == ("error", "worker died while decoding")
    assert {p: r for p, r in rows.items() if p != POISON} == {p: r for p, r in expected.items() if p != POISON}


def test_a_scheduler_address_that_never_answers_exits_2_within_the_timeout(tmp_path):
    """Something listens on the port but never speaks dask (a hung scheduler, another service):
    one line and exit 2 after about twice --scheduler-timeout (to connect, then to answer).
    Failed before: distributed's handshake waits without a timeout, so the run hung for ever."""
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever replies
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "batchdigits", "classify", str(folder), "--out", str(tmp_path / "p.csv"),
             "--backend", "dask", "--scheduler", address, "--scheduler-timeout", "0.5"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
    finally:
        silent.close()

    assert proc.returncode == 2, proc.stderr
    assert one_line_error(proc.stderr) == (
        f"batchdigits: error: the dask scheduler at {address} did not answer within 1 s "
        "(twice --scheduler-timeout: to connect, then to answer); is a dask scheduler listening there?"
    )
    assert not (tmp_path / "p.csv").exists()
