"""Replace a file atomically: write a temporary file beside it, then ``os.replace``.

A run that fails or is interrupted removes its temporary file and leaves the
previous file untouched; a run killed with SIGKILL leaves at most one
``.NAME.*.tmp`` file, which :func:`remove_stale_temps` clears next time.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def temp_prefix(target: str) -> str:
    """File-name prefix of the temporary files made for ``target``."""
    return f".{os.path.basename(target)}."


def is_temp_for(target: str, name: str) -> bool:
    """True when the file name ``name`` is one of ``target``'s temporary files."""
    return name.startswith(temp_prefix(target)) and name.endswith(".tmp")


@contextmanager
def owned_temp(target: str) -> Iterator[tuple[int, str]]:
    """``mkstemp`` beside ``target``; the file is removed when the block ends
    (after a successful ``os.replace`` there is nothing left to remove).

    SIGINT and SIGTERM are held back from creating the file until its cleanup
    is armed, so an interrupt can never leave it behind.
    """
    directory = os.path.dirname(os.path.abspath(target))
    held = {signal.SIGINT, signal.SIGTERM}
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=directory)
    except BaseException:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        raise
    try:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)  # a pending interrupt fires here
        yield fd, tmp
    finally:
        unlink_quietly(tmp)


@contextmanager
def atomic_write(target: str, binary: bool = False) -> Iterator[IO]:
    """Yield a file handle whose content replaces ``target`` on success."""
    with owned_temp(target) as (fd, tmp):
        if binary:
            fh: IO = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)


def remove_stale_temps(target: str) -> None:
    """Delete temporary files a killed earlier run left beside ``target``."""
    directory = os.path.dirname(os.path.abspath(target))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if is_temp_for(target, name):
            unlink_quietly(os.path.join(directory, name))


def unlink_quietly(path: str) -> None:
    """Remove ``path`` if it exists; ignore every error."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def temp_beside(target: str) -> Iterator[str]:
    """Path of a fresh temporary file beside ``target``, removed afterwards."""
    with owned_temp(target) as (fd, tmp):
        os.close(fd)
        yield tmp
