"""Every CSV the tool writes and reads goes through here: one writer, one reader.

Written (:class:`CsvWriter`): UTF-8, each line ended by ``\\n``, a field quoted
when it holds a comma, a quote, ``\\n`` or ``\\r`` -- so any file name, a
carriage return in it included, reads back as the one field it was.  The
predictions CSV and the corrections file are both written by it.

Read (:func:`open_csv_input`): ``utf-8-sig``, so the byte-order mark a
spreadsheet puts first in a "CSV UTF-8" file is not taken as part of the
first column's name; any line ending.  The file is opened without blocking
and only read when it is a regular file (a FIFO would hang the run).

>>> import io
>>> buffer = io.StringIO()
>>> CsvWriter(buffer).writerow(["a.png\\rz.png", "3"])
>>> buffer.getvalue()
'"a.png\\rz.png",3\\n'
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from typing import IO

from .files import open_input


class CsvWriter:
    """Writes rows of text fields to ``fh``; ``sha256()`` hashes the UTF-8 bytes written so far."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self._digest = hashlib.sha256()
        # csv quotes a field holding any character of its line terminator: with
        # "\r\n" that is both \r and \n (with "\n" alone a \r went out bare and
        # read back as two rows); each line is then ended with "\n" only
        self._writer = csv.writer(_LineSink(self._line), lineterminator="\r\n")

    def writerow(self, fields: Iterable[str]) -> None:
        """One row; fields are quoted as needed."""
        self._writer.writerow(fields)

    def writerows(self, rows: list[list[str]]) -> None:
        """Several rows, the same bytes as one :meth:`writerow` each, formatted and
        written in one go (a run writes its rows a batch at a time)."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        text = buffer.getvalue()
        if text.count("\r\n") != len(rows):  # a field holds "\r\n" itself: line by line
            for fields in rows:
                self.writerow(fields)
            return
        text = text.replace("\r\n", "\n")
        self._digest.update(text.encode("utf-8"))
        self._fh.write(text)

    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
        return self._digest.hexdigest()

    def _line(self, text: str) -> None:
        line = text.removesuffix("\r\n") + "\n"
        self._digest.update(line.encode("utf-8"))
        self._fh.write(line)


class _LineSink:
    """The file-like object ``csv.writer`` writes one formatted line to at a time."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write


def open_csv_input(path: str) -> IO[str]:
    """Open a CSV to read: ``utf-8-sig``, ``newline=""`` (for ``csv``), never blocking.

    Raises ``OSError`` as ``open`` does, and
    :class:`~batchdigits.io.files.NotRegularFile` for a FIFO, socket or device.
    """
    return io.TextIOWrapper(open_input(path), encoding="utf-8-sig", newline="")
