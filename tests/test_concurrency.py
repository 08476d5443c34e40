"""Worker processes start only when there is more than one chunk of work."""

from __future__ import annotations

import os

import pytest

import batchdigits.io.concurrency as concurrency
from batchdigits import Settings, classify_folder
from batchdigits.run.pipeline import CHUNK_SIZE
from helpers import read_csv
from imagemaker import save_digit


def folder_of(path, n):
    for i in range(n):
        if i % 7 == 6:
            (path / f"bad{i:03d}.png").parent.mkdir(parents=True, exist_ok=True)
            (path / f"bad{i:03d}.png").write_bytes(b"\x89PNG broken")
        else:
            save_digit(path / f"img{i:03d}.png", "one" if i % 2 else "zero", ("L", "RGB")[i % 2])
    return path


def watch_workers(monkeypatch):
    started = []
    parallel = concurrency._parallel

    def recording(func, chunks, n_jobs):
        started.append(n_jobs)
        return parallel(func, chunks, n_jobs)

    monkeypatch.setattr(concurrency, "_parallel", recording)
    return started


def test_a_run_with_one_chunk_of_work_starts_no_workers(tmp_path, monkeypatch):
    started = watch_workers(monkeypatch)
    folder = folder_of(tmp_path / "few", 12)
    report = classify_folder(folder, out=tmp_path / "few.csv", settings=Settings(jobs=2))
    assert started == []
    assert report.found == 12 and len(read_csv(tmp_path / "few.csv")) == 12


def test_more_work_goes_to_workers_with_the_same_rows_as_one_process(tmp_path, monkeypatch):
    started = watch_workers(monkeypatch)
    folder = folder_of(tmp_path / "many", 2 * CHUNK_SIZE + 10)
    classify_folder(folder, out=tmp_path / "workers.csv", settings=Settings(jobs=2))
    assert started == [2]
    classify_folder(folder, out=tmp_path / "here.csv", settings=Settings(jobs=1))
    assert started == [2]  # --jobs 1 never starts workers
    assert (tmp_path / "workers.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    rows = read_csv(tmp_path / "workers.csv")
    assert len(rows) == 2 * CHUNK_SIZE + 10
    assert sum(r["status"] == "error" for r in rows) == (2 * CHUNK_SIZE + 10) // 7


def test_a_worker_that_dies_costs_one_error_row_and_the_run_goes_on(tmp_path):
    """The worker converting ``img070.png`` kills itself with SIGKILL (as the OOM killer
    would), every time: its chunk and the others in flight are redone file by file."""
    from helpers import run_script

    folder = folder_of(tmp_path / "many", 3 * CHUNK_SIZE + 10)
    poison = "img070.png"
    classify_folder(folder, out=tmp_path / "here.csv", settings=Settings(jobs=1))
    expected = read_csv(tmp_path / "here.csv")
    out = tmp_path / "workers.csv"

    proc = run_script("classify", folder, "--out", out, "--jobs", "2", "--quiet",
                      env={"BATCHDIGITS_TEST_CRASH_ON": poison})

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rows = read_csv(out)
    assert [r["path"] for r in rows] == [r["path"] for r in expected]
    for row, same in zip(rows, expected, strict=True):
        if row["path"] == poison:
            assert (row["status"], row["error"]) == ("error", "worker died while decoding")
        else:
            assert row == same


RUN_CLI = """
import os, sys
from batchdigits.cli.app import main
sys.argv = ["batchdigits", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
"""  # a script: the console script's main in this process, its exit code in `code`

MAIN_IMPORTS = RUN_CLI + """
names = ("cv2", "PIL", "threadpoolctl", "batchdigits.run.reading")
print("CODE", code, "IMPORTED", ",".join(m for m in names if m in sys.modules) or "-")
"""


def test_the_main_process_of_a_run_with_workers_never_imports_the_conversion(tmp_path):
    """The workers' answers are unpickled here without OpenCV, Pillow or threadpoolctl
    (:mod:`batchdigits.run.answers`): the main process only walks, merges and writes."""
    import subprocess
    import sys

    folder = folder_of(tmp_path / "many", 2 * CHUNK_SIZE + 10)
    proc = subprocess.run([sys.executable, "-c", MAIN_IMPORTS, "classify", str(folder), "-o",
                           str(tmp_path / "p.csv"), "--jobs", "2", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "CODE 1 IMPORTED -", proc.stderr  # 1: the broken files
    assert len(read_csv(tmp_path / "p.csv")) == 2 * CHUNK_SIZE + 10


def test_a_workers_task_unpickles_without_the_pipeline(tmp_path):
    """What a local worker gets per chunk names ``read_chunk`` by its module: the worker
    imports the conversion, not the main process's pipeline (walk, state, CSV)."""
    import functools
    import os
    import pickle
    import subprocess
    import sys

    from batchdigits.learn.modelref import ArraysFile
    from batchdigits.run.pipeline import _ReadChunk

    task = concurrency.InWorker(functools.partial(_ReadChunk(), shared=ArraysFile("m.npz", "0" * 64)), os.getpid())
    code = ("import pickle, sys; task = pickle.loads(sys.stdin.buffer.read()); "
            "print(task.func.func.__module__, 'batchdigits.run.pipeline' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(task), capture_output=True, timeout=300)
    assert proc.stdout.decode().split() == ["batchdigits.run.reading", "False"], proc.stderr


LEFT_BEHIND = RUN_CLI + """
mine = str(os.getpid())
kids = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        continue
    if stat[stat.rindex(")") + 2:].split()[1] == mine and b"LokyProcess" in cmdline:
        kids.append(pid)
print("CODE", code, "WORKERS LEFT", len(kids))
"""


def test_the_console_script_ends_its_idle_workers_before_it_exits(tmp_path):
    """After the command, the console script ends its local workers at once (they are idle):
    Python's exit then need not wait for each to shut down its own interpreter (loky's exit
    hook joins them; timings: benchmarks/throughput.py's cold CLI rows)."""
    import subprocess
    import sys

    if not os.path.isdir("/proc"):
        pytest.skip("reads /proc")
    folder = folder_of(tmp_path / "many", 2 * CHUNK_SIZE + 10)
    proc = subprocess.run([sys.executable, "-c", LEFT_BEHIND, "classify", str(folder), "-o",
                           str(tmp_path / "p.csv"), "--jobs", "2", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "CODE 1 WORKERS LEFT 0", proc.stderr
    assert "leaked" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
