"""Worker side of a run: decode one file and make its grid.

This module is what worker processes import, so it stays light: Pillow,
numpy, scipy.ndimage and nothing of scikit-learn, rich or typer.

>>> grid, error = convert_file("samples/scan_000_7.png")   # doctest: +SKIP
>>> grid.shape, error                                    # doctest: +SKIP
((8, 8), '')
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np

from .concurrency import in_worker
from .grid import INPUT_SIDE, image_to_grid
from .incremental import file_sha256
from .load import ImageError, load_image

LOAD_SIDE = INPUT_SIDE  # decode at most this many px per side (JPEG draft, shrink)


@dataclass(frozen=True)
class Task:
    """One file for a worker: convert it, or first compare its content hash.

    ``error`` is passed on without touching the file; with ``expect_sha256``
    the file is converted only if its content hash differs; ``want_sha256``
    asks for the hash of a converted file.
    """

    path: str
    error: str = ""
    expect_sha256: str = ""
    want_sha256: bool = False


@dataclass(frozen=True)
class Converted:
    """A worker's answer: the grid (``None``: blank or error), error, content hash.

    ``same`` means the content hash matched ``Task.expect_sha256`` and
    nothing was converted.
    """

    grid: np.ndarray | None
    error: str = ""
    sha256: str = ""
    same: bool = False


def convert_file(path: str) -> tuple[np.ndarray | None, str]:
    """Load one file and make its grid: ``(grid or None for blank, error)``.

    Never raises for a bad file; the error is a reason for people.
    """
    try:
        gray = load_image(path, max_side=LOAD_SIDE)
    except ImageError as exc:
        return None, str(exc)
    try:
        grid = image_to_grid(gray)
    except (ValueError, MemoryError) as exc:
        return None, f"cannot convert image: {exc}"
    return (None if grid is None else grid.astype(np.uint8)), ""


def run_task(task: Task) -> Converted:
    """Do one :class:`Task` (in a worker process)."""
    if task.error:
        return Converted(None, task.error)
    sha = file_sha256(task.path) if (task.expect_sha256 or task.want_sha256) else ""
    if task.expect_sha256 and sha == task.expect_sha256:
        return Converted(None, sha256=sha, same=True)
    grid, error = convert_file(task.path)
    return Converted(grid, error, sha)


WORKER_DIED = "worker died while decoding"
_CRASH_ON = "BATCHDIGITS_TEST_CRASH_ON"  # tests only: a worker kills itself on this file name


def convert_chunk(tasks: list[Task]) -> list[Converted]:
    """Worker entry point: a chunk of tasks, answers in the same order."""
    crash_on = os.environ.get(_CRASH_ON) if in_worker() else None
    if crash_on and any(os.path.basename(t.path) == crash_on for t in tasks):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a crashing decoder would
    return [run_task(task) for task in tasks]


def worker_died(task: Task) -> Converted:
    """The answer for a file whose worker process died converting it (see ``map_ordered``)."""
    return Converted(None, WORKER_DIED)
