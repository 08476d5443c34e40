"""``classify --adapt``: two passes over a folder, with the model adapted in between.

Pass 1 converts every file (in the worker processes, as a plain run does)
and keeps each grid as 64 bytes of ``uint8`` in memory (1M files: 64 MB);
the batches themselves (paths, stamps, readings) go to an anonymous
temporary file.  The model is then adapted to the grids
(:func:`batchdigits.learn.adapt.adapt_model`), and pass 2 reads the batches back
and has the workers predict their grids with the adapted model (its numpy
form, sent once per worker as in a plain run): no file is decoded twice, and
rows come out in the same order as in a plain run.

``classify --learn`` (the final CSV after a review) is the same two passes,
with :func:`batchdigits.learn.relearn.relearn` in between: the model is refit
on the folder's grids and the labels of the person's corrections (rows
decided "not a digit" left out), saved, and used for pass 2.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

import numpy as np

from ..io.atomic import naming
from ..io.concurrency import default_jobs, map_ordered
from ..io.files import Found
from ..learn.adapt import AdaptError, Adaptation, adapt_to_folder
from ..learn.folderconf import FolderLayer, folder_layer
from ..learn.relearn import NO_LABEL, relearn
from ..learn.model import DigitModel
from .corrections import Corrections
from .pipeline import CHUNK_SIZE, Batch, Known, Result, Settings, iter_read, results, worker_model
from .reading import Ready, WorkerModel, read_grids
from .write import Row

Phase = Callable[[str, int], None]  # ("converting", files done) / ("adapting", 0) / ("classifying", 0)


def adapted_results(
    found: Iterable[Found],
    model: DigitModel,
    settings: Settings,
    on_skip: Callable[[Found], None] | None = None,
    corrections: Corrections | None = None,
    on_phase: Phase | None = None,
    on_adapted: Callable[[dict[str, object]], None] | None = None,
    learn: Callable[[DigitModel], None] | None = None,
) -> Iterator[list[Result]]:
    """Rows of ``found`` predicted by ``model`` adapted to all their grids, a batch at a time.

    ``on_phase`` hears of each pass-1 batch (files converted) and of the
    start of adaptation and of pass 2; ``on_adapted`` gets what the
    adaptation did (``Adaptation.as_dict()``, or why it was skipped).
    With ``learn`` the model is refit on the grids and the ``corrections``
    instead (:func:`batchdigits.learn.relearn.relearn`; ``RelearnError`` when
    it cannot be) and ``learn`` gets the refit model before pass 2.
    """
    phase = on_phase or (lambda _name, _n: None)
    # an error writing or reading the spool names the temporary folder, not the CSV
    spool_name = f"{tempfile.gettempdir()} (the temporary folder; TMPDIR sets it)"
    with tempfile.TemporaryFile() as spool:
        first = iter_read(found, settings, on_skip, Known(corrections=corrections))
        grids, labels = _first_pass(first, spool, spool_name, phase, corrections if learn else None)
        phase("adapting", 0)
        if learn is not None:
            adapted = relearn(model, grids[labels != DROP], labels[labels != DROP])
            adapted.source, adapted.sha256 = model.source, model.sha256
            info = dict(adapted.metadata["relearning"])
            folder = None
            learn(adapted)
        else:
            adapted, info, folder = _adapt(model, grids)
        del grids
        if on_adapted is not None:
            on_adapted(info)
        phase("classifying", 0)
        with naming(spool_name):
            spool.seek(0)  # flushes what is still buffered
        with worker_model(adapted, settings) as shared:
            for batch in _predicted(_batches(spool, spool_name), settings, shared, adapted, folder):
                yield results(batch, settings.min_confidence, corrections)


def _predicted(batches: Iterator[Batch], settings: Settings, shared: WorkerModel | None, model: DigitModel,
               folder: Folder | None) -> Iterator[Batch]:
    """The spooled batches with their grids predicted (``read_grids``), in order: by the workers
    with ``shared``, else (a model without a numpy form) by ``model`` in this process.  With
    ``folder`` (every grid's spread scores, in order, and the layer) the folder's confidence."""
    pending: list[Batch] = []

    def chunks() -> Iterator[list[Ready]]:
        done = 0  # grids before this batch's: the row of its first in the spread scores
        for batch in batches:
            pending.append(batch)
            grids = [r.grid for _, r in batch if r is not None and r.grid is not None]
            ready: list[Ready] = ([(g, None) for g in grids] if folder is None
                                  else list(zip(grids, folder.spread[done : done + len(grids)], strict=True)))
            done += len(grids)
            for start in range(0, len(ready), CHUNK_SIZE * 4):
                yield ready[start : start + CHUNK_SIZE * 4]
            yield []  # the batch's end

    answers: list[tuple[int, float]] = []
    read = functools.partial(read_grids, layer=folder.layer if folder is not None else None)
    if shared is None:
        parts: Iterable[Sequence[tuple[int, float]]] = (read(chunk, model) for chunk in chunks())
    else:
        parts = map_ordered(read, chunks(), settings.jobs or default_jobs(), settings.backend,
                            settings.scheduler, shared=shared, scheduler_timeout=settings.scheduler_timeout)
    for part in parts:
        if part:
            answers.extend(part)
            continue
        batch = pending.pop(0)
        labels = iter(answers)
        out = []
        for slot, reading in batch:
            if reading is not None and reading.grid is not None:
                digit, conf = next(labels)
                reading = reading._replace(digit=digit, confidence=conf, grid=None)
            out.append((slot, reading))
        answers = []
        yield out


DROP = -2  # the label of a grid a person decided is not a digit: not learnt from


def _first_pass(
    batches: Iterable[Batch], spool: IO[bytes], name: str, phase: Phase, corrections: Corrections | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Spool every batch; return the grids ``(n, 64)`` as uint8, in order, and each one's
    label in ``corrections`` (:data:`NO_LABEL` without one, :data:`DROP` for "not a digit")."""
    parts: list[np.ndarray] = []
    labels: list[int] = []
    for batch in batches:
        kept = [(s, c) for s, c in batch if c is not None and c.grid is not None]
        if kept:
            parts.append(np.asarray([c.grid.reshape(64) for _, c in kept], np.uint8))  # type: ignore[union-attr]
            labels.extend(_label(s.rel, c.sha256, corrections) for s, c in kept)
        with naming(name):
            pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
        phase("converting", len(batch))
    grids = np.concatenate(parts) if parts else np.zeros((0, 64), np.uint8)
    return grids, np.asarray(labels, np.int64)


def _label(rel: str, sha256: str, corrections: Corrections | None) -> int:
    if corrections is None or not corrections.covers(rel):
        return NO_LABEL
    row, stale = corrections.apply(Row(rel, None, None, "ok"), sha256)
    if stale:
        return NO_LABEL
    return DROP if row.label is None else row.label


def _batches(spool: IO[bytes], name: str) -> Iterator[Batch]:
    """Read back what :func:`_first_pass` wrote (our own file: pickle is safe here)."""
    while True:
        try:
            with naming(name):
                batch = pickle.load(spool)
        except EOFError:
            return
        yield batch


@dataclass(frozen=True)
class Folder:
    """What pass 2 needs for the folder's confidence: every grid's spread scores, in order, and the layer."""

    spread: np.ndarray
    layer: FolderLayer


def _adapt(model: DigitModel, grids: np.ndarray) -> tuple[DigitModel, dict[str, object], Folder | None]:
    """The adapted model, what was done, and (a model with signals) the folder's confidence."""
    try:
        adapted, spread = adapt_to_folder(model, grids, seed=0)
    except AdaptError as exc:  # too few grids: the model as it is
        skipped = Adaptation(f"none: {exc}", len(grids), 0, 0, 0, 0.0, 0, 0.0)
        return model, skipped.as_dict(), None
    adapted.source, adapted.sha256 = model.source, model.sha256
    layer = folder_layer(model, adapted)
    return adapted, dict(adapted.metadata["adaptation"]), None if layer is None else Folder(spread, layer)
