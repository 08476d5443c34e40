"""Replace a file atomically: write a temporary file beside it, then ``os.replace``.

A run that fails or is interrupted removes its temporary file and leaves the
previous file untouched; a run killed with SIGKILL leaves at most one
``.NAME.*.tmp`` file, which :func:`remove_stale_temps` clears next time.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def temp_prefix(target: str) -> str:
    """File-name prefix of the temporary files made for ``target``.

    >>> len(temp_prefix("x" * 240 + ".csv").encode()) < 255 - 21
    True
    """
    return f".{short_name(os.path.basename(target))}."


def short_name(name: str) -> str:
    """``name`` as the start of a hidden file's name: whole when it is short, else its
    first 100 bytes and a hash of it, so the hidden name (``name`` plus a few dozen
    bytes) stays within the 255 bytes a file name may have wherever ``name`` fits."""
    raw = os.fsencode(name)
    if len(raw) <= _LONG_NAME:
        return name
    return f"{raw[:100].decode('utf-8', errors='ignore')}~{hashlib.sha256(raw).hexdigest()[:16]}"


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


_LONG_NAME = 200  # bytes of a target's name kept whole in its temporary files' names
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


_REPLACES: list[tuple[str, str]] = []  # (target, temp file) of every replace begun in this process


@contextmanager
def naming(path: str, temp: str | None = None) -> Iterator[None]:
    """An ``OSError`` from the block without a file name (a ``write`` on a full disk),
    or naming ``path``'s temporary file ``temp``, gets ``path`` as its ``filename``,
    so the message says which file -- the one people know."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None or (temp is not None and exc.filename == temp):
            exc.filename = path
        raise


@contextmanager
def atomic_write(target: str, binary: bool = False, told: bool = True) -> Iterator[IO]:
    """Yield a file handle whose content replaces ``target`` on success.

    ``told=False`` for a file of our own the user never named (a record kept
    beside the output): an interrupt's message lists only the others."""
    with owned_temp(target) as (fd, tmp), naming(target, tmp):
        if binary:
            fh: IO = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())
        if not told:
            os.replace(tmp, target)
            return
        _REPLACES.append((target, tmp))
        try:
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):  # not replaced (an interrupt just after it was)
                _REPLACES.remove((target, tmp))
            raise


def replace_mark() -> int:
    """A mark for :func:`replaced_since`: how many replaces this process began."""
    return len(_REPLACES)


def replaced_since(mark: int) -> list[str]:
    """Targets really replaced (their temporary file is gone) since ``mark``."""
    return [target for target, tmp in _REPLACES[mark:] if not os.path.exists(tmp)]


def interrupted_message(mark: int = 0) -> str:
    """What an interrupt left behind, in one line: the files replaced since ``mark``
    are complete new versions; anything else keeps its previous content."""
    done = list(dict.fromkeys(replaced_since(mark)))
    if not done:
        return "interrupted; the previous output was left as it was"
    return f"interrupted after {', '.join(done)} had been written completely (the new version is in place)"


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
