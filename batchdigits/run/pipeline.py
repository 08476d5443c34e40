"""One file's way through a run: a walk entry -> a slot -> a worker's grid -> a prediction -> a row.

``iter_rows(found, model, ...)`` turns a stream of :class:`~batchdigits.io.files.Found`
entries into a stream of :class:`~batchdigits.run.write.Row`, in the same order:

1. :func:`iter_converted` makes each image file a :class:`Slot` (reused from
   the previous run when unchanged, else a :class:`~batchdigits.image.convert.Task`),
   sends chunks of tasks to the worker processes, which decode each file and
   make its 8x8 grid (:func:`~batchdigits.image.convert.convert_chunk`), and
   gathers their answers back into walk order, in batches;
2. :func:`predict_batch` calls the model once per batch of grids
   (``DigitModel.predict``) and makes each slot its :class:`Result`: the CSV
   row, the file's stamp for the incremental state, and a person's correction applied.

:mod:`batchdigits.run.classify` writes the results to the CSV and the state;
:mod:`batchdigits.run.adaptrun` runs the two steps as two passes with the
model adapted in between.

>>> rows = list(iter_rows(walk("samples"), get_default_model()))   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from ..defaults import DEFAULT_BATCH_SIZE, DEFAULT_MAX_PIXELS, DEFAULT_MIN_CONFIDENCE
from ..image.convert import Converted, Task, convert_chunk, worker_died
from ..io.concurrency import default_jobs, map_ordered
from ..io.files import Found
from ..learn.model import DigitModel
from .corrections import Corrections
from .incremental import FileStamp, Previous, stamp
from .write import Row

CHUNK_SIZE = 64  # files converted per worker task ...
CHUNK_BYTES_PER_FILE = 64 * 1024  # ... where each 64 KiB of a file counts as one more file
MAX_SLOTS = 1024  # files (most of them reused) per chunk at most

@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a run classifies: batching, workers and the confidence threshold (keywords only)."""

    batch_size: int = DEFAULT_BATCH_SIZE
    jobs: int = 0  # 0: all cores
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    backend: str = "loky"
    scheduler: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are error rows, never decoded


@dataclass(frozen=True)
class Result:
    """A row, the stamp of its file (for the incremental state), and whether it was reused.

    ``stale_review`` says a person's correction was not applied: the file
    changed since it was reviewed.
    """

    row: Row
    file_stamp: FileStamp | None = None
    reused: bool = False
    stale_review: bool = False


@dataclass
class Slot:
    """One image file on its way through the pipeline, in walk order."""

    rel: str
    file_stamp: FileStamp | None = None
    reuse: Row | None = None  # the previous row, when the file did not change
    task: Task | None = None


def iter_rows(
    found: Iterable[Found],
    model: DigitModel,
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
) -> Iterator[Row]:
    """Yield one row per image file (or unlistable folder) in ``found``, in order."""
    for result in iter_results(found, model, settings, on_skip):
        yield result.row


@dataclass(frozen=True)
class Known:
    """What a run knows from before: the previous run's rows and stamps (``previous``),
    whether unchanged-looking files are hashed again (``verify_content``), whether
    every file's stamp is wanted (``need_stamps``), and a person's ``corrections``."""

    previous: Previous | None = None
    verify_content: bool = False
    need_stamps: bool = False
    corrections: Corrections | None = None


def iter_results(
    found: Iterable[Found],
    model: DigitModel,
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
    known: Known = Known(),
) -> Iterator[Result]:
    """Rows with the stamp of their file; rows of unchanged files come from ``known.previous``.

    A file with a human label in ``known.corrections`` is always read again (its
    hash tells whether the label still applies) and gets a ``reviewed`` row.
    """
    for batch in iter_converted(found, settings, on_skip, known):
        yield from predict_batch(batch, model, settings.min_confidence, known.corrections)


Batch = list[tuple[Slot, "Converted | None"]]


