"""Counts in words for people: "1 file", "2 files" (standard library only)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``noun + "s"`` unless given) when ``n`` is not 1.

    >>> counted(1, "file"), counted(0, "file"), counted(2, "other file"), counted(3, "copy", "copies")
    ('1 file', '0 files', '2 other files', '3 copies')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
