"""``classify --adapt``: two passes over a folder, with the model adapted in between.

Pass 1 converts every file (in the worker processes, as a plain run does)
and keeps each grid as 64 bytes of ``uint8`` in memory (1M files: 64 MB);
the batches themselves (paths, stamps, answers) go to an anonymous
temporary file.  The model is then adapted to the grids
(:func:`batchdigits.learn.adapt.adapt_model`), and pass 2 reads the batches back
and predicts them with the adapted model: no file is decoded twice, and
rows come out in the same order as in a plain run.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import numpy as np

from ..learn.adapt import AdaptError, Adaptation, adapt_model
from .pipeline import Batch, Known, Result, Settings, iter_converted, predict_batch
from .corrections import Corrections
from ..io.files import Found
from ..learn.model import DigitModel

Phase = Callable[[str, int], None]  # ("converting", files done) / ("adapting", 0) / ("classifying", 0)


def adapted_results(
    found: Iterable[Found],
    model: DigitModel,
    settings: Settings,
    on_skip: Callable[[Found], None] | None = None,
    corrections: Corrections | None = None,
    on_phase: Phase | None = None,
    on_adapted: Callable[[dict[str, object]], None] | None = None,
) -> Iterator[Result]:
    """Rows of ``found`` predicted by ``model`` adapted to all their grids.

    ``on_phase`` hears of each pass-1 batch (files converted) and of the
    start of adaptation and of pass 2; ``on_adapted`` gets what the
    adaptation did (``Adaptation.as_dict()``, or why it was skipped).
    """
    phase = on_phase or (lambda _name, _n: None)
    with tempfile.TemporaryFile() as spool:
        grids = _first_pass(iter_converted(found, settings, on_skip, Known(corrections=corrections)), spool, phase)
        phase("adapting", 0)
        adapted, info = _adapt(model, grids)
        del grids
        if on_adapted is not None:
            on_adapted(info)
        phase("classifying", 0)
        spool.seek(0)
        for batch in _batches(spool):
            yield from predict_batch(batch, adapted, settings.min_confidence, corrections)


def _first_pass(batches: Iterable[Batch], spool: IO[bytes], phase: Phase) -> np.ndarray:
    """Spool every batch; return the grids ``(n, 64)`` as uint8, in order."""
    parts = []
    for batch in batches:
        kept = [c.grid.reshape(64) for _, c in batch if c is not None and c.grid is not None]
        if kept:
            parts.append(np.asarray(kept, np.uint8))
        pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
        phase("converting", len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, 64), np.uint8)


def _batches(spool: IO[bytes]) -> Iterator[Batch]:
    """Read back what :func:`_first_pass` wrote (our own file: pickle is safe here)."""
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


def _adapt(model: DigitModel, grids: np.ndarray) -> tuple[DigitModel, dict[str, object]]:
    try:
        adapted = adapt_model(model, grids, seed=0)
    except AdaptError as exc:  # too few grids: the model as it is
        skipped = Adaptation(f"none: {exc}", len(grids), 0, 0, 0, 0.0, 0, 0.0)
        return model, skipped.as_dict()
    adapted.source, adapted.sha256 = model.source, model.sha256
    return adapted, dict(adapted.metadata["adaptation"])
