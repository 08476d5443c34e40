"""Planted links, odd nodes, failing disks, deep trees, spreadsheet CSVs (issue 22: 3, 4, 5, 8, 9, 12, 13).

Everything runs through the real CLI (CliRunner, or the console script where a
hang or a traceback is the fault) on real files in ``tmp_path``; the CSV is read
back with ``csv``.  Conditions root cannot meet (a full disk) are simulated.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import batchdigits.run.adaptrun as adaptrun_module
import batchdigits.run.pipeline as pipeline_module
from batchdigits.run.pipeline import CHUNK_SIZE
from batchdigits.run.corrections import Correction, write_corrections
from batchdigits.web.reviewsession import ReviewSession
from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit
from test_out_refusal import char_device


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_digit(tmp_path / "in" / "a.png", "one")
    save_digit(tmp_path / "in" / "b.png", "zero")
    return tmp_path / "in"


def error_line(stderr: str) -> str:
    return one_line_error(stderr).removeprefix("batchdigits: error: ")


# --- 4 and 9: the lock file ----------------------------------------------------------------


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path, folder):
    """Issue 22 #4: failed before (the victim was truncated and got the run's PID)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / ".p.csv.lock").symlink_to(victim)

    proc = run_script("classify", folder, "--out", tmp_path / "p.csv", "--jobs", "1")

    assert proc.returncode == 2, proc.stderr
    assert error_line(proc.stderr) == (
        f"lock file {tmp_path / '.p.csv.lock'} is a symbolic link; refusing to use it "
        "(remove it; batchdigits makes its own)"
    )
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_lock_path_that_is_a_folder_or_a_fifo_exits_2_with_one_line(tmp_path, folder, kind):
    """Issue 22 #9: failed before (a traceback, exit 1)."""
    lock = tmp_path / ".p.csv.lock"
    lock.mkdir() if kind == "folder" else os.mkfifo(lock)

    proc = run_script("classify", folder, "--out", tmp_path / "p.csv", "--jobs", "1", timeout=60)

    assert proc.returncode == 2, proc.stderr
    expected = (f"cannot open lock file {lock}: Is a directory" if kind == "folder" else
                f"lock file {lock} is not a regular file (a FIFO, socket or device); refusing to use it (remove it)")
    assert error_line(proc.stderr) == expected


# --- 9: other files the system will not let us write -----------------------------------------


def test_a_state_path_that_is_a_folder_exits_2_and_leaves_the_previous_csv(tmp_path, folder):
    """Issue 22 #9: failed before (a traceback, exit 1, though no CSV was written)."""
    out = tmp_path / "p.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    before = out.read_bytes()
    (tmp_path / ".p.csv.state.json").mkdir()

    proc = run_script("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert proc.returncode == 2, proc.stderr
    assert error_line(proc.stderr) == f"cannot replace {tmp_path / '.p.csv.state.json'}: is a directory"
    assert out.read_bytes() == before


def test_the_out_folder_removed_mid_run_exits_2_naming_the_csv(tmp_path, folder, monkeypatch):
    """Issue 22 #9: failed before (a traceback out of the CLI)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real = pipeline_module.results  # the rows of the first batch, read by the workers, before any is written

    def remove_folder_first(*args, **kwargs):
        shutil.rmtree(out_dir, ignore_errors=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "results", remove_folder_first)

    result = run_cli("classify", folder, "--out", out_dir / "p.csv", "--jobs", "1")

    assert result.exit_code == 2
    assert error_line(result.stderr) == f"no such file or directory: {out_dir / 'p.csv'}"


def test_a_full_temporary_folder_during_adapt_names_that_folder_not_the_csv(tmp_path, folder, monkeypatch):
    """Issue 22 #12: failed before ("no space left on device: p.csv", the wrong disk)."""
    for i in range(4):
        save_digit(folder / f"more{i}.png", ("one", "zero")[i % 2])
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(adaptrun_module.tempfile, "tempdir", None)  # read TMPDIR again
    real_dump = adaptrun_module.pickle.dump

    def full_disk(obj, fh, *args, **kwargs):
        if getattr(fh, "name", None) is not None and not isinstance(fh.name, str):  # the spool (an fd)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_dump(obj, fh, *args, **kwargs)

    monkeypatch.setattr(adaptrun_module.pickle, "dump", full_disk)

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--jobs", "1", "--adapt")

    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        f"no space left on device: {tmp_path} (the temporary folder; TMPDIR sets it)"
    )
    assert not (tmp_path / "p.csv").exists()


