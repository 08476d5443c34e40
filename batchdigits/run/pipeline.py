"""One file's way through a run: a walk entry -> a slot -> a worker's reading -> a result (its CSV row).

``iter_results(found, model, ...)`` turns the stream of
:class:`~batchdigits.io.files.Found` entries of a walk into a stream of
:class:`Result`, in the same order.  A file takes four records, one per boundary:

1. :class:`~batchdigits.io.files.Found` -- the walk saw it;
2. :class:`Slot` -- this process knows its stamp and, when it did not change
   since the previous run, its old row; otherwise the slot holds what a worker
   gets: the file's path (most files), or a :class:`~batchdigits.image.convert.Task`
   when more is asked (a content hash, another pixel limit, an error to pass on);
3. :class:`~batchdigits.run.reading.Reading` -- the worker's answer: the worker
   decoded the file, made its grid AND predicted it (:func:`~batchdigits.run.reading.read_chunk`;
   a chunk's readings travel back as one :class:`~batchdigits.run.reading.Readings`),
   so this process only walks, merges answers back into walk order, and writes;
4. :class:`Result` -- the CSV row, the file's stamp for the incremental state,
   and a person's correction applied.

The model reaches each worker once (:func:`worker_model`): a local worker reads
the model's numpy form from a file once per process, a dask worker gets it
scattered once.  A model without a numpy form is predicted here, in this
process, in batches (:func:`predict_here`).

:mod:`batchdigits.run.classify` writes the results to the CSV and the state;
:mod:`batchdigits.run.adaptrun` runs the two steps as two passes with the
model adapted in between.

>>> rows = [r.row for r in iter_results(walk("samples"), get_default_model())]   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Union

from ..defaults import DEFAULT_BATCH_SIZE, DEFAULT_MAX_PIXELS, DEFAULT_MIN_CONFIDENCE, DEFAULT_SCHEDULER_TIMEOUT
from ..image.marks import WORKER_DIED  # not image.convert (OpenCV): a Task is made by _task
from ..io.concurrency import imported, map_ordered
from ..io.files import Found
from ..learn.modelref import ArraysFile, ModelRef  # not .arrays: no numpy in a run that reads no file
from .corrections import Corrections
from .incremental import FileStamp, Previous, stamp
from .write import Row

if TYPE_CHECKING:
    from ..image.convert import Task
    from ..learn.arrays import ArrayModel
    from .answers import Reading
    from .reading import WorkerModel  # .reading (the conversion, OpenCV): imported once a file is read
    from ..learn.model import DigitModel

Model = Union["DigitModel", ModelRef, "ArrayModel"]  # what a run predicts with

# A worker task (a chunk) holds files worth CHUNK_SIZE units of work, a file one unit and
# one more per CHUNK_BYTES_PER_UNIT of it (a 500 KiB JPEG: 32 units, 8 to a chunk), so large
# files make smaller chunks and the workers finish together.  The first chunk gets
# CHUNK_SIZE units, the second twice that, every later one CHUNK_GROWTH times: a short run
# is shared out finely, a long one pays the main process's per-task cost (IPC, the pool)
# less often (20 000 small scans, --jobs 0, in process: its CPU per file 0.038-0.043 ms with
# 64-unit chunks, 0.031-0.036 growing to 512; on the 2-core VM of docs/benchmarks.md).
CHUNK_SIZE = 64
CHUNK_GROWTH = 8
CHUNK_BYTES_PER_UNIT = 16 * 1024
MAX_SLOTS = 1024  # files (most of them reused) per chunk at most
# A dask task costs its client about 5 ms whatever its size (distributed's own
# work per task and result), so a cluster gets bigger tasks: up to MAX_SLOTS files
# (5 ms per 1024 small files), 2048 units (64 files of 500 KiB).
DASK_CHUNK_SIZE = 2048

@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a run classifies: batching, workers and the confidence threshold (keywords only)."""

    batch_size: int = DEFAULT_BATCH_SIZE
    jobs: int = 0  # 0: all cores
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    backend: str = "loky"
    scheduler: str | None = None
    scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT  # dask: seconds to reach it, and for a first worker
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are error rows, never decoded


