"""Running batchdigits in-process (CliRunner) and as the installed console script; reading its CSV."""

from __future__ import annotations

import re

import builtins
import csv
import errno
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchdigits.cli.app import app

COLUMNS = ["path", "label", "confidence", "status", "error"]
ANSI_ESCAPE = "\x1b["

_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def deny_access(
    monkeypatch: pytest.MonkeyPatch,
    unreadable: Iterable[str | os.PathLike[str]] = (),
    read_only: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Permission errors as ``chmod`` gives them to anyone but root (CI runs as root,
    who may read and write anything): opening or listing an ``unreadable`` path, and
    creating, writing, renaming or removing anything in a ``read_only`` folder, raise
    ``PermissionError`` (errno 13) -- in this process (use ``--jobs 1``)."""
    no_read = {os.path.realpath(p) for p in unreadable}
    no_write = {os.path.realpath(p) for p in read_only}
    real_open, real_scandir, real_builtin_open = os.open, os.scandir, builtins.open

    def check(path: object, writing: bool) -> None:
        if isinstance(path, int):
            return  # a file descriptor: already open
        real = os.path.realpath(os.fsdecode(os.fspath(path)))  # type: ignore[arg-type]
        if real in no_read or (writing and (real in no_write or os.path.dirname(real) in no_write)):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(os.fspath(path)))  # type: ignore[arg-type]

    def open_(path, flags, *args, **kwargs):
        check(path, bool(flags & _WRITING))
        return real_open(path, flags, *args, **kwargs)

    def scandir(path="."):
        check(path, False)
        return real_scandir(path)

    def builtin_open(file, mode="r", *args, **kwargs):
        check(file, any(c in mode for c in "wax+"))
        return real_builtin_open(file, mode, *args, **kwargs)

    def changing(real_function):
        def refuse_then_call(*paths, **kwargs):
            for path in paths:
                check(path, True)
            return real_function(*paths, **kwargs)

        return refuse_then_call

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(builtins, "open", builtin_open)
    for name in ("replace", "rename", "unlink", "mkdir", "rmdir", "chmod"):
        monkeypatch.setattr(os, name, changing(getattr(os, name)))


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of a batchdigits CSV as dicts; the header must be exactly COLUMNS."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert header == COLUMNS
    rows = [dict(zip(COLUMNS, fields, strict=True)) for fields in reader]
    return rows


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read the CSV file at ``path`` back with the csv module."""
    with open(path, encoding="utf-8", newline="") as fh:
        return parse_csv(fh.read())


def statuses(rows: list[dict[str, str]]) -> dict[str, str]:
    """``{path: status}`` for the rows."""
    return {row["path"]: row["status"] for row in rows}


def run_cli(*args: str | os.PathLike[str]):
    """Run ``batchdigits ARGS`` in this process through typer's CliRunner."""
    runner = CliRunner()
    return runner.invoke(app, [os.fspath(a) for a in args], catch_exceptions=False)


def console_script() -> list[str]:
    """The installed ``batchdigits`` console script (the one of this venv)."""
    beside = Path(sys.executable).with_name("batchdigits")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("batchdigits")
    if found:
        return [found]
    return [sys.executable, "-m", "batchdigits"]


def run_script(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the console script in a subprocess; it inherits the test environment
    (see conftest.py) plus ``env``."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*console_script(), *(os.fspath(a) for a in args)],
        env=full_env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=timeout,
    )


LOG_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} ")


def one_line_error(stderr: str) -> str:
    """Assert ``stderr`` is a single readable error line and return it without the
    timestamp it carries when stderr is not a terminal."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    return LOG_TIMESTAMP.sub("", lines[0])


SCAN_FORMATS = ("png", "jpg", "bmp", "tif")
SCAN_MODES = ("L", "RGB", "P", "LA", "I;16", "1")


def save_scan(img, path: Path, i: int) -> Path:
    """Save a Pillow image as ``path`` + the ``i``-th of :data:`SCAN_FORMATS`, in the ``i``-th of
    :data:`SCAN_MODES` where that format holds the mode (16-bit gray only as PNG)."""
    import numpy as np
    from PIL import Image

    fmt, mode = SCAN_FORMATS[i % len(SCAN_FORMATS)], SCAN_MODES[i % len(SCAN_MODES)]
    if mode == "I;16" and fmt == "png":
        img = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    elif mode in ("P", "1", "LA") and fmt in ("png", "bmp", "tif") and not (mode == "LA" and fmt == "bmp"):
        img = img.convert(mode)
    elif mode == "RGB":
        img = img.convert("RGB")
    out = path.with_name(f"{path.name}.{fmt}")
    img.save(out)
    return out
