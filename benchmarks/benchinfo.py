"""What a benchmark measured: the code state, a PASS/MISS verdict, the process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def code_state() -> str:
    """The batchdigits version and git state being measured."""
    import batchdigits

    try:
        head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %cd",
                               "--date=format:%Y-%m-%d %H:%M"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "batchdigits"],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return f"batchdigits {batchdigits.__version__} (no git information)"
    extra = f", uncommitted changes in {', '.join(dirty)}" if dirty else ""
    return f"batchdigits {batchdigits.__version__} at git {head}{extra}"


def old_package_root(rev: str, into: Path) -> Path:
    """The ``batchdigits`` package of git revision ``rev`` extracted under ``into`` as ``batchdigits_old``
    (importable: ``into`` goes first on ``sys.path``); returns its folder."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "batchdigits"], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "batchdigits").rename(into / "batchdigits_old")
    sys.path.insert(0, str(into))
    return into / "batchdigits_old"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` first, then all its live descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        fields = stat_fields(int(name)) if name.isdigit() else None
        if fields is not None:
            kids.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out
