"""Find the image files under a folder, streaming and in a stable order.

``walk(root)`` yields a :class:`Found` for every file (or dangling link)
under ``root``, depth first, ordered exactly as sorting the relative
paths as strings would order them (a directory sorts as ``name/``).  Only one
directory listing is held at a time, so the first file comes out at once
even in a folder of hundreds of thousands.  Directory symlinks are followed,
but a directory already visited (a symlink loop) is never entered twice.
An image-named FIFO, socket or device is reported with a ``reason`` and never
opened (reading a FIFO would block the run forever); :func:`open_input` opens
the files that look regular without ever blocking, in case one was swapped.

Relative paths are text for the CSV (:func:`csv_name`): a literal backslash
is doubled and bytes that are not UTF-8 become ``\\xNN``, so two different
names never give the same text; :func:`path_from_csv` is the inverse.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO, NamedTuple

IMAGE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .bmp .gif .tif .tiff .webp .pgm .ppm .pbm .pnm".split()
)

MAX_EXTENSION = max(map(len, IMAGE_EXTENSIONS))

NOT_REGULAR = "not a regular file (FIFO, socket or device)"


class NotRegularFile(OSError):
    """An input that is a FIFO, socket or device; ``str(err)`` is the reason."""


class Found(NamedTuple):
    """One file found: its OS path, its path relative to the root, and a note
    (a named tuple: the walk makes one per file).

    ``kind`` is ``"image"`` (to classify), ``"other"`` (skipped: not an image
    extension) or ``"unlistable"`` (a directory that could not be read;
    ``reason`` says why).  An ``"image"`` with a ``reason`` is not a regular
    file and must not be opened.
    ``rel`` uses ``/`` separators and the escapes of :func:`csv_name`.
    """

    path: str
    rel: str
    kind: str
    reason: str = ""


def is_image_name(name: str) -> bool:
    """True when ``name`` has one of the image extensions, in any case: the extension
    ``os.path.splitext`` finds (a name's leading dots are not one), found without it
    (asked of every file walked: 1.8 -> 0.8 us)."""
    dot = name.rfind(".")
    if dot <= 0 or dot < len(name) - MAX_EXTENSION or (name[0] == "." and not name[:dot].strip(".")):
        return False
    return name[dot:].lower() in IMAGE_EXTENSIONS


def walk(
    root: str,
    recursive: bool = True,
    ignore: Callable[[str], bool] | None = None,
) -> Iterator[Found]:
    """Yield every file under ``root`` in sorted relative-path order, at any depth.

    ``ignore(path)`` may return True for files that must not be seen at all
    (the run's own output, state and temporary files).  A folder that cannot
    be listed or even looked at (a full path over the system's limit, no
    search permission) is yielded as ``"unlistable"`` with the reason: every
    file gets a row or its folder an error row, never silence.  Depth costs
    no recursion: the folders being walked are an explicit stack.
    """
    seen: set[tuple[int, int]] = set()
    st = os.stat(root)
    seen.add((st.st_dev, st.st_ino))
    stack: list[Iterator[Found | tuple[str, str]]] = [_listing(root, "", recursive, ignore, seen)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, Found):
            yield item
        else:  # a folder to enter, where it sorts
            stack.append(_listing(item[0], item[1], recursive, ignore, seen))


def _listing(
    path: str,
    rel: str,
    recursive: bool,
    ignore: Callable[[str], bool] | None,
    seen: set[tuple[int, int]],
) -> Iterator[Found | tuple[str, str]]:
    """One folder's files as :class:`Found`, and its subfolders to enter as ``(path, rel)``."""
    try:
        entries = _sorted_entries(path)
    except OSError as exc:
        yield Found(path, rel.rstrip("/") or ".", "unlistable", _reason(exc))
        return
    for entry, is_dir, name in entries:
        child_rel = rel + name
        if is_dir:
            if recursive:
                problem = _first_visit(entry, seen)
                if problem:
                    yield Found(entry.path, child_rel, "unlistable", problem)
                elif problem is not None:
                    yield entry.path, child_rel + "/"
            continue
        if ignore is not None and ignore(entry.path):
            continue
        if not is_image_name(entry.name):
            yield Found(entry.path, child_rel, "other")
        elif _is_special(entry):
            yield Found(entry.path, child_rel, "image", NOT_REGULAR)
        else:
            yield Found(entry.path, child_rel, "image")


def _sorted_entries(path: str) -> list[tuple[os.DirEntry[str], bool, str]]:
    """The folder's entries, whether each is a folder, and each one's name as text
    (:func:`csv_name`), sorted as the relative paths sort (a folder as ``name/``)."""
    with os.scandir(path) as it:
        entries = [(e, _is_dir(e), csv_name(e.name)) for e in it]
    entries.sort(key=lambda item: item[2] + "/" if item[1] else item[2])
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


def _first_visit(entry: os.DirEntry[str], seen: set[tuple[int, int]]) -> str | None:
    """``""``: enter this folder; ``None``: already visited (a symlink loop); else why
    it cannot be entered (its ``stat`` failed: a path too long, no search permission)."""
    try:
        st = entry.stat()
    except OSError as exc:
        return _reason(exc)
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return None
    seen.add(key)
    return ""


def csv_name(name: str) -> str:
    """A file name (or ``/``-separated relative path) as unambiguous text.

    A backslash is doubled and each byte that is not part of valid UTF-8
    becomes ``\\xNN`` (two lower-case hex digits); all else is kept, so
    different names always give different text.

    >>> csv_name("a\\\\xff.png"), csv_name(os.fsdecode(b"a\\xff.png"))
    ('a\\\\\\\\xff.png', 'a\\\\xff.png')
    """
    if name.isascii() and "\\" not in name:
        return name  # most names: nothing to escape (asked of every file walked)
    doubled = os.fsencode(name).replace(b"\\", b"\\\\")  # never inside a UTF-8 sequence
    return doubled.decode("utf-8", errors="backslashreplace")


_ESCAPE = re.compile(rb"\\(?:(\\)|x([0-9a-f]{2}))")


def path_from_csv(folder: str | os.PathLike[str], csv_path: str) -> str:
    """The real path of the file a CSV ``path`` names: the inverse of :func:`csv_name`.

    ``folder`` is the folder the run classified.  Raises ``ValueError`` for
    text :func:`csv_name` cannot have written (e.g. a lone backslash).

    >>> path_from_csv("scans", "sub/bad\\\\xff.png") == os.fsdecode(b"scans/sub/bad\\xff.png")
    True
    """
    raw = _ESCAPE.sub(_unescape, csv_path.encode("utf-8"))
    rel = os.fsdecode(raw)
    if csv_name(rel) != csv_path:
        raise ValueError(f"not a path written by batchdigits: {csv_path!r}")
    return os.path.join(os.fspath(folder), rel)


def _unescape(match: re.Match[bytes]) -> bytes:
    return b"\\" if match.group(1) else bytes([int(match.group(2), 16)])


def open_input(path: str) -> BinaryIO:
    """Open an input file for reading without ever blocking.

    The file is opened non-blocking (a FIFO swapped in for an image would
    otherwise hang the run) and the OPENED file is checked: anything but a
    regular file raises :class:`NotRegularFile`.  ``OSError`` as ``os.open``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", path)
        if not stat.S_ISREG(mode):
            raise NotRegularFile(NOT_REGULAR)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    # Outside the try: ``fdopen`` owns ``fd`` and closes it itself when it fails (a
    # signal inside it).  Closed again here, that failed with EBADF, and the OSError
    # replaced the KeyboardInterrupt: a SIGTERM became an error row and the run went on.
    return os.fdopen(fd, "rb")



def _reason(exc: OSError) -> str:
    return f"cannot list directory: {exc.strerror or exc}".rstrip()
