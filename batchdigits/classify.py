"""Classify image files in batches: the engine behind ``batchdigits classify``.

``iter_rows(found, model, ...)`` turns a stream of :class:`~batchdigits.files.Found`
entries into a stream of :class:`~batchdigits.write.Row`, in the same order:
workers decode each file and make its 8x8 grid; this process calls the
model's ``predict_proba`` once per batch of grids.

``classify_folder(folder, out=...)`` is the whole job as a library call:

>>> from batchdigits import classify_folder
>>> report = classify_folder("samples", out="predictions.csv")   # doctest: +SKIP
>>> report.counts["ok"]                                           # doctest: +SKIP
47
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .concurrency import default_jobs, map_ordered
from .files import Found, walk
from .grid import image_to_grid
from .load import ImageError, load_image
from .model import DigitModel, get_default_model
from .report import Report
from .write import Row, open_csv

DEFAULT_MIN_CONFIDENCE = 0.7
DEFAULT_BATCH_SIZE = 512
CHUNK_SIZE = 32

Converted = tuple[np.ndarray | None, str]
"""A grid (``None`` for a blank) and an error reason (empty if none)."""


@dataclass(frozen=True)
class Settings:
    """How a run classifies: batching, workers and the confidence threshold."""

    batch_size: int = DEFAULT_BATCH_SIZE
    jobs: int = 0  # 0: all cores
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    backend: str = "loky"
    scheduler: str | None = None


def convert_file(path: str) -> Converted:
    """Load one file and make its grid; never raises for a bad file."""
    try:
        gray = load_image(path)
    except ImageError as exc:
        return None, str(exc)
    try:
        grid = image_to_grid(gray)
    except (ValueError, MemoryError) as exc:
        return None, f"cannot convert image: {exc}"
    return (None if grid is None else grid.astype(np.uint8)), ""


def convert_chunk(items: list[tuple[str, str]]) -> list[Converted]:
    """Worker task: convert ``(path, error)`` items; a preset error is passed on."""
    return [(None, error) if error else convert_file(path) for path, error in items]


def iter_rows(
    found: Iterable[Found],
    model: DigitModel,
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
) -> Iterator[Row]:
    """Yield one row per image file (or unlistable folder) in ``found``, in order."""
    pending_rels: deque[list[str]] = deque()

    def chunks() -> Iterator[list[tuple[str, str]]]:
        rels: list[str] = []
        items: list[tuple[str, str]] = []
        for entry in found:
            if entry.kind == "other":
                if on_skip is not None:
                    on_skip(entry)
                continue
            rels.append(entry.rel)
            items.append((entry.path, entry.reason))
            if len(items) >= CHUNK_SIZE:
                pending_rels.append(rels)
                yield items
                rels, items = [], []
        if items:
            pending_rels.append(rels)
            yield items

    jobs = settings.jobs or default_jobs()
    results = map_ordered(convert_chunk, chunks(), jobs, settings.backend, settings.scheduler)
    batch: list[tuple[str, Converted]] = []
    for converted in results:
        batch.extend(zip(pending_rels.popleft(), converted))
        if len(batch) >= settings.batch_size:
            yield from predict_batch(batch, model, settings.min_confidence)
            batch = []
    if batch:
        yield from predict_batch(batch, model, settings.min_confidence)


def predict_batch(
    batch: list[tuple[str, Converted]], model: DigitModel, min_confidence: float
) -> list[Row]:
    """Rows for a batch: one ``predict_proba`` call for all its grids."""
    with_grid = [i for i, (_, (grid, _err)) in enumerate(batch) if grid is not None]
    labels: dict[int, tuple[int, float]] = {}
    if with_grid:
        grids = np.stack([batch[i][1][0].reshape(64) for i in with_grid])  # type: ignore[union-attr]
        proba = model.predict_proba(grids)
        best = np.argmax(proba, axis=1)
        classes = model.classes
        for i, k, p in zip(with_grid, best, proba[np.arange(len(best)), best]):
            labels[i] = (int(classes[k]), float(p))
    rows = []
    for i, (rel, (_grid, error)) in enumerate(batch):
        if error:
            rows.append(Row(rel, None, None, "error", error))
        elif i in labels:
            label, p = labels[i]
            status = "ok" if round(p, 4) >= min_confidence else "low_confidence"
            rows.append(Row(rel, label, p, status))
        else:
            rows.append(Row(rel, None, None, "blank"))
    return rows


def own_files_filter(out: str | None) -> Callable[[str], bool] | None:
    """A predicate that hides the run's own output, state, lock and temp files."""
    if out is None or out == "-":
        return None
    from .atomic import is_temp_for
    from .state import own_file_names

    out_abs = os.path.abspath(out)
    out_dir = os.path.realpath(os.path.dirname(out_abs))
    names = own_file_names(out_abs)

    def ignore(path: str) -> bool:
        name = os.path.basename(path)
        if name not in names and not is_temp_for(out_abs, name):
            return False
        return os.path.realpath(os.path.dirname(os.path.abspath(path))) == out_dir

    return ignore


def classify_folder(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = "predictions.csv",
    model: DigitModel | None = None,
    recursive: bool = True,
    settings: Settings = Settings(),
    on_row: Callable[[Row], None] | None = None,
) -> Report:
    """Classify every image under ``folder``; write the CSV to ``out``.

    ``out`` may be a path, ``"-"`` for stdout, or ``None`` to write nothing.
    Returns the :class:`~batchdigits.report.Report` of the run.
    """
    folder = os.fspath(folder)
    out_path = None if out is None else os.fspath(out)
    model = model or get_default_model()
    report = Report(out=out_path, model=model.source)
    found = walk(folder, recursive=recursive, ignore=own_files_filter(out_path))
    rows = iter_rows(found, model, settings, on_skip=report.skip)
    if out_path is None:
        for row in rows:
            report.add(row)
            if on_row:
                on_row(row)
    else:
        with open_csv(out_path) as csv_out:
            for row in rows:
                csv_out.write(row)
                report.add(row)
                if on_row:
                    on_row(row)
    report.finish()
    return report
