"""What a worker answers: :class:`Reading` per file, :class:`Readings` per chunk.

The main process unpickles every answer a local worker sends back, so these
classes live apart from :mod:`batchdigits.run.reading` (the worker's step: numpy,
OpenCV, Pillow, threadpoolctl): a ``--jobs 0`` run's main process only walks,
merges and writes, and never imports the conversion (it did, as the first
answer arrived: 0.4 s of CPU on a busy 2-core machine, taken from the workers
just as they started).  Nothing here imports numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..image.marks import WORKER_DIED

if TYPE_CHECKING:
    import numpy as np


class Reading(NamedTuple):
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


@dataclass(frozen=True)
class Readings(Sequence[Reading]):
    """A worker's answers for a chunk, in task order: one list per field of
    :class:`Reading`, so a few objects cross the process boundary per chunk,
    not one per file (unpickling an object per file was most of what the main
    process spent on a worker's answer).  Iterating gives the :class:`Reading`
    of each file."""

    digits: list[int | None]
    confidence: list[float | None]
    errors: list[str]
    sha256: list[str]
    same: list[bool]
    grids: list[np.ndarray | None] | None = None  # only when the worker had no model

    def __len__(self) -> int:
        return len(self.digits)

    def __iter__(self) -> Iterator[Reading]:
        grids = self.grids if self.grids is not None else [None] * len(self.digits)
        fields = zip(self.digits, self.confidence, self.errors, self.sha256, self.same, grids, strict=True)
        return map(Reading._make, fields)

    def __getitem__(self, i: int) -> Reading:  # type: ignore[override]  # no slices
        grid = self.grids[i] if self.grids is not None else None
        return Reading(self.digits[i], self.confidence[i], self.errors[i], self.sha256[i], self.same[i], grid)


def worker_died(task: object) -> Reading:
    """The answer for a file whose worker process died reading it (see ``map_ordered``)."""
    return Reading(error=WORKER_DIED)
