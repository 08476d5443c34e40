"""The worker's step of a run: a chunk of files in, their readings out.

:func:`read_chunk` decodes and converts a chunk of files
(:func:`batchdigits.image.convert.convert_chunk`) and predicts their grids with
the model it is given (an :class:`~batchdigits.learn.arrays.ArrayModel`, or an
:class:`~batchdigits.learn.modelref.ArraysFile` a local worker loads once per
process), answering one :class:`Reading` per file: the few numbers a CSV row is
made from.  Without a model the readings carry the grids instead (``--adapt``'s
first pass; a model with no numpy form, predicted by the main process).

This module is what worker processes import, so it stays light: numpy, the
image conversion, and nothing of scikit-learn, rich or typer.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from ..image.convert import Task, convert_chunk
from ..learn.arrays import ArrayModel
from ..learn.modelref import ArraysFile
from ..learn.folderconf import FolderLayer
from .answers import Reading, Readings, worker_died

__all__ = ["Reading", "Readings", "WorkerModel", "read_chunk", "read_grids", "predict_quietly", "worker_died"]

WorkerModel = ArrayModel | ArraysFile  # what a worker is given to predict with


def read_chunk(items: list[Task | str], shared: WorkerModel | None = None) -> Readings:
    """Worker entry point: the readings of a chunk of files (a path, or a Task), in order
    (see the module docstring)."""
    converted = convert_chunk([Task(item) if isinstance(item, str) else item for item in items])
    digits: list[int | None] = [None] * len(converted)
    confidence: list[float | None] = [None] * len(converted)
    with_grid = [i for i, c in enumerate(converted) if c.grid is not None]
    if shared is not None and with_grid:  # the model is loaded only when there is a grid to predict
        model = shared.load() if isinstance(shared, ArraysFile) else shared
        grids = np.stack([converted[i].grid.reshape(64) for i in with_grid])  # type: ignore[union-attr]
        for i, digit, conf in zip(with_grid, *predict_quietly(model, grids), strict=True):
            digits[i], confidence[i] = digit, conf
    return Readings(
        digits, confidence, [c.error for c in converted], [c.sha256 for c in converted],
        [c.same for c in converted], None if shared is not None else [c.grid for c in converted],
    )


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


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The BLAS/OpenMP libraries of this process, found once (at the first prediction)."""
    return ThreadpoolController()
