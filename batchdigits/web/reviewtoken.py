"""The review page's token, kept in a file so a restarted server lets the same page go on.

``kept_token(path)`` returns the token stored in ``path`` when that file is
safe to trust -- a regular file (not a symbolic link, FIFO or folder) owned
by this user, readable and writable by nobody else (mode 0600), holding one
token of 32 or more URL-safe characters -- and otherwise writes a new random
token (``secrets.token_urlsafe``) there: a temporary file created
exclusively with mode 0600 beside it, then renamed over it (a symbolic link
in its place is replaced, never followed).  The second value says why an
existing file was replaced ("" when it was reused or absent).

The default place is beside the corrections file, hidden:
``.predictions.corrections.csv.token`` for ``predictions.corrections.csv``.

>>> token, why = kept_token("/tmp/x/.c.csv.token")   # doctest: +SKIP
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat

from ..io.atomic import owned_temp

TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
OWNER_ONLY = 0o600


def default_token_path(corrections: str) -> str:
    """``DIR/.NAME.token`` for the corrections file ``DIR/NAME``."""
    folder, name = os.path.split(os.path.abspath(corrections))
    return os.path.join(folder, f".{name}.token")


def new_token() -> str:
    """32 random URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def kept_token(path: str) -> tuple[str, str]:
    """``(token, why_replaced)``: the token kept in ``path``, or a new one written there.

    Raises ``OSError`` when ``path`` can be neither trusted nor replaced
    (e.g. a folder, or a folder without write permission).
    """
    token, why = _read(path)
    if token is not None:
        return token, ""
    token = new_token()
    _write(path, token)
    return token, why


def _read(path: str) -> tuple[str | None, str]:
    """The token in ``path`` if the file is safe, else ``(None, why not)``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a symbolic link
            return None, "it was a symbolic link"
        if os.path.isdir(path):
            raise
        return None, f"it could not be read ({exc.strerror or exc})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "it was not a regular file"
        if hasattr(os, "geteuid"):  # POSIX: owner and mode mean something
            if info.st_uid != os.geteuid():
                return None, "it belonged to another user"
            if info.st_mode & 0o077:
                return None, f"others could read or write it (mode {stat.S_IMODE(info.st_mode):o})"
        data = os.read(fd, 256)
    finally:
        os.close(fd)
    text = data.decode("ascii", errors="replace").strip()
    if not TOKEN.fullmatch(text):
        return None, "it did not hold a token"
    return text, ""


def _write(path: str, token: str) -> None:
    """``token`` into ``path`` (mode 0600), atomically; a link at ``path`` is replaced, not followed."""
    with owned_temp(path) as (fd, temp):
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), OWNER_ONLY)  # created 0600; stays so whatever the umask
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