# --- 5: every file written follows the --out rules -------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "char-device"])
@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_evaluate_json_and_train_out_never_replace_a_fifo_or_a_device(tmp_path, monkeypatch, kind, command):
    """Issue 22 #5: failed before (the node was replaced by a regular file, exit 0)."""
    target = tmp_path / ("numbers.json" if command == "evaluate" else "model.skops")
    os.mkfifo(target) if kind == "fifo" else char_device(target, monkeypatch)
    if command == "evaluate":
        for digit, shape in ((0, "zero"), (1, "one")):
            save_digit(tmp_path / "labelled" / str(digit) / "x.png", shape)
        args = ["evaluate", tmp_path / "labelled", "--json", target, "--jobs", "1"]
    else:
        args = ["train", "--out", target, "--classifier", "logistic", "--no-augment", "--jobs", "1"]

    result = run_cli(*args)

    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        f"{target} is not a regular file (a device, FIFO or socket); refusing to replace it "
        "(--force replaces it anyway)"
    )
    mode = os.stat(target).st_mode  # a simulated device (not root) is one to os.stat
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)


@pytest.mark.parametrize("kind", ["fifo", "char-device"])
def test_a_review_sheet_over_a_fifo_or_a_device_is_refused_before_any_work(tmp_path, folder, monkeypatch, kind):
    """Issue 22 #5 ("every file the tool writes follows the --out rules"): --review-sheet too."""
    target = tmp_path / "sheet.png"
    os.mkfifo(target) if kind == "fifo" else char_device(target, monkeypatch)

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--review-sheet", target, "--jobs", "1")

    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        f"{target} is not a regular file (a device, FIFO or socket); refusing to replace it "
        "(--force replaces it anyway)"
    )
    mode = os.stat(target).st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)
    assert not (tmp_path / "p.csv").exists()


# --- 3: deep trees ---------------------------------------------------------------------------------


