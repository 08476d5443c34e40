"""Replace a file atomically: write a temporary file beside it, then ``os.replace``.

A run that fails or is interrupted removes its temporary file and leaves the
previous file untouched; a run killed with SIGKILL leaves at most one
``.NAME.*.tmp`` file, which :func:`remove_stale_temps` clears next time.
"""

from __future__ import annotations

import os
import tempfile
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
def atomic_write(target: str, binary: bool = False) -> Iterator[IO]:
    """Yield a file handle whose content replaces ``target`` on success."""
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=directory)
    try:
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
    except BaseException:
        unlink_quietly(tmp)
        raise


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
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
    finally:
        unlink_quietly(tmp)
