"""What a benchmark measured: the code state and a PASS/MISS verdict."""

from __future__ import annotations

import subprocess
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


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
