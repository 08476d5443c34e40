"""A test hook: wait at a named moment of a command so a test can signal it there (standard library only)."""

from __future__ import annotations

import os
import time

PAUSE_ENV = "BATCHDIGITS_TEST_PAUSE"  # tests only: "PHASE=FLAGFILE" waits at PHASE (see pause)


def pause(phase: str) -> None:
    """For tests that signal at a known moment: with ``$BATCHDIGITS_TEST_PAUSE`` set to
    ``PHASE=FLAGFILE``, create FLAGFILE and wait (up to a minute) for a signal at PHASE."""
    wanted, _, flag = os.environ.get(PAUSE_ENV, "").partition("=")
    if wanted != phase or not flag:
        return
    with open(flag, "w"):
        pass
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.01)
