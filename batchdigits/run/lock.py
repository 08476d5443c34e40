"""One writer at a time: an OS lock (``fcntl.flock``) on a hidden file beside what is written.

``output_lock(out)`` lets one run at a time write a CSV; ``file_lock(path)``
waits its turn (a bounded wait) -- the review servers take it around each
read-merge-replace of a corrections file, so two servers on one file lose
no decision.

The lock belongs to the open file descriptor, so the kernel releases it when
the process ends in any way, ``kill -9`` included: a lock left by a killed
run never blocks the next one.  The lock file itself stays (removing it
would open a race) and is hidden: ``.predictions.csv.lock``.  It is opened
without following a symbolic link and only used when it is a regular file:
a link planted there never makes a run truncate the file it points to.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..exitcodes import Unusable
from .state import lock_path

_OPEN = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class OutputLocked(Exception):
    """Another run holds the lock of this output; ``str(err)`` says which."""


class LockFileError(Unusable):
    """The lock file cannot be used (a symbolic link, a folder, a FIFO...); ``str(err)`` says why."""


@contextmanager
def output_lock(out: str) -> Iterator[None]:
    """Hold the lock of ``out`` for the duration of the block, or raise OutputLocked
    (another run holds it) or :class:`LockFileError`."""
    path = lock_path(out)
    fd = open_lock_file(path)  # workers never hold it (close-on-exec)
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


@contextmanager
def file_lock(target: str, wait: float) -> Iterator[None]:
    """Hold the exclusive lock of ``target`` (on its hidden lock file), waiting at
    most ``wait`` seconds for another holder; then :class:`OutputLocked`."""
    fd = open_lock_file(lock_path(target))
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputLocked(f"{target} is being written by another process; try again") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)


def open_lock_file(path: str) -> int:
    """Open (creating it) the lock file ``path``: never through a symbolic link, never
    blocking, and only a regular file; else :class:`LockFileError` naming it."""
    try:
        fd = os.open(path, _OPEN, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockFileError(f"lock file {path} is a symbolic link; refusing to use it "
                                "(remove it; batchdigits makes its own)") from None
        raise LockFileError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LockFileError(f"lock file {path} is not a regular file (a FIFO, socket or device); "
                            "refusing to use it (remove it)")
    return fd
