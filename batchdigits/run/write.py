"""Write prediction rows as CSV, atomically.

Columns: ``path,label,confidence,status,error``.  The file is UTF-8 with
``\\n`` line endings; fields are quoted when needed (commas, quotes,
``\\n``, ``\\r``), so any file name round-trips through Python's ``csv`` reader.
Paths are written by :func:`batchdigits.io.files.csv_name` (a backslash doubled,
bytes that are not UTF-8 as ``\\xNN``); :func:`batchdigits.io.files.path_from_csv`
turns them back into real paths.

``open_csv(path)`` writes to a temporary file beside the target and moves it
into place only when the run completes (see :mod:`batchdigits.io.atomic`), so
an earlier CSV is never left half-written; ``"-"`` writes to stdout.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, NamedTuple

from ..io.atomic import atomic_write, naming
from ..io.csvio import CsvWriter, open_csv_input
from ..io.files import is_image_name, open_input

COLUMNS = ("path", "label", "confidence", "status", "error")
COLUMNS_TEXT = ",".join(COLUMNS)


class Row(NamedTuple):
    """One CSV row: a file and what became of it.  (A named tuple: a run makes one per
    file in its main process, 1.9 -> 0.4 us each against a frozen dataclass.)"""

    path: str
    label: int | None
    confidence: float | None
    status: str
    error: str = ""

    def fields(self) -> list[str]:
        label = "" if self.label is None else str(self.label)
        conf = "" if self.confidence is None else f"{self.confidence:.6f}"  # six decimals: rows never tie by rounding
        return [self.path, label, conf, self.status, self.error]

    @classmethod
    def from_fields(cls, fields: list[str]) -> Row:
        path, label, conf, status, error = fields
        return cls(path, int(label) if label else None, float(conf) if conf else None, status, error)


class CsvOut:
    """Writes the header, then one :class:`Row` per ``write`` call (with
    :class:`~batchdigits.io.csvio.CsvWriter`, as every CSV of the tool).

    ``sha256()`` is the hash of the UTF-8 bytes written so far, so the
    incremental state can name the CSV before it is moved into place.
    """

    def __init__(self, fh: IO[str]) -> None:
        self._csv = CsvWriter(fh)
        self._csv.writerow(COLUMNS)

    def write(self, row: Row) -> None:
        self._csv.writerow(row.fields())

    def write_rows(self, rows: Iterable[Row]) -> None:
        """Several rows at once: the same bytes as one :meth:`write` each."""
        self._csv.writerows([row.fields() for row in rows])

    def sha256(self) -> str:
        return self._csv.sha256()


@contextmanager
def open_csv(path: str) -> Iterator[CsvOut]:
    """``with open_csv(path) as out: out.write(row)``; ``"-"`` is stdout."""
    if path != "-":
        with atomic_write(path) as fh:
            yield CsvOut(fh)
        return
    stream = _stdout_text()
    with naming("standard output"):  # a full disk behind > or /dev/full: say where
        try:
            yield CsvOut(stream)
        finally:
            stream.flush()
            if isinstance(stream, io.TextIOWrapper) and stream is not sys.stdout:
                stream.detach()  # our wrapper only: stdout's buffer stays open


def read_rows(path: str) -> list[Row]:
    """Read a CSV written by :func:`open_csv` back into rows."""
    with open_csv_input(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path} is not a batchdigits CSV")
        return [Row.from_fields(fields) for fields in reader]


def replace_refusal(target: str, inputs: str | None = None, csv_only: bool = True) -> str:
    """Why a run must not replace ``target`` with its output; ``""`` when it may.

    Refused: an existing ``target`` that is not a regular file (a device, FIFO
    or socket: ``os.replace`` would swap the node for a plain file), an
    image-named file under the input folder ``inputs``, and -- with
    ``csv_only`` -- a non-empty file whose first line is not the header
    ``path,label,confidence,status,error`` this module writes.  A missing or
    empty target may be replaced.  Nothing is opened but a regular file.

    >>> replace_refusal("no/such/predictions.csv")
    ''
    """
    try:
        mode = os.stat(target).st_mode  # follows a symlink: its target is what matters
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot check {target}: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"{target} is not a regular file (a device, FIFO or socket)"
    if inputs is not None and is_image_name(target) and _inside(target, inputs):
        return f"{target} is one of the input images"
    if not csv_only:
        return ""
    header = (COLUMNS_TEXT + "\n").encode()
    try:
        with open_input(target) as fh:
            start = fh.read(len(header))
    except OSError as exc:
        return f"cannot check {target}: {exc.strerror or exc}"
    if start and start != header:
        return f"{target} is not a CSV written by batchdigits (its first line is not {COLUMNS_TEXT!r})"
    return ""


def _inside(path: str, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, root]) == root


def _stdout_text() -> IO[str]:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # e.g. a test harness replaced stdout with a StringIO
        return sys.stdout
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True)
