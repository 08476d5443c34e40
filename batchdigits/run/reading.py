"""The worker's step of a run: a chunk of files in, their readings out.

:func:`read_chunk` decodes and converts a chunk of files
(:func:`batchdigits.image.convert.convert_chunk`) and predicts their grids with
the model it is given (an :class:`~batchdigits.learn.arrays.ArrayModel`, or an
:class:`~batchdigits.learn.arrays.ArraysFile` a local worker loads once per
process), answering one :class:`Reading` per file: the few numbers a CSV row is
made from.  Without a model the readings carry the grids instead (``--adapt``'s
first pass; a model with no numpy form, predicted by the main process).

This module is what worker processes import, so it stays light: numpy, the
image conversion, and nothing of scikit-learn, rich or typer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from ..image.convert import WORKER_DIED, Task, convert_chunk
from ..learn.arrays import ArrayModel, ArraysFile
from ..learn.folderconf import FolderLayer

WorkerModel = ArrayModel | ArraysFile  # what a worker is given to predict with


@dataclass(frozen=True, slots=True)
class Reading:
    """A worker's answer for one file: its digit and confidence (``None``: blank, or not
    predicted), or an ``error``; its content hash if asked; ``same`` when that hash
    matched the expected one (nothing converted); ``grid`` (uint8, 8x8) only when
    the worker was given no model."""

    digit: int | None = None
    confidence: float | None = None
    error: str = ""
    sha256: str = ""
    same: bool = False
    grid: np.ndarray | None = None


def read_chunk(tasks: list[Task], shared: WorkerModel | None = None) -> list[Reading]:
    """Worker entry point: readings of a chunk of tasks, in order (see the module docstring)."""
    converted = convert_chunk(tasks)
    with_grid = [i for i, c in enumerate(converted) if c.grid is not None]
    digits: list[int] = []
    confidence: list[float] = []
    model = shared  # loaded only when there is a grid to predict
    if shared is not None and with_grid:
        model = shared.load() if isinstance(shared, ArraysFile) else shared
        grids = np.stack([converted[i].grid.reshape(64) for i in with_grid])  # type: ignore[union-attr]
        digits, confidence = predict_quietly(model, grids)
    readings = [Reading(error=c.error, sha256=c.sha256, same=c.same, grid=c.grid if model is None else None)
                for c in converted]
    for i, digit, conf in zip(with_grid, digits, confidence, strict=False):
        readings[i] = Reading(digit, conf, "", converted[i].sha256)
    return readings


Ready = tuple[np.ndarray, np.ndarray | None]  # a grid, and its scores in the folder's graph (or None)


def read_grids(
    chunk: list[Ready], shared: WorkerModel | Any, layer: FolderLayer | None = None
) -> list[tuple[int, float]]:
    """Worker entry point for ready grids (``--adapt``'s and ``--learn``'s second pass):
    ``(digit, confidence)`` each.  ``shared`` as for :func:`read_chunk`, or a
    ``DigitModel`` in this process.  With a ``layer``, each grid comes with its
    scores in the folder's graph ``(len(layer.classes),)`` and the confidence is
    the folder's (:mod:`batchdigits.learn.folderconf`), else the model's own.
    """
    if not chunk:
        return []
    model = shared.load() if isinstance(shared, ArraysFile) else shared
    grids = np.stack([grid.reshape(64) for grid, _ in chunk])
    if layer is None:
        digits, confidence = predict_quietly(model, grids)
        return list(zip(digits, confidence, strict=True))
    with _thread_pools().limit(limits=1):
        read, folder = layer.read(model, grids, np.stack([scores for _, scores in chunk if scores is not None]))
    return list(zip(read.tolist(), folder.tolist(), strict=True))


def predict_quietly(model: object, grids: np.ndarray) -> tuple[list[int], list[float]]:
    """``model.predict(grids)`` with one BLAS/OpenMP thread (the workers have the cores), as lists."""
    with _thread_pools().limit(limits=1):
        digits, confidence = model.predict(grids)  # type: ignore[attr-defined]
    return [int(d) for d in digits], [float(c) for c in confidence]


def worker_died(task: Task) -> Reading:
    """The answer for a file whose worker process died reading it (see ``map_ordered``)."""
    return Reading(error=WORKER_DIED)


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The BLAS/OpenMP libraries of this process, found once (at the first prediction)."""
    return ThreadpoolController()
