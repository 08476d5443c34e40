"""Find the image files under a folder, streaming and in a stable order.

``walk(root)`` yields a :class:`Found` for every file (or dangling link)
under ``root``, depth first, ordered exactly as sorting the relative
paths as strings would order them (a directory sorts as ``name/``).  Only one
directory listing is held at a time, so the first file comes out at once
even in a folder of hundreds of thousands.  Directory symlinks are followed,
but a directory already visited (a symlink loop) is never entered twice.
An image-named FIFO, socket or device is reported with a ``reason`` and never
opened (reading a FIFO would block the run forever).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

IMAGE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .bmp .gif .tif .tiff .webp .pgm .ppm .pbm .pnm".split()
)


@dataclass(frozen=True)
class Found:
    """One file found: its OS path, its path relative to the root, and a note.

    ``kind`` is ``"image"`` (to classify), ``"other"`` (skipped: not an image
    extension) or ``"unlistable"`` (a directory that could not be read;
    ``reason`` says why).  An ``"image"`` with a ``reason`` is not a regular
    file and must not be opened.
    """

    path: str
    rel: str
    kind: str
    reason: str = ""


def is_image_name(name: str) -> bool:
    """True when ``name`` has one of the image extensions, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk(
    root: str,
    recursive: bool = True,
    ignore: Callable[[str], bool] | None = None,
) -> Iterator[Found]:
    """Yield every file under ``root`` in sorted relative-path order.

    ``ignore(path)`` may return True for files that must not be seen at all
    (the run's own output, state and temporary files).
    """
    seen: set[tuple[int, int]] = set()
    st = os.stat(root)
    seen.add((st.st_dev, st.st_ino))
    yield from _walk_dir(root, "", recursive, ignore, seen)


def _walk_dir(
    path: str,
    rel: str,
    recursive: bool,
    ignore: Callable[[str], bool] | None,
    seen: set[tuple[int, int]],
) -> Iterator[Found]:
    try:
        entries = _sorted_entries(path)
    except OSError as exc:
        yield Found(path, rel.rstrip("/") or ".", "unlistable", _reason(exc))
        return
    for entry, is_dir in entries:
        child_rel = rel + _display_name(entry.name)
        if is_dir:
            if recursive and _first_visit(entry, seen):
                yield from _walk_dir(entry.path, child_rel + "/", recursive, ignore, seen)
            continue
        if ignore is not None and ignore(entry.path):
            continue
        if not is_image_name(entry.name):
            yield Found(entry.path, child_rel, "other")
        elif _is_special(entry):
            yield Found(entry.path, child_rel, "image", "not a regular file (FIFO, socket or device)")
        else:
            yield Found(entry.path, child_rel, "image")


def _sorted_entries(path: str) -> list[tuple[os.DirEntry[str], bool]]:
    with os.scandir(path) as it:
        entries = [(e, _is_dir(e)) for e in it]
    entries.sort(key=lambda item: _display_name(item[0].name) + ("/" if item[1] else ""))
    return entries


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:
        return False  # a symlink loop or dangling link: treated as a file


def _is_special(entry: os.DirEntry[str]) -> bool:
    """True for a FIFO, socket or device (or a link to one)."""
    try:
        if entry.is_file():  # no system call for a plain file
            return False
        mode = entry.stat().st_mode  # follows symlinks
    except OSError:
        return False  # a dangling link or a loop: loading it reports why
    return not stat.S_ISREG(mode)


def _first_visit(entry: os.DirEntry[str], seen: set[tuple[int, int]]) -> bool:
    try:
        st = entry.stat()
    except OSError:
        return False
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return False
    seen.add(key)
    return True


def _display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _reason(exc: OSError) -> str:
    return f"cannot list directory: {exc.strerror or exc}".rstrip()