def make_deep(root: Path, names: list[str], image: str) -> int:
    """Folders ``names`` nested under ``root`` (made with relative opens, past PATH_MAX if
    need be) and ``image`` in the deepest; returns the deepest path's length in bytes."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        with open(os.path.join(Path(__file__).parent, "..", "samples", "scan_007_4.png"), "rb") as src:
            data = src.read()
        out = os.open(image, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)
    return len(os.fsencode(str(root))) + sum(len(n) + 1 for n in names)


@pytest.fixture
def deep_root(tmp_path: Path):
    """An empty folder for a deep tree, removed afterwards here: pytest's own clean-up
    of old temporary folders recurses once per level and would fail on it later."""
    root = tmp_path / "deep"
    root.mkdir()
    yield root
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        shutil.rmtree(root)
    finally:
        sys.setrecursionlimit(limit)


def test_a_tree_1100_folders_deep_gets_its_row(tmp_path, deep_root):
    """Issue 22 #3: failed before (exit 70, RecursionError, no CSV)."""
    root = deep_root
    depth_bytes = make_deep(root, ["d"] * 1100, "four.png")
    assert 2200 < depth_bytes < 4000

    result = run_cli("classify", root, "--out", tmp_path / "p.csv", "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    rows = read_csv(tmp_path / "p.csv")
    assert [r["path"] for r in rows] == ["d/" * 1100 + "four.png"]
    assert rows[0]["label"] == "4"


def test_a_folder_past_path_max_gets_a_counted_error_row(tmp_path):
    """Issue 22 #3: failed before (the folder and its files were skipped: no row, exit 0)."""
    root = tmp_path / "deep"
    root.mkdir()
    names = [f"{i:02d}" + "x" * 198 for i in range(22)]  # 22 x 201 bytes: past 4096
    make_deep(root, names, "four.png")
    save_digit(root / "top.png", "one")
    reachable = next(i for i in range(len(names)) if len(os.fsencode(str(root))) + 201 * (i + 1) >= 4096)

    result = run_cli("classify", root, "--out", tmp_path / "p.csv", "--jobs", "1")

    assert result.exit_code == 1, result.stderr
    rows = {r["path"]: r for r in read_csv(tmp_path / "p.csv")}
    too_deep = "/".join(names[: reachable + 1])
    assert sorted(rows) == [too_deep, "top.png"]
    assert (rows[too_deep]["status"], rows[too_deep]["error"]) == ("error", "cannot list directory: File name too long")
    assert "1 error" in result.stderr


# --- 8: --incremental retries errors that may be gone next time --------------------------------


def test_incremental_reads_again_a_file_whose_worker_died_once(tmp_path):
    """Issue 22 #8: failed before (the 'worker died' row was kept for ever, every run exit 1)."""
    folder = tmp_path / "in"
    for i in range(CHUNK_SIZE + 6):  # two chunks: real worker processes
        save_digit(folder / f"img{i:03d}.png", ("one", "zero")[i % 2])
    out = tmp_path / "p.csv"
    first = run_script("classify", folder, "--out", out, "--jobs", "2", "--incremental", "--quiet",
                       env={"BATCHDIGITS_TEST_CRASH_ON": "img007.png"})
    assert first.returncode == 1, first.stderr
    assert {r["path"]: r["error"] for r in read_csv(out)}["img007.png"] == "worker died while decoding"

    second = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert second.exit_code == 0, second.stderr
    assert {r["path"]: r["status"] for r in read_csv(out)}["img007.png"] == "ok"
    assert f"{CHUNK_SIZE + 5} unchanged rows reused" in second.stderr


@pytest.mark.parametrize("code", [errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM])
def test_incremental_reads_again_a_file_that_met_a_passing_system_error(tmp_path, folder, monkeypatch, code):
    """Issue 22 #8: failed before (the error row was reused while size and mtime held)."""
    out = tmp_path / "p.csv"
    real_open = os.open

    def failing(path, flags, *args, **kwargs):
        if os.fspath(path).endswith("a.png"):
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as once:
        once.setattr(os, "open", failing)
        assert run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental").exit_code == 1
    assert {r["path"]: r["error"] for r in read_csv(out)}["a.png"] == os.strerror(code).lower()

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert result.exit_code == 0, result.stderr
    assert {r["path"]: r["status"] for r in read_csv(out)}["a.png"] == "ok"


# --- 13: CSV inputs as a spreadsheet saves them ------------------------------------------------


def test_a_corrections_file_and_a_labels_file_with_a_byte_order_mark_are_read(tmp_path, folder):
    """Issue 22 #13: failed before ("needs a header with 'path' and 'label' columns")."""
    save_digit(folder / "c.png", "one")
    save_digit(folder / "d.png", "zero")
    fixes = tmp_path / "fixes.csv"
    labels = {"a": 1, "b": 0, "c": 1, "d": 0}
    write_corrections(str(fixes), {f"in/{name}.png": Correction(label) for name, label in labels.items()})
    fixes.write_bytes(b"\xef\xbb\xbf" + fixes.read_bytes().replace(b"\n", b"\r\n"))  # "CSV UTF-8"

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--jobs", "1", "--corrections", fixes)

    assert result.exit_code == 0, result.stderr
    assert {(r["path"], r["label"], r["status"]) for r in read_csv(tmp_path / "p.csv")} == {
        ("a.png", "1", "reviewed"), ("b.png", "0", "reviewed"), ("c.png", "1", "reviewed"), ("d.png", "0", "reviewed")
    }
    measured = run_cli("evaluate", folder, "--labels", fixes, "--jobs", "1", "--json", tmp_path / "e.json")
    assert measured.exit_code == 0, measured.stderr
    assert json.loads((tmp_path / "e.json").read_text())["n"] == 4


def test_review_reads_predictions_saved_by_a_spreadsheet_and_refuses_a_fifo(tmp_path, folder, default_model):
    """Issue 22 #13 ("read every CSV input with utf-8-sig"): the predictions `review` opens,
    saved as "CSV UTF-8" (byte-order mark, CRLF); one that is a FIFO is exit 2 at once."""
    out = tmp_path / "p.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    saved = tmp_path / "saved.csv"
    saved.write_bytes(b"\xef\xbb\xbf" + out.read_bytes().replace(b"\n", b"\r\n"))

    review = ReviewSession.open(str(saved), str(folder), model=default_model)

    assert review.summary()["total"] == 2
    assert sorted(row["path"] for row in review.page(0, 10)) == ["a.png", "b.png"]
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    result = run_cli("review", fifo, "--folder", folder, "--no-browser")
    assert result.exit_code == 2
    assert error_line(result.stderr) == (
        f"cannot read {fifo} as a batchdigits CSV (not a regular file (FIFO, socket or device))"
    )


# --- smaller: long names, a garbage pickle ------------------------------------------------------


def test_a_240_character_out_name_is_written_with_its_state(tmp_path, folder):
    """Failed before ("File name too long": the temporary file's name was longer)."""
    out = tmp_path / ("p" * 236 + ".csv")

    for _ in range(2):
        result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
        assert result.exit_code == 0, result.stderr

    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png"]
    assert "2 unchanged rows reused" in result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_out_that_is_a_symlink_is_replaced_itself_and_its_target_left_alone(tmp_path, folder):
    """Decided and documented (issue 22, smaller): the link is replaced, never the file it names."""
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("path,label,confidence,status,error\nold.png,7,0.9000,ok,\n")
    out = tmp_path / "p.csv"
    out.symlink_to(elsewhere)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    assert not out.is_symlink()
    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png"]
    assert elsewhere.read_text() == "path,label,confidence,status,error\nold.png,7,0.9000,ok,\n"


def test_a_garbage_file_with_allow_pickle_names_the_problem(tmp_path, folder):
    """Failed before (the reason was "(34)": a bare KeyError from pickle)."""
    garbage = tmp_path / "model.pkl"
    garbage.write_bytes(bytes(range(256)) * 2)

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--model", garbage, "--allow-pickle")

    assert result.exit_code == 2
    assert error_line(result.stderr).startswith(f"{garbage} is not a pickle/joblib file, or a damaged one (")


KILLED_AFTER_THE_STATE = """
import os, signal, sys
import batchdigits.run.classify as classify
real = classify.write_state

def write_state_then_die(*args, **kwargs):  # kill -9 between the state and the CSV
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

classify.write_state = write_state_then_die
from batchdigits.cli.entry import main
sys.argv = ["batchdigits", *sys.argv[1:]]
main()
"""


def test_incremental_replaces_the_state_first_and_a_kill_before_the_csv_costs_one_full_run(tmp_path, folder):
    """Issue 22, smaller: README and code agree (the state is replaced first, naming the new
    CSV by hash; a kill -9 before the CSV is moved leaves the previous CSV and a state that
    matches no CSV, so the next run reads everything again and writes what a full run writes)."""
    out = tmp_path / "p.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental").exit_code == 0
    before = out.read_bytes()
    state = tmp_path / ".p.csv.state.json"
    save_digit(folder / "c.png", "one")

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_STATE, "classify", str(folder), "--out", str(out),
         "--jobs", "1", "--incremental", "--quiet"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert out.read_bytes() == before  # the CSV was not moved yet
    recorded = json.loads(state.read_text().splitlines()[0])["csv_sha256"]
    assert recorded != hashlib.sha256(before).hexdigest()  # the new state names the CSV that never landed
    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert result.exit_code == 0, result.stderr
    assert "0 unchanged rows reused" in result.stderr  # one full run
    assert run_cli("classify", folder, "--out", tmp_path / "full.csv", "--jobs", "1").exit_code == 0
    assert out.read_bytes() == (tmp_path / "full.csv").read_bytes()
    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png", "c.png"]
