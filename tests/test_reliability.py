"""Runs that are killed, interrupted or overlap; monitoring output; logs without a terminal."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

import batchdigits.run.classify as classify_module
from batchdigits import classify_folder
from batchdigits.run.pipeline import Settings
from batchdigits.image.grid import GRID_VERSION
from batchdigits.run.lock import output_lock
from helpers import ANSI_ESCAPE, console_script, one_line_error, read_csv, run_cli, run_script
from imagemaker import make_image, save_digit

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
STARTUP_TIMEOUT = 120  # seconds for a subprocess to reach its work (slow, loaded machines)


# --- helpers ---------------------------------------------------------------


def _templates() -> list[bytes]:
    out = []
    for shape, size in (("one", (16, 20)), ("zero", (16, 20)), ("one", (20, 24)), ("zero", (24, 28))):
        buf = io.BytesIO()
        make_image(shape, size=size).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


TEMPLATES = _templates()


def fill(folder: Path, start: int, count: int) -> list[str]:
    """Write ``count`` small digit PNGs named ``NNNN.png`` (in two subfolders)."""
    names = []
    for i in range(start, start + count):
        rel = f"{'ab'[i % 2]}/{i:04d}.png"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(TEMPLATES[i % len(TEMPLATES)])
        names.append(rel)
    return names


def temps_beside(out: Path) -> list[str]:
    """Temporary files of the CSV (``.NAME.*.tmp``) and of its state (``..NAME.state.json.*.tmp``)."""
    prefixes = (f".{out.name}.", f"..{out.name}.state.json.")
    return sorted(
        n for n in os.listdir(out.parent) if n.startswith(prefixes) and n.endswith(".tmp")
    )


def state_of(out: Path) -> Path:
    return out.parent / f".{out.name}.state.json"


def reference_csv(folder: Path, where: Path) -> bytes:
    """A fresh full run's CSV, written in this process to ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    target = where / "reference.csv"
    classify_folder(folder, out=target, settings=Settings(jobs=1))
    return target.read_bytes()