def iter_converted(
    found: Iterable[Found],
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
    known: Known = Known(),
) -> Iterator[Batch]:
    """Batches of up to ``settings.batch_size`` files, each with its worker's answer
    (``None`` for a reused row), in walk order: everything but the prediction."""
    pending: deque[list[Slot]] = deque()

    def chunks() -> Iterator[list[Task]]:
        slots: list[Slot] = []
        tasks: list[Task] = []
        work = 0  # large files make smaller chunks, so the workers finish together
        for entry in found:
            if entry.kind == "other":
                if on_skip is not None:
                    on_skip(entry)
                continue
            slot = _slot(entry, known)
            if slot.task is not None and slot.task.max_pixels != settings.max_pixels:
                slot.task = dataclasses.replace(slot.task, max_pixels=settings.max_pixels)
            slots.append(slot)
            if slot.task is not None:
                tasks.append(slot.task)
                work += 1 + _size(slot) // CHUNK_BYTES_PER_FILE
            if work >= CHUNK_SIZE or len(slots) >= MAX_SLOTS:
                pending.append(slots)
                yield tasks
                slots, tasks, work = [], [], 0
        if slots:
            pending.append(slots)
            yield tasks

    jobs = settings.jobs or default_jobs()
    results = map_ordered(
        convert_chunk, chunks(), jobs, settings.backend, settings.scheduler, died=worker_died
    )
    batch: Batch = []
    for converted in results:
        answers = iter(converted)
        for slot in pending.popleft():
            batch.append((slot, next(answers) if slot.task is not None else None))
        if len(batch) >= settings.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _slot(entry: Found, known: Known) -> Slot:
    previous, verify, corrections = known.previous, known.verify_content, known.corrections
    if entry.reason:
        return Slot(entry.rel, task=Task(entry.path, entry.reason))
    file_stamp = stamp(entry.path) if (known.need_stamps or previous is not None) else None
    if corrections is not None and corrections.covers(entry.rel):
        return Slot(entry.rel, file_stamp, task=Task(entry.path, want_sha256=True))
    old = previous.lookup(entry.rel) if previous is not None else None
    if old is not None and file_stamp is not None and not _retry(old[0]):
        old_row, old_stamp = old
        if (old_stamp.size, old_stamp.mtime_ns) == (file_stamp.size, file_stamp.mtime_ns):
            if not verify:
                return Slot(entry.rel, old_stamp, reuse=old_row)
            if old_stamp.sha256:
                return Slot(entry.rel, file_stamp, old_row, Task(entry.path, expect_sha256=old_stamp.sha256))
    return Slot(entry.rel, file_stamp, task=Task(entry.path, want_sha256=verify))


def _size(slot: Slot) -> int:
    if slot.file_stamp is not None:
        return slot.file_stamp.size
    assert slot.task is not None
    if slot.task.error:
        return 0  # not a regular file: never opened
    try:
        return os.stat(slot.task.path).st_size
    except OSError:
        return 0  # the worker reports why


# errors that depend on the file system, not on the file's bytes: a chmod or a
# new link target changes no size or mtime, so such rows are always retried
TRANSIENT_ERRORS = ("permission denied", "file not found", "broken symbolic link", "symbolic link loop")


def _retry(row: Row) -> bool:
    # a reviewed row is never reused as it is: its correction may be gone (then the model decides)
    return row.status == "reviewed" or (row.status == "error" and row.error.startswith(TRANSIENT_ERRORS))


def predict_batch(
    batch: list[tuple[Slot, Converted | None]],
    model: DigitModel,
    min_confidence: float,
    corrections: Corrections | None = None,
) -> list[Result]:
    """Rows for a batch: one ``DigitModel.predict`` call for all its new grids."""
    with_grid = [i for i, (_, c) in enumerate(batch) if c is not None and c.grid is not None]
    labels: dict[int, tuple[int, float]] = {}
    if with_grid:
        grids = np.stack([batch[i][1].grid.reshape(64) for i in with_grid])  # type: ignore[union-attr]
        with _thread_pools().limit(limits=1):  # the workers have the cores: no spinning team
            digits, confidence = model.predict(grids)
        labels = {i: (int(d), float(c)) for i, d, c in zip(with_grid, digits, confidence, strict=True)}
    out = []
    for i, (slot, converted) in enumerate(batch):
        file_stamp = slot.file_stamp
        if converted is not None and file_stamp is not None and converted.sha256:
            file_stamp = FileStamp(file_stamp.size, file_stamp.mtime_ns, converted.sha256)
        reused = converted is None or converted.same
        row, stale = _row(slot, converted, labels.get(i), min_confidence), False
        if corrections is not None and converted is not None:
            row, stale = corrections.apply(row, converted.sha256)
        out.append(Result(row, file_stamp, reused, stale))
    return out


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The BLAS/OpenMP libraries of this process, found once (at the first prediction)."""
    return ThreadpoolController()


def _row(
    slot: Slot, converted: Converted | None, label: tuple[int, float] | None, min_confidence: float
) -> Row:
    if converted is None or converted.same:
        assert slot.reuse is not None
        return slot.reuse
    if converted.error:
        return Row(slot.rel, None, None, "error", converted.error)
    if label is None:
        return Row(slot.rel, None, None, "blank")
    # the probability itself, not its 4-decimal rounding: 0.99996 is below 1.0
    status = "ok" if label[1] >= min_confidence else "low_confidence"
    return Row(slot.rel, label[0], label[1], status)
