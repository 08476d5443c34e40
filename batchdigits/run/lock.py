"""One run per output at a time: an OS lock (``fcntl.flock``) on a file beside it.

The lock belongs to the open file descriptor, so the kernel releases it when
the process ends in any way, ``kill -9`` included: a lock left by a killed
run never blocks the next one.  The lock file itself stays (removing it
would open a race) and is hidden: ``.predictions.csv.lock``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .state import lock_path


class OutputLocked(Exception):
    """Another run holds the lock of this output; ``str(err)`` says which."""


@contextmanager
def output_lock(out: str) -> Iterator[None]:
    """Hold the lock of ``out`` for the duration of the block, or raise OutputLocked."""
    path = lock_path(out)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # workers never hold it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise OutputLocked(
                f"another batchdigits run (pid {holder}) is writing {out}; try again later"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
