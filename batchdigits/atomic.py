"""Replace a file atomically: write a temporary file beside it, then ``os.replace``.

A run that fails or is interrupted removes its temporary file and leaves the
previous file untouched; a run killed with SIGKILL leaves at most one
``.NAME.*.tmp`` file, which :func:`remove_stale_temps` clears next time.
"""

from __future__ import annotations

import os
import secrets
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
    """Create a new temporary file beside ``target``; it is removed when the block
    ends (after a successful ``os.replace`` there is nothing left to remove).

    The name is chosen before the file is created (``O_CREAT | O_EXCL``), and
    the creation happens inside the ``try`` whose ``finally`` removes it, so an
    interrupt at any moment -- whichever thread the signal lands on -- can
    never leave the file behind.
    """
    directory = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(directory, f"{temp_prefix(target)}{secrets.token_hex(8)}.tmp")
    ours = True
    try:
        try:
            fd = os.open(tmp, _CREATE, 0o600)
        except FileExistsError:
            ours = False  # another file's name (odds 2**-64): not ours to remove
            raise
        yield fd, tmp
    finally:
        if ours:
            unlink_quietly(tmp)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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
