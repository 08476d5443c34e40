"""Incremental runs: reuse the rows of unchanged files from the previous run.

Beside ``predictions.csv`` a run with ``--incremental`` keeps
``.predictions.csv.state.json``, a JSON-lines file:

* line 1, the header: ``{"format": 2, "csv_sha256": ..., "model_sha256": ...,
  "grid_version": ..., "min_confidence": ..., "recursive": ..., "folder": ...,
  "verify_content": ...}``;
* then one line per CSV row, in the same order: ``[path, size, mtime_ns, sha256]``
  (``sha256`` of the file's bytes with ``--verify-content``, else ``""``).

A file whose size and mtime (and, with ``--verify-content``, content hash)
are unchanged keeps its previous row; new and changed files are classified;
rows of files that are gone are dropped.  If the header does not match the
current run (another model file, grid version, threshold, folder) or the CSV
is not the one the state describes (its hash differs: say the run was killed
between writing the two), everything is classified again.

Both files are written to temporary files and moved into place, the state
first; the state records the new CSV's hash, so a kill at any moment leaves
a pair that is either consistent or detected as stale.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from ..io.hashing import file_sha256
from .write import COLUMNS, Row

STATE_FORMAT = 2  # 2: paths escape a literal backslash (format 1 states cost one full run)


@dataclass(frozen=True)
class FileStamp:
    """What identifies a file's content cheaply: size, mtime and optional hash."""

    size: int
    mtime_ns: int
    sha256: str = ""


def stamp(path: str) -> FileStamp | None:
    """The file's size and mtime, or ``None`` if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStamp(st.st_size, st.st_mtime_ns)


def run_header(
    model_sha256: str, grid_version: int, min_confidence: float, recursive: bool, folder: str,
    verify_content: bool,
) -> dict[str, Any]:
    """What must match between two runs for rows to be reused."""
    return {
        "format": STATE_FORMAT,
        "model_sha256": model_sha256,
        "grid_version": grid_version,
        "min_confidence": min_confidence,
        "recursive": recursive,
        "folder": os.path.realpath(folder),
        "verify_content": verify_content,
    }


class Previous:
    """The previous run's rows and stamps, looked up in path order (streaming)."""

    def __init__(self, pairs: Iterator[tuple[Row, FileStamp]]) -> None:
        self._pairs = pairs
        self._current: tuple[Row, FileStamp] | None = next(pairs, None)

    def lookup(self, rel: str) -> tuple[Row, FileStamp] | None:
        """The previous row and stamp for ``rel``; calls must come in sorted order."""
        while self._current is not None and self._current[0].path < rel:
            self._current = next(self._pairs, None)
        if self._current is not None and self._current[0].path == rel:
            return self._current
        return None


def open_previous(csv_path: str, state_path: str, header: dict[str, Any]) -> Previous | None:
    """The previous run, if its state matches ``header`` and its CSV; else ``None``."""
    try:
        with open(state_path, encoding="utf-8") as fh:
            saved = json.loads(fh.readline())
    except (OSError, ValueError):
        return None
    expected = {**header, "csv_sha256": saved.get("csv_sha256")}
    if saved != expected or saved.get("csv_sha256") != file_sha256(csv_path):
        return None
    return Previous(_pairs(csv_path, state_path))


def _pairs(csv_path: str, state_path: str) -> Iterator[tuple[Row, FileStamp]]:
    with open(csv_path, encoding="utf-8", newline="") as csv_fh, open(
        state_path, encoding="utf-8"
    ) as state_fh:
        reader = csv.reader(csv_fh)
        if tuple(next(reader, ())) != COLUMNS:
            return
        state_fh.readline()
        try:
            for fields, (path, size, mtime_ns, sha) in zip(reader, _state_lines(state_fh), strict=True):
                row = Row.from_fields(fields)
                if row.path != path:
                    return  # out of step: stop reusing
                yield row, FileStamp(int(size), int(mtime_ns), str(sha))
        except (ValueError, TypeError, csv.Error):
            return  # a damaged CSV or state: classify the rest again


STATE_BLOCK = 1024  # state lines parsed per json.loads call


def _state_lines(fh: IO[str]) -> Iterator[Any]:
    """The state's lines after the header, parsed: a block of lines per ``json.loads``
    call (a call per line was most of the time an unchanged rerun spent reading them).
    A block that is not one JSON value per line is parsed a line at a time, so a
    damaged line stops the reuse where it did: at that line."""
    while lines := list(islice(fh, STATE_BLOCK)):
        try:
            values = json.loads("[" + ",".join(lines) + "]")
        except ValueError:
            values = None
        if values is None or len(values) != len(lines):
            values = map(json.loads, lines)  # raises at the damaged line
        yield from values


class StateWriter:
    """Writes the new state lines as rows are produced; the header comes last."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    def add(self, rel: str, file_stamp: FileStamp | None) -> None:
        if file_stamp is None:
            file_stamp = FileStamp(-1, -1)
        line = [rel, file_stamp.size, file_stamp.mtime_ns, file_stamp.sha256]
        self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def write_state(state_path: str, header: dict[str, Any], body_path: str, csv_sha256: str) -> None:
    """Assemble the state file atomically from the header and the body lines."""
    from ..io.atomic import atomic_write

    with atomic_write(state_path) as out, open(body_path, encoding="utf-8") as body:
        out.write(json.dumps({**header, "csv_sha256": csv_sha256}) + "\n")
        for line in body:
            out.write(line)
