"""Worker side of a run: decode the files of a chunk and make their grids.

This module is what worker processes import, so it stays light: Pillow,
numpy, OpenCV and nothing of scikit-learn, rich or typer.

>>> grid, error = convert_file("samples/scan_000_7.png")   # doctest: +SKIP
>>> grid.shape, error                                    # doctest: +SKIP
((8, 8), '')
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np

from ..io.concurrency import in_worker
from ..defaults import DEFAULT_MAX_PIXELS
from .grid import INPUT_SIDE, images_to_grids, pin_threads
from ..io.hashing import file_sha256
from .load import ImageError, load_image
from .plain import quiet_decoders
from .marks import WORKER_DIED  # the main process names it without OpenCV

LOAD_SIDE = INPUT_SIDE  # decode at most this many px per side (JPEG draft, shrink)


@dataclass(frozen=True)
class Task:
    """One file for a worker: convert it, or first compare its content hash.

    ``error`` is passed on without touching the file; with ``expect_sha256``
    the file is converted only if its content hash differs; ``want_sha256``
    asks for the hash of a converted file.  An image over ``max_pixels`` is an
    error, never decoded (see :func:`~batchdigits.image.load.load_image`).
    """

    path: str
    error: str = ""
    expect_sha256: str = ""
    want_sha256: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


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


def decode_file(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray | None, str]:
    """Load one file reduced for the conversion: ``(gray or None, error)``; never raises."""
    try:
        return load_image(path, max_side=LOAD_SIDE, max_pixels=max_pixels), ""
    except ImageError as exc:
        return None, str(exc)


def convert_file(path: str) -> tuple[np.ndarray | None, str]:
    """Load one file and make its grid: ``(grid or None for blank, error)``.

    Never raises for a bad file; the error is a reason for people.
    """
    gray, error = decode_file(path)
    return _grid(gray) if gray is not None else (None, error)


def _grid(gray: np.ndarray) -> tuple[np.ndarray | None, str]:
    return _grids([gray])[0]


def _grids(grays: list[np.ndarray]) -> list[tuple[np.ndarray | None, str]]:
    """The ``(grid or None, error)`` of each image, converted together; an image that cannot be
    converted spoils no other (the batch is then converted one image at a time)."""
    try:
        grids = images_to_grids(grays)
    except (ValueError, MemoryError) as exc:
        if len(grays) == 1:
            return [(None, f"cannot convert image: {exc}")]
        return [_grids([gray])[0] for gray in grays]
    return [(None if grid is None else grid.astype(np.uint8), "") for grid in grids]


def _decode_task(task: Task) -> Converted | tuple[np.ndarray, str]:
    """A task's answer when no conversion is needed, else its image and content hash."""
    if task.error:
        return Converted(None, task.error)
    sha = file_sha256(task.path) if (task.expect_sha256 or task.want_sha256) else ""
    if task.expect_sha256 and sha == task.expect_sha256:
        return Converted(None, sha256=sha, same=True)
    gray, error = decode_file(task.path, task.max_pixels)
    return Converted(None, error, sha) if gray is None else (gray, sha)


def run_task(task: Task) -> Converted:
    """Do one :class:`Task` (in a worker process)."""
    return convert_chunk([task])[0]


_CRASH_ON = "BATCHDIGITS_TEST_CRASH_ON"  # tests only: a worker kills itself on this file name


def convert_chunk(tasks: list[Task]) -> list[Converted]:
    """Worker entry point: a chunk of tasks, answers in the same order.

    Each file is decoded in turn, then the chunk's images are converted
    together (:func:`~batchdigits.image.grid.images_to_grids`: the same
    grids as one at a time, for a fraction of the calls; one OpenCV thread:
    the parallelism is the workers').
    """
    crash_on = os.environ.get(_CRASH_ON)  # unset outside tests: in_worker() is not asked
    if crash_on and in_worker() and any(os.path.basename(t.path) == crash_on for t in tasks):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a crashing decoder would
    pin_threads()
    answers: list[Converted | None] = []
    decoded: list[tuple[int, np.ndarray, str]] = []
    with quiet_decoders():  # the decoders' own lines off stderr, set up once for the chunk
        for task in tasks:
            answer = _decode_task(task)
            if isinstance(answer, Converted):
                answers.append(answer)
            else:
                decoded.append((len(answers), *answer))
                answers.append(None)
    for (i, _, sha), (grid, error) in zip(decoded, _grids([gray for _, gray, _ in decoded]), strict=True):
        answers[i] = Converted(grid, error, sha)
    return [answer for answer in answers if answer is not None]


def worker_died(task: Task) -> Converted:
    """The answer for a file whose worker process died converting it (see ``map_ordered``)."""
    return Converted(None, WORKER_DIED)