class Result(NamedTuple):
    """A row, the stamp of its file (for the incremental state), and whether it was reused.

    ``stale_review`` says a person's correction was not applied: the file
    changed since it was reviewed.  (A named tuple: one is made per file.)
    """

    row: Row
    file_stamp: FileStamp | None = None
    reused: bool = False
    stale_review: bool = False


@dataclass(slots=True)
class Slot:
    """One image file while a worker reads it (or its old row, reused), in walk order.

    ``task`` is what the worker gets: the path alone when nothing else is asked, else a Task."""

    rel: str
    file_stamp: FileStamp | None = None
    reuse: Row | None = None  # the previous row, when the file did not change
    task: Task | str | None = None


def iter_rows(
    found: Iterable[Found],
    model: Model,
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
    model: Model,
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
    known: Known = Known(),
) -> Iterator[Result]:
    """Rows with the stamp of their file; rows of unchanged files come from ``known.previous``.

    A file with a human label in ``known.corrections`` is always read again (its
    hash tells whether the label still applies) and gets a ``reviewed`` row.
    The model is not loaded at all when no file needs reading.
    """
    for batch in iter_result_batches(found, model, settings, on_skip, known):
        yield from batch


def iter_result_batches(
    found: Iterable[Found],
    model: Model,
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
    known: Known = Known(),
) -> Iterator[list[Result]]:
    """:func:`iter_results` a batch (up to ``settings.batch_size`` files) at a time:
    :mod:`batchdigits.run.classify` writes the CSV a batch at a time."""
    with worker_model(model, settings) as shared:
        for batch in iter_read(found, settings, on_skip, known, shared):
            if shared is None:
                batch = predict_here(batch, model)
            yield results(batch, settings.min_confidence, known.corrections)


Batch = list[tuple[Slot, "Reading | None"]]


@contextmanager
def worker_model(model: Model, settings: Settings) -> Iterator[WorkerModel | None]:
    """What the workers predict with (see :func:`~batchdigits.run.reading.read_chunk`):
    the numpy form, sent once per worker -- to a dask cluster as it is (scattered),
    to local workers as a file they each read once (the cached form of a model
    file, else a temporary file for this run).  ``None`` for a model without a
    numpy form: then this process predicts (:func:`predict_here`)."""
    if isinstance(model, ModelRef):
        yield model.load() if settings.backend == "dask" else model.arrays
        return
    from ..learn.arrays import ArrayModel, save_arrays

    form = model if isinstance(model, ArrayModel) else numpy_form(model)
    if form is None or settings.backend == "dask":
        yield form
        return
    with tempfile.TemporaryDirectory(prefix="batchdigits-model-") as tmp:
        path = os.path.join(tmp, "model.npz")
        save_arrays(form, path)
        yield ArraysFile(path, form.sha256 or path)


_FORMS: dict[int, tuple[tuple[int, ...], ArrayModel | None]] = {}


def numpy_form(model: DigitModel) -> ArrayModel | None:
    """``model``'s checked numpy form (:func:`batchdigits.learn.export.to_arrays`), derived
    once per model object (again if its parts were replaced since)."""
    from ..learn.export import to_arrays

    if not hasattr(model, "pipeline"):
        return None  # a model of the caller's own (anything with ``predict``): predicted here
    parts = (id(model.pipeline), id(model.calibrator), id(model.ceiling), *map(id, model.opinions))
    known = _FORMS.get(id(model))
    if known is None or known[0] != parts:
        if len(_FORMS) > 8:
            _FORMS.clear()
        known = _FORMS[id(model)] = (parts, to_arrays(model))
    return known[1]


