"""Which folder a CSV was made from: a small record beside it, so ``review CSV`` needs no ``--folder``.

Every ``classify`` run that writes a CSV file records, once the CSV is in
place, the folder's real path and the CSV's SHA-256 in
``.predictions.csv.folder.json`` (:func:`~batchdigits.run.state.origin_path`),
written atomically.  The record counts only while it names this very CSV: a
CSV edited or replaced since, or a folder moved or deleted since, gives an
:class:`OriginError` that says so in one line.

>>> record_origin("predictions.csv", "scans", csv_sha256)      # doctest: +SKIP
>>> recorded_folder("predictions.csv")                          # doctest: +SKIP
'/home/me/scans'
"""

from __future__ import annotations

import json
import os

from ..io.atomic import atomic_write
from ..io.hashing import file_sha256
from .state import origin_path, state_path

ORIGIN_FORMAT = 1


class OriginError(Exception):
    """The CSV's folder is not known (or no longer valid); one line for people."""


def record_origin(out: str, folder: str, csv_sha256: str) -> None:
    """Record that the CSV ``out`` (whose bytes hash to ``csv_sha256``) was made from ``folder``."""
    record = {"format": ORIGIN_FORMAT, "folder": os.path.realpath(folder), "csv_sha256": csv_sha256}
    with atomic_write(origin_path(out), told=False) as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def recorded_folder(csv_path: str) -> str:
    """The folder the CSV at ``csv_path`` was made from, else :class:`OriginError`.

    Read from the record beside it, or from the incremental state of a CSV
    written before records were kept; either must name this very CSV.
    """
    record = _read_json_line(origin_path(csv_path)) or _read_json_line(state_path(csv_path))
    folder, digest = record.get("folder"), record.get("csv_sha256")
    if not isinstance(folder, str) or not isinstance(digest, str):
        raise OriginError(f"{csv_path} does not record which folder it was made from "
                          "(not written by batchdigits classify, or by an older version); pass --folder DIR")
    try:
        same = file_sha256(csv_path) == digest
    except OSError:
        same = False
    if not same:
        raise OriginError(f"{csv_path} has changed since classify wrote it, so the folder recorded "
                          f"beside it ({folder}) may not be its folder; pass --folder DIR")
    if not os.path.isdir(folder):
        raise OriginError(f"the folder {csv_path} was made from, {folder}, no longer exists "
                          "(moved or deleted?); pass --folder DIR")
    return folder


def _read_json_line(path: str) -> dict[str, object]:
    """The JSON object on the first line of ``path``; empty when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.loads(fh.readline())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
