"""Labelled scans: read them from a folder-per-digit tree or a ``path,label`` CSV.

* ``DIR/0/*.png``, ``DIR/1/*.jpg`` ... ``DIR/9/...`` (the ImageFolder
  convention): the label is the name of the top-level subfolder;
* a CSV with a header and the columns ``path,label`` (extra columns are
  ignored); relative paths are taken from the CSV's folder, or from
  ``root`` when one is given; an empty label ("not a digit", written by the
  review page) is skipped.

``labelled_grids(...)`` converts every scan with the same code as
``classify`` and returns the grids with their labels; files that cannot be
read or are blank are reported and left out.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..image.convert import Task, convert_chunk, worker_died
from ..io.labels import parse_label
from ..io.counted import counted
from ..io.csvio import open_csv_input
from ..io.concurrency import default_jobs, map_ordered
from ..io.files import path_from_csv, walk


class DatasetError(Exception):
    """Labelled data that cannot be used; ``str(err)`` says why."""


@dataclass
class Labelled:
    """Grids ``X`` (n, 64), labels ``y`` and their paths; ``dropped`` lists what was left out."""

    X: np.ndarray
    y: np.ndarray
    paths: list[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)


def from_folders(root: str) -> list[tuple[str, int]]:
    """``(path, label)`` for every image under ``root/0`` .. ``root/9``.

    Other subfolders are ignored, but one named with a single non-ASCII digit
    (``²``, ``٣``) is refused: only the ASCII digits 0-9 are labels.
    """
    if not os.path.isdir(root):
        raise DatasetError(f"not a folder: {root}")
    items = []
    for entry in walk(root):
        top = entry.rel.split("/", 1)[0]
        if entry.kind == "image" and "/" in entry.rel:
            label = _folder_label(top, root)
            if label is not None:
                items.append((entry.path, label))
    if not items:
        raise DatasetError(f"no images in digit subfolders 0..9 of {root}")
    return items


def _folder_label(name: str, root: str) -> int | None:
    if len(name) == 1 and "0" <= name <= "9":
        return int(name)
    if len(name) == 1 and name.isnumeric():
        raise DatasetError(
            f"{os.path.join(root, name)}: a label folder must be named with one ASCII digit 0-9"
        )
    return None


@dataclass(frozen=True)
class LabelsCsv:
    """What a labels CSV gives: ``(path, label)`` pairs, and how many rows were
    labelled "not a digit" (an empty label) and so left out."""

    items: list[tuple[str, int]]
    not_digits: int = 0


def read_labels(path: str, root: str | None = None) -> LabelsCsv:
    """The ``(path, label)`` pairs of a CSV with ``path`` and ``label`` columns.

    A label is one ASCII digit 0-9, or empty for "not a digit" (the row is
    left out and counted).  Paths are written as in the predictions CSV
    (see :func:`batchdigits.io.files.path_from_csv`), relative to ``root`` or
    else to the CSV's own folder.  Anything unusable raises
    :class:`DatasetError` naming the file and line.
    """
    base = root or os.path.dirname(os.path.abspath(path))
    try:
        with open_csv_input(path) as fh:  # a BOM is skipped; a FIFO is refused, never waited on
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                raise DatasetError(f"{path} needs a header with 'path' and 'label' columns")
            rows = list(reader)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x})") from None
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV ({exc})") from None
    items = []
    not_digits = 0
    for line, row in enumerate(rows, start=2):
        try:
            label = parse_label((row.get("label") or "").strip())
            if not row.get("path"):
                raise ValueError("empty path")
            file_path = path_from_csv(base, row["path"])
        except ValueError as exc:
            raise DatasetError(f"{path}, line {line}: {exc}") from None
        if label is None:
            not_digits += 1  # "not a digit" (a review decision): nothing to learn from
            continue
        items.append((file_path, label))
    if not items:
        raise DatasetError(f"{path} lists no files")
    missing = [p for p, _ in items if not os.path.lexists(p)]
    if 2 * len(missing) > len(items):
        raise DatasetError(
            f"{len(missing)} of {counted(len(items), 'file')} listed in {path} "
            f"{'does' if len(missing) == 1 else 'do'} not exist (first: "
            f"{missing[0]}); its paths are relative to {base}"
        )
    return LabelsCsv(items, not_digits)


def from_csv(path: str, root: str | None = None) -> list[tuple[str, int]]:
    """``(path, label)`` pairs from a labels CSV (see :func:`read_labels`)."""
    return read_labels(path, root).items


def labelled_grids(items: Iterable[tuple[str, int]], jobs: int = 0) -> Labelled:
    """Convert labelled files to grids (in worker processes)."""
    items = list(items)
    chunks = [[Task(p) for p, _ in items[i : i + 32]] for i in range(0, len(items), 32)]
    answers = map_ordered(convert_chunk, chunks, jobs or default_jobs(), died=worker_died)
    converted = [c for chunk in answers for c in chunk]
    X, y, paths, dropped = [], [], [], []
    for (path, label), answer in zip(items, converted, strict=True):
        if answer.grid is None:
            dropped.append((path, answer.error or "blank"))
            continue
        X.append(answer.grid.ravel())
        y.append(label)
        paths.append(path)
    return Labelled(np.asarray(X, np.float64).reshape(-1, 64), np.asarray(y, np.int64), paths, dropped)


def unlabelled_grids(folders: Iterable[str], jobs: int = 0) -> np.ndarray:
    """The grids ``(n, 64)`` of every image file under ``folders`` (walk order),
    as uint8: 64 bytes a scan.  Blank and unreadable files are left out."""
    def chunks() -> Iterator[list[Task]]:
        tasks: list[Task] = []
        for folder in folders:
            for entry in walk(folder):
                if entry.kind == "image":
                    tasks.append(Task(entry.path, entry.reason))
                    if len(tasks) == 64:
                        yield tasks
                        tasks = []
        if tasks:
            yield tasks

    parts = []
    for chunk in map_ordered(convert_chunk, chunks(), jobs or default_jobs()):
        kept = [c.grid.reshape(64) for c in chunk if c.grid is not None]
        if kept:
            parts.append(np.asarray(kept, np.uint8))
    return np.concatenate(parts) if parts else np.zeros((0, 64), np.uint8)
