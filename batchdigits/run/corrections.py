"""Human decisions about scans: the corrections file, read, written and applied.

The review page (``batchdigits review``) writes one row per decision to a
CSV, by default ``PREDICTIONS.corrections.csv`` beside the predictions:

``path,label,reviewed_at,sha256``

* ``path``: the scan, relative to the corrections file's own folder, ``/``
  separators (the rule ``train --labels`` and ``evaluate --labels`` follow,
  so the file is a valid labels file);
* ``label``: an ASCII digit ``0``-``9``, or empty for "not a digit";
* ``reviewed_at``: when the decision was made, UTC, e.g. ``2026-11-25T14:50:03Z``;
* ``sha256``: the SHA-256 of the file's bytes when it was reviewed, so a
  later ``classify --corrections`` can tell that the file has changed since
  (the label is then no longer applied).  Empty: the label applies whatever
  the file holds (a hand-written ``path,label`` file works as it is).

>>> from batchdigits.run.corrections import read_corrections
>>> read_corrections("predictions.corrections.csv")["scans/0001.png"].label   # doctest: +SKIP
7
"""

from __future__ import annotations

import csv
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, UTC

from ..io.atomic import atomic_write
from ..io.files import csv_name
from ..io.labels import parse_label
from .write import Row

COLUMNS = ("path", "label", "reviewed_at", "sha256")


class CorrectionsError(Exception):
    """A corrections file that cannot be used; ``str(err)`` says why."""


@dataclass(frozen=True)
class Correction:
    """One decision: the digit (``None``: not a digit), when, and the file's hash then."""

    label: int | None
    reviewed_at: str = ""
    sha256: str = ""


def default_corrections_path(predictions: str) -> str:
    """``predictions.csv`` -> ``predictions.corrections.csv`` (same folder).

    >>> default_corrections_path("out/predictions.csv")
    'out/predictions.corrections.csv'
    """
    stem, ext = os.path.splitext(predictions)
    return f"{stem}.corrections{ext or '.csv'}"


def now_utc() -> str:
    """The current time as written in ``reviewed_at``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_corrections(path: str) -> dict[str, Correction]:
    """``{path as written: Correction}``; a path listed twice keeps its last row.

    Raises :class:`CorrectionsError` for a missing or unreadable file, a
    header without ``path`` and ``label``, or a bad label.
    """
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                raise CorrectionsError(f"{path} needs a header with 'path' and 'label' columns")
            rows = list(reader)
    except FileNotFoundError:
        raise CorrectionsError(f"corrections file not found: {path}") from None
    except UnicodeDecodeError:
        raise CorrectionsError(f"{path} is not UTF-8 text") from None
    except (OSError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CorrectionsError(f"cannot read {path}: {reason}") from None
    entries: dict[str, Correction] = {}
    for line, row in enumerate(rows, start=2):
        try:
            label = parse_label((row.get("label") or "").strip())
        except ValueError as exc:
            raise CorrectionsError(f"{path}, line {line}: {exc}") from None
        key = posixpath.normpath(row.get("path") or "")
        if key in ("", "."):
            raise CorrectionsError(f"{path}, line {line}: empty path")
        entries[key] = Correction(label, row.get("reviewed_at") or "", row.get("sha256") or "")
    return entries


def write_corrections(path: str, entries: Mapping[str, Correction]) -> None:
    """Replace the file at ``path`` atomically with ``entries``, sorted by path."""
    with atomic_write(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for key in sorted(entries):
            c = entries[key]
            writer.writerow([key, "" if c.label is None else str(c.label), c.reviewed_at, c.sha256])


def key_prefix(folder: str, corrections_path: str) -> str:
    """How the corrections file names ``folder``: a CSV path ``rel`` (relative to
    ``folder``) is ``posixpath.join(prefix, rel)`` in the corrections file.
    Written as CSV paths are (:func:`batchdigits.io.files.csv_name`).

    >>> key_prefix("/data/scans", "/data/p.corrections.csv")   # doctest: +SKIP
    'scans'
    """
    base = _real_dir(os.path.dirname(os.path.abspath(corrections_path)))
    return csv_name(posixpath.relpath(_real_dir(folder), base))


def rel_in_folder(prefix: str, key: str) -> str | None:
    """The CSV path of a corrections-file ``key`` under the folder ``prefix`` names, or None.

    >>> rel_in_folder("scans", "scans/sub/1.png"), rel_in_folder("scans", "other/1.png")
    ('sub/1.png', None)
    >>> rel_in_folder(".", "a.png"), rel_in_folder(".", "../a.png")
    ('a.png', None)
    """
    if prefix == ".":
        return None if key == ".." or key.startswith("../") else key
    return key[len(prefix) + 1 :] if key.startswith(prefix + "/") else None


def _real_dir(directory: str) -> str:
    return os.path.realpath(directory).replace(os.sep, "/")


class Corrections:
    """Corrections keyed by CSV path (relative to ``folder``), applied to rows of a run.

    >>> fixes = Corrections.load("p.corrections.csv", "scans")   # doctest: +SKIP
    >>> fixes.apply(row, sha256)                                  # doctest: +SKIP
    (Row(path='0001.png', label=7, confidence=1.0, status='reviewed', error=''), False)
    """

    def __init__(self, by_rel: Mapping[str, Correction]) -> None:
        self._by_rel = dict(by_rel)

    @classmethod
    def load(cls, path: str, folder: str) -> Corrections:
        """Read ``path`` and keep the corrections of files under ``folder``."""
        prefix = key_prefix(folder, path)
        by_rel = {}
        for key, correction in read_corrections(path).items():
            rel = rel_in_folder(prefix, key)
            if rel is not None:
                by_rel[rel] = correction
        return cls(by_rel)

    def __len__(self) -> int:
        return len(self._by_rel)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_rel)

    def covers(self, rel: str) -> bool:
        """True when a person decided about the file ``rel``."""
        return rel in self._by_rel

    def apply(self, row: Row, sha256: str) -> tuple[Row, bool]:
        """``(row, stale)``: the reviewed row if the file is the one reviewed.

        ``sha256`` is the file's content hash now.  A correction recorded
        for other content leaves the model's row and says ``stale``.
        """
        correction = self._by_rel.get(row.path)
        if correction is None:
            return row, False
        if correction.sha256 and correction.sha256 != sha256:
            return row, True
        confidence = None if correction.label is None else 1.0
        return Row(row.path, correction.label, confidence, "reviewed"), False
