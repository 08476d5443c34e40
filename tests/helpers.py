"""Running batchdigits in-process (CliRunner) and as the installed console script; reading its CSV."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchdigits.cli import app

COLUMNS = ["path", "label", "confidence", "status", "error"]
ANSI_ESCAPE = "\x1b["

skip_if_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads and writes files whatever their permissions",
)


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


def one_line_error(stderr: str) -> str:
    """Assert ``stderr`` is a single readable error line and return it."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    return lines[0]