def iter_read(
    found: Iterable[Found],
    settings: Settings = Settings(),
    on_skip: Callable[[Found], None] | None = None,
    known: Known = Known(),
    shared: WorkerModel | None = None,
) -> Iterator[Batch]:
    """Batches of up to ``settings.batch_size`` files, each with its worker's
    :class:`~batchdigits.run.reading.Reading` (``None`` for a reused row), in walk order.

    The workers predict with ``shared``; without it the readings carry grids.
    """
    pending: deque[list[Slot]] = deque()
    sizes = [DASK_CHUNK_SIZE] if settings.backend == "dask" else [CHUNK_SIZE, 2 * CHUNK_SIZE, CHUNK_GROWTH * CHUNK_SIZE]

    def chunks() -> Iterator[list[Task | str]]:
        slots: list[Slot] = []
        tasks: list[Task | str] = []
        work = 0  # large files make smaller chunks, so the workers finish together
        made = 0
        plain = known == Known()
        chunk_size = sizes[0]
        for entry in found:
            if entry.kind == "other":
                if on_skip is not None:
                    on_skip(entry)
                continue
            # a plain run (no state, corrections or hashes): the path is the task
            slot = Slot(entry.rel, None, None, entry.path) if plain and not entry.reason else _slot(entry, known)
            if slot.task is not None and settings.max_pixels != DEFAULT_MAX_PIXELS:
                slot.task = _with_max_pixels(slot.task, settings.max_pixels)
            slots.append(slot)
            if slot.task is not None:
                tasks.append(slot.task)
                work += 1 + _size(slot) // CHUNK_BYTES_PER_UNIT
            if work >= chunk_size or len(slots) >= MAX_SLOTS:
                pending.append(slots)
                yield tasks
                slots, tasks, work = [], [], 0
                made += 1
                chunk_size = sizes[min(made, len(sizes) - 1)]
        if slots:
            pending.append(slots)
            yield tasks

    jobs = settings.jobs  # 0: map_ordered asks default_jobs() (loky) once there is work
    read = _read_chunk() if settings.backend == "dask" else _ReadChunk()
    answers = map_ordered(
        read, chunks(), jobs, settings.backend, settings.scheduler, died=_worker_died, shared=shared,
        scheduler_timeout=settings.scheduler_timeout,
    )
    batch: Batch = []
    for readings in answers:
        chunk = iter(readings)
        for slot in pending.popleft():
            batch.append((slot, next(chunk) if slot.task is not None else None))
        if len(batch) >= settings.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


class _ReadChunk:
    """:func:`~batchdigits.run.reading.read_chunk`, its module (the conversion: OpenCV, Pillow)
    imported by the first chunk that has a file to read: a run that reads no file (an
    empty folder, an unchanged ``--incremental`` rerun) never imports it.  A worker
    gets the function itself, imported by name as the worker unpickles it (as before:
    ahead of its memory limit, see :func:`~batchdigits.io.concurrency.limit_memory`),
    without this module and what it imports (a worker needs none of it: 17-55 ms of
    each worker's start here).  A dask cluster gets the function itself (its tasks
    are named after it)."""

    def __call__(self, items: list[Task | str], shared: WorkerModel | None = None) -> Sequence[Reading]:
        return _read_chunk()(items, shared)

    def __reduce__(self) -> tuple[Callable[[str, str], object], tuple[str, str]]:
        return (imported, ("batchdigits.run.reading", "read_chunk"))


def _read_chunk() -> Callable[..., Sequence[Reading]]:
    from .reading import read_chunk

    return read_chunk


def _worker_died(task: Task | str) -> Reading:
    from .answers import worker_died

    return worker_died(task)


def _slot(entry: Found, known: Known) -> Slot:
    if entry.reason:
        return Slot(entry.rel, task=_task(entry.path, entry.reason))
    previous, verify, corrections = known.previous, known.verify_content, known.corrections
    file_stamp = stamp(entry.path) if (known.need_stamps or previous is not None) else None
    if corrections is not None and corrections.covers(entry.rel):
        return Slot(entry.rel, file_stamp, task=_task(entry.path, want_sha256=True))
    old = previous.lookup(entry.rel) if previous is not None else None
    if old is not None and file_stamp is not None and not _retry(old[0]):
        old_row, old_stamp = old
        if (old_stamp.size, old_stamp.mtime_ns) == (file_stamp.size, file_stamp.mtime_ns):
            if not verify:
                return Slot(entry.rel, old_stamp, reuse=old_row)
            if old_stamp.sha256:
                return Slot(entry.rel, file_stamp, old_row, _task(entry.path, expect_sha256=old_stamp.sha256))
    return Slot(entry.rel, file_stamp, task=_task(entry.path, want_sha256=True) if verify else entry.path)


