"""``--out`` never replaces what is not a CSV batchdigits wrote, unless ``--force``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit

OUR_CSV = b"path,label,confidence,status,error\nold.png,7,0.9000,ok,\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_digit(tmp_path / "in" / "a.png", "one")
    save_digit(tmp_path / "in" / "b.png", "zero")
    return tmp_path / "in"


def char_device(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node like /dev/null (1, 3) at ``path``: made with mknod when allowed (root),
    else a regular file that ``os.stat`` reports as a character device."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return
    except PermissionError:
        pass
    path.write_bytes(b"")
    real = os.stat

    def stat_as_device(p, *args, **kwargs):
        result = real(p, *args, **kwargs)
        if os.fspath(p) == str(path):
            fields = list(result)
            fields[0] = stat.S_IFCHR | 0o666
            return os.stat_result(fields)
        return result

    monkeypatch.setattr(os, "stat", stat_as_device)


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("char-device", "is not a regular file"),
        ("input-image", "is one of the input images"),
        ("text-file", "is not a CSV written by batchdigits"),
        ("other-csv", "is not a CSV written by batchdigits"),
    ],
)
def test_out_that_is_not_our_csv_is_refused_with_exit_2(tmp_path, folder, monkeypatch, kind, phrase):
    target = {
        "char-device": tmp_path / "null",
        "input-image": folder / "a.png",
        "text-file": tmp_path / "notes.txt",
        "other-csv": tmp_path / "budget.csv",
    }[kind]
    if kind == "char-device":
        char_device(target, monkeypatch)
    elif kind == "text-file":
        target.write_text("my notes\n")
    elif kind == "other-csv":
        target.write_text("path,label\nx.png,3\n")
    before = os.stat(target)
    content = target.read_bytes() if kind != "char-device" else b""

    result = run_cli("classify", folder, "--out", target, "--jobs", "1")

    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert phrase in line and "--force" in line
    after = os.stat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)  # not replaced
    if kind != "char-device":
        assert target.read_bytes() == content
    assert temps(target.parent) == []


def test_a_fifo_as_out_is_refused_by_the_console_script(tmp_path, folder):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)

    proc = run_script("classify", folder, "--out", fifo, "--jobs", "1", timeout=60)

    assert proc.returncode == 2
    assert "is not a regular file" in one_line_error(proc.stderr)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_as_summary_json_is_refused(tmp_path, folder):
    fifo = tmp_path / "summary.json"
    os.mkfifo(fifo)

    result = run_cli("classify", folder, "--out", tmp_path / "p.csv", "--summary-json", fifo)

    assert result.exit_code == 2
    assert "is not a regular file" in one_line_error(result.stderr)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("existing", [OUR_CSV, b""])
def test_our_own_csv_or_an_empty_file_is_replaced(tmp_path, folder, existing):
    out = tmp_path / "p.csv"
    out.write_bytes(existing)

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png"]


def test_force_replaces_a_file_that_is_not_our_csv(tmp_path, folder):
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--force")

    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == ["a.png", "b.png"]
