"""Content hashes of files, read without ever blocking on a FIFO."""

from __future__ import annotations

import hashlib

from .files import open_input


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes (``""`` if it cannot be read).

    >>> file_sha256("/nonexistent/file")
    ''
    """
    digest = hashlib.sha256()
    try:
        with open_input(path) as fh:  # never blocks on a FIFO
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()