def _task(path: str, error: str = "", **asked: object) -> Task:
    """A :class:`~batchdigits.image.convert.Task`, its module (OpenCV) imported when a run first needs one."""
    from ..image.convert import Task

    return Task(path, error, **asked)  # type: ignore[arg-type]


def _with_max_pixels(task: Task | str, max_pixels: int) -> Task:
    if isinstance(task, str):
        return _task(task, max_pixels=max_pixels)
    return dataclasses.replace(task, max_pixels=max_pixels)


def _size(slot: Slot) -> int:
    if slot.file_stamp is not None:
        return slot.file_stamp.size
    task = slot.task
    assert task is not None
    if not isinstance(task, str):
        if task.error:
            return 0  # not a regular file: never opened
        task = task.path
    try:
        return os.stat(task).st_size
    except OSError:
        return 0  # the worker reports why


# errors that depend on the file system or the moment, not on the file's bytes: a
# chmod or a new link target changes no size or mtime, and a worker killed (the OOM
# killer), a disk error, a full file table or memory pressure may be gone next run
# -- so such rows are always retried, as a full run would read the file again
TRANSIENT_ERRORS = (
    "permission denied", "file not found", "broken symbolic link", "symbolic link loop",
    WORKER_DIED, "input/output error", "too many open files", "cannot allocate memory",
    "cannot decode image: it needs more memory",
)


def _retry(row: Row) -> bool:
    # a reviewed row is never reused as it is: its correction may be gone (then the model decides)
    return row.status == "reviewed" or (row.status == "error" and row.error.startswith(TRANSIENT_ERRORS))


def predict_here(batch: Batch, model: Model) -> Batch:
    """Predict, in this process, the grids a batch's readings carry: one
    ``model.predict`` call (a model without a numpy form)."""
    with_grid = [i for i, (_, r) in enumerate(batch) if r is not None and r.grid is not None]
    if not with_grid:
        return batch
    import numpy as np

    grids = np.stack([batch[i][1].grid.reshape(64) for i in with_grid])  # type: ignore[union-attr]
    predictor = model.load() if isinstance(model, ModelRef) else model
    from .reading import predict_quietly

    digits, confidence = predict_quietly(predictor, grids)
    out = list(batch)
    for i, digit, conf in zip(with_grid, digits, confidence, strict=True):
        slot, reading = batch[i]
        assert reading is not None
        out[i] = (slot, reading._replace(digit=digit, confidence=conf, grid=None))
    return out


def results(batch: Batch, min_confidence: float, corrections: Corrections | None = None) -> list[Result]:
    """The results of a batch of read files: rows, stamps, corrections applied."""
    out = []
    for slot, reading in batch:
        file_stamp = slot.file_stamp
        if reading is not None and file_stamp is not None and reading.sha256:
            file_stamp = FileStamp(file_stamp.size, file_stamp.mtime_ns, reading.sha256)
        reused = reading is None or reading.same
        row, stale = _row(slot, reading, min_confidence), False
        if corrections is not None and reading is not None:
            row, stale = corrections.apply(row, reading.sha256)
        out.append(Result(row, file_stamp, reused, stale))
    return out


def _row(slot: Slot, reading: Reading | None, min_confidence: float) -> Row:
    if reading is None or reading.same:
        assert slot.reuse is not None
        return slot.reuse
    if reading.error:
        return Row(slot.rel, None, None, "error", reading.error)
    if reading.digit is None or reading.confidence is None:
        return Row(slot.rel, None, None, "blank")
    # the probability itself, not its 4-decimal rounding: 0.99996 is below 1.0
    status = "ok" if reading.confidence >= min_confidence else "low_confidence"
    return Row(slot.rel, reading.digit, reading.confidence, status)