def start_script(*args, drop_env=(), extra_env=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env.update(extra_env or {})
    return subprocess.Popen(
        [*console_script(), *(os.fspath(a) for a in args)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
    )


def wait_until_working(proc: subprocess.Popen, out: Path, writing: bool = False) -> None:
    """Poll until the run holds the lock and works: its state-body temp file exists.

    (The CLI's output check also makes a short-lived ``.NAME.*.tmp`` probe before
    the lock is taken; the state body, a temporary file beside the state file
    ``.NAME.state.json`` and so named ``..NAME.state.json.*.tmp``, exists only
    while the run is classifying.)  With ``writing``, wait further until rows
    have reached the state body and the CSV's temp file exists: by then both
    temporary files are guarded by their clean-up code.
    """
    state_prefix, csv_prefix = f"..{out.name}.state.json.", f".{out.name}."
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        names = [n for n in os.listdir(out.parent) if n.endswith(".tmp")]
        bodies = [n for n in names if n.startswith(state_prefix)]
        if bodies and not writing:
            return
        if bodies and any(n.startswith(csv_prefix) for n in names):
            try:
                if os.path.getsize(out.parent / bodies[0]) > 0:
                    return
            except OSError:
                pass
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"run ended (exit {proc.returncode}) before it was seen working:\n{err}")
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    pytest.fail("run did not start working in time")


def image_count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.png"))


# --- SIGKILL ---------------------------------------------------------------


def test_sigkill_mid_run_keeps_the_previous_csv_and_state_and_the_next_run_recovers(tmp_path):
    folder = tmp_path / "in"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "p.csv"
    fill(folder, 0, 300)

    first = run_script("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert first.returncode == 0, first.stderr
    csv_before, state_before = out.read_bytes(), state_of(out).read_bytes()
    assert len(read_csv(out)) == 300

    fill(folder, 300, 300)
    second = start_script("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    wait_until_working(second, out)
    second.send_signal(signal.SIGKILL)
    second.communicate(timeout=60)

    assert second.returncode == -signal.SIGKILL  # really killed, not finished
    assert out.read_bytes() == csv_before
    assert state_of(out).read_bytes() == state_before
    assert temps_beside(out), "the killed run should have left its temporary files"

    third = run_script("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert third.returncode == 0, third.stderr
    assert "300 unchanged rows reused" in third.stderr
    rows = read_csv(out)
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == 600 == image_count(folder)
    assert sorted(paths) == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert out.read_bytes() == reference_csv(folder, tmp_path / "ref")
    assert temps_beside(out) == []  # stale temps of the killed run were cleaned
    assert json.loads(state_of(out).read_text().splitlines()[0])["csv_sha256"]


def process_table() -> dict[int, tuple[int, str, int]]:
    """``{pid: (parent pid, state, start time)}`` of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            table[int(name)] = (int(fields[1]), fields[0].decode(), int(fields[19]))
    return table


def descendants(pid: int) -> set[tuple[int, int]]:
    """``(pid, start time)`` of every descendant of ``pid`` (the start time tells a
    reused pid from the process it named)."""
    table, found, todo = process_table(), set(), [pid]
    while todo:
        parent = todo.pop()
        children = {(p, start) for p, (ppid, _, start) in table.items() if ppid == parent} - found
        found |= children
        todo.extend(p for p, _ in children)
    return found


def alive(procs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The processes of ``procs`` still running (a zombie nobody reaps counts as gone)."""
    table = process_table()
    return {(p, s) for p, s in procs if p in table and table[p][1] != "Z" and table[p][2] == s}


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")
def test_sigkill_on_the_main_process_takes_its_workers_and_trackers_with_it(tmp_path):
    folder = tmp_path / "in"
    out = tmp_path / "p.csv"
    fill(folder, 0, 6000)
    proc = start_script("classify", folder, "--out", out, "--jobs", "2", "--quiet")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    children: set[int] = set()
    while len(children) < 4 and proc.poll() is None and time.monotonic() < deadline:
        children = descendants(proc.pid)  # 2 workers and 2 resource trackers
        time.sleep(0.02)
    assert len(children) >= 4 and proc.poll() is None, "the run was not seen with its workers"

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)  # not communicate(): orphaned workers would hold its stderr open
    deadline = time.monotonic() + 20  # they poll every 0.25 s; a loaded machine is slow
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert proc.returncode == -signal.SIGKILL
    left = alive(children)
    assert left == set(), f"workers or trackers outlived the killed run: {left} of {children}"
    assert not out.exists()
    proc.communicate(timeout=10)


# --- SIGTERM ---------------------------------------------------------------


def test_sigterm_mid_run_exits_130_and_leaves_the_previous_csv(tmp_path):
    folder = tmp_path / "in"
    out = tmp_path / "p.csv"
    fill(folder, 0, 100)
    classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    csv_before, state_before = out.read_bytes(), state_of(out).read_bytes()
    fill(folder, 100, 400)

    proc = start_script(  # small batches: rows are written as the run goes
        "classify", folder, "--out", out, "--jobs", "1", "--incremental", "--batch-size", "16"
    )
    wait_until_working(proc, out, writing=True)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert "interrupted" in one_line_error(err)
    assert out.read_bytes() == csv_before
    assert state_of(out).read_bytes() == state_before
    assert temps_beside(out) == []


def test_interrupt_while_the_state_is_written_does_not_claim_the_old_csv_was_kept(
    tmp_path, monkeypatch
):
    """A SIGTERM just as the incremental state is written: exit 130 must mean the previous
    CSV and state are still there (the CSV is moved into place only when nothing else can
    fail)."""
    folder = tmp_path / "in"
    out = tmp_path / "p.csv"
    fill(folder, 0, 10)
    classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    before, state_before = out.read_bytes(), state_of(out).read_bytes()
    fill(folder, 10, 10)
    real = classify_module.write_state

    def sigterm_then_write(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(classify_module, "write_state", sigterm_then_write)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    if result.exit_code == 130:
        assert out.read_bytes() == before, "exit 130 says the previous CSV was kept"
        assert state_of(out).read_bytes() == state_before
        assert temps_beside(out) == []
    else:
        assert result.exit_code == 0
        assert len(read_csv(out)) == 20


def test_interrupt_right_after_a_temporary_file_is_created_leaves_no_temp(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    out = tmp_path / "p.csv"
    fill(folder, 0, 10)
    classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    before = out.read_bytes(), state_of(out).read_bytes()
    real = os.open

    def open_then_sigterm(path, flags, *args, **kwargs):
        made = real(path, flags, *args, **kwargs)
        name = os.path.basename(os.fspath(path))
        if flags & os.O_CREAT and name.startswith(f"..{out.name}.state.json."):  # the state body
            # the signal goes to the process: any of its threads (BLAS, loky) may take it
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises KeyboardInterrupt
        return made

    monkeypatch.setattr(os, "open", open_then_sigterm)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert result.exit_code == 130
    assert (out.read_bytes(), state_of(out).read_bytes()) == before
    assert temps_beside(out) == []


# --- concurrent runs ------------------------------------------------------


def test_a_held_lock_makes_the_cli_exit_75_without_touching_the_output(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 4)
    out = tmp_path / "p.csv"

    with output_lock(str(out)):
        proc = run_script("classify", folder, "--out", out, "--jobs", "1")

    assert proc.returncode == 75
    line = one_line_error(proc.stderr)
    assert "another batchdigits run" in line and f"pid {os.getpid()}" in line
    assert proc.stdout == ""
    assert not out.exists()
    assert not state_of(out).exists()
    assert temps_beside(out) == []


def test_a_held_lock_leaves_an_existing_csv_as_it_was_in_process(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 4)
    out = tmp_path / "p.csv"
    classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    before = out.read_bytes(), state_of(out).read_bytes()
    fill(folder, 4, 4)

    with output_lock(str(out)):
        result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert result.exit_code == 75
    assert "another batchdigits run" in one_line_error(result.stderr)
    assert (out.read_bytes(), state_of(out).read_bytes()) == before

    after = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert after.exit_code == 0, after.stderr  # the lock was released with the block
    assert len(read_csv(out)) == 8


def test_a_held_lock_is_refused_before_the_model_is_loaded(tmp_path, monkeypatch):
    import batchdigits.learn.builtin as builtin_module
    import batchdigits.learn.model as model_module

    folder = tmp_path / "in"
    fill(folder, 0, 4)
    out = tmp_path / "p.csv"
    loads = []

    def no_model_please(*args, **kwargs):
        loads.append(args)
        raise AssertionError("the model was loaded although the output is locked")

    monkeypatch.setattr(builtin_module, "get_default_model", no_model_please)  # the CLI imports it when needed
    monkeypatch.setattr(model_module, "load_model", no_model_please)

    with output_lock(str(out)):
        result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 75, result.stderr
    assert "another batchdigits run" in one_line_error(result.stderr)
    assert loads == []
    assert not out.exists()


def test_two_runs_started_together_on_the_same_output(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 300)
    out = tmp_path / "p.csv"

    procs = [start_script("classify", folder, "--out", out, "--jobs", "1") for _ in range(2)]
    results = [(p, *p.communicate(timeout=300)) for p in procs]

    codes = [p.returncode for p, _, _ in results]
    assert set(codes) <= {0, 75}, [err for _, _, err in results]
    assert 0 in codes
    for proc, _, err in results:
        assert "Traceback" not in err
        if proc.returncode == 75:
            assert "another batchdigits run" in one_line_error(err)
    assert out.read_bytes() == reference_csv(folder, tmp_path / "ref")
    assert temps_beside(out) == []


# --- --summary-json ----------------------------------------------------------


def test_summary_json_counts_equal_the_csv(tmp_path, default_model):
    folder = tmp_path / "in"
    fill(folder, 0, 6)
    save_digit(folder / "blank.png", "blank")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (folder / "readme.txt").write_text("skip")
    out = tmp_path / "p.csv"
    summary = tmp_path / "summary.json"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--summary-json", summary)

    assert result.exit_code == 1, result.stderr
    data = json.loads(summary.read_text(encoding="utf-8"))
    rows = read_csv(out)
    assert data["found"] == len(rows) == 8
    expected = dict.fromkeys(("ok", "low_confidence", "blank", "error", "reviewed"), 0)
    expected.update(Counter(r["status"] for r in rows))
    assert data["statuses"] == expected
    assert data["statuses"]["error"] == 1 and data["statuses"]["blank"] == 1
    labels = Counter(r["label"] for r in rows if r["label"])
    assert data["digits"] == {str(d): labels.get(str(d), 0) for d in range(10)}
    assert data["classified"] == data["statuses"]["ok"] + data["statuses"]["low_confidence"]
    assert data["skipped"] == 1
    assert isinstance(data["elapsed_seconds"], (int, float)) and data["elapsed_seconds"] >= 0
    assert isinstance(data["images_per_second"], (int, float)) and data["images_per_second"] >= 0
    assert data["model"] == default_model.source
    assert data["model_sha256"] == default_model.sha256
    assert data["grid_version"] == GRID_VERSION
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_summary_json_reports_reused_rows(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 5)
    out = tmp_path / "p.csv"
    summary = tmp_path / "summary.json"
    args = ("classify", folder, "--out", out, "--jobs", "1", "--incremental", "--summary-json", summary)
    run_cli(*args)
    fill(folder, 5, 2)

    result = run_cli(*args)

    assert result.exit_code == 0, result.stderr
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert (data["found"], data["reused"]) == (7, 5)


# --- logs without a terminal --------------------------------------------------


def test_without_a_terminal_log_lines_are_timestamped_and_uncoloured(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 4)
    save_digit(folder / "blank.png", "blank")
    out = tmp_path / "p.csv"

    proc = start_script(
        "classify", folder, "--out", out, "--jobs", "1", "--review-sheet", tmp_path / "sheet.png",
        drop_env=("NO_COLOR",), extra_env={"TERM": "xterm-256color"},
    )
    _, err = proc.communicate(timeout=300)

    assert proc.returncode == 0, err
    assert ANSI_ESCAPE not in err and "\x1b" not in err
    assert "\r" not in err  # no progress bar redraws
    log_lines = [line for line in err.splitlines() if "images:" in line or "review sheet" in line]
    assert len(log_lines) == 2, err
    for line in log_lines:
        assert TIMESTAMP.match(line), line
    assert re.search(r"5 images: .*0 unchanged rows reused", log_lines[-1])


def test_quiet_prints_nothing_for_a_clean_folder(tmp_path):
    folder = tmp_path / "in"
    fill(folder, 0, 3)
    out = tmp_path / "p.csv"

    proc = start_script(
        "classify", folder, "--out", out, "--jobs", "1", "--quiet", "--incremental",
        drop_env=("NO_COLOR",),
    )
    stdout, err = proc.communicate(timeout=300)

    assert proc.returncode == 0
    assert (stdout, err) == ("", "")
    assert len(read_csv(out)) == 3


def test_quiet_prints_only_the_error_line_for_a_bad_argument(tmp_path):
    proc = start_script(
        "classify", tmp_path / "missing", "--out", tmp_path / "p.csv", "--quiet",
        drop_env=("NO_COLOR",),
    )
    stdout, err = proc.communicate(timeout=300)

    assert proc.returncode == 2
    assert stdout == ""
    line = one_line_error(err)
    assert line.startswith("batchdigits: error: ") and "folder not found" in line
    assert "\x1b" not in err
    assert not (tmp_path / "p.csv").exists()


def tiff_with_an_odd_tag(path: Path) -> Path:
    """A readable TIFF whose PlanarConfiguration tag claims 65 values: Pillow reads the
    image fine but issues a UserWarning ("tag 284 had too many entries")."""
    buf = io.BytesIO()
    make_image("zero", "RGB").save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 284:
            struct.pack_into("<I", data, entry + 4, 65)
            break
    else:
        pytest.fail("no PlanarConfiguration tag")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def test_quiet_prints_nothing_for_a_clean_folder_even_when_pillow_warns(tmp_path):
    folder = tmp_path / "in"
    tiff_with_an_odd_tag(folder / "zero.tif")
    out = tmp_path / "p.csv"

    proc = run_script("classify", folder, "--out", out, "--jobs", "1", "--quiet")

    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in read_csv(out)] == ["ok"]
    assert proc.stderr == ""
