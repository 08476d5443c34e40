"""Classify image files in batches: the engine behind ``batchdigits classify``.

The folder is walked (:func:`~batchdigits.io.files.walk`), each file goes
its way to a row in :mod:`batchdigits.run.pipeline` (or, with ``adapt``,
:mod:`batchdigits.run.adaptrun`), and the rows are written to the CSV and,
with ``incremental``, the state (:mod:`batchdigits.run.incremental`).

``classify_folder(folder, out=...)`` is the whole job as a library call:

>>> from batchdigits import classify_folder
>>> report = classify_folder("samples", out="predictions.csv")   # doctest: +SKIP
>>> report.counts["ok"]                                           # doctest: +SKIP
47
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from ..image.marks import GRID_VERSION  # not image.grid: no OpenCV in this process
from ..io.atomic import naming, remove_stale_temps, temp_beside, temp_prefix
from ..io.files import walk
from ..learn.modelref import ModelRef
from .corrections import Corrections
from .incremental import Previous, StateWriter, open_previous, run_header, write_state
from .lock import output_lock
from .pipeline import Known, Model, Result, Settings, iter_result_batches
from .report import Report
from .origin import record_origin
from .state import origin_path, own_file_names, state_path
from .write import Row, open_csv

if TYPE_CHECKING:
    from ..learn.model import DigitModel


def own_files_filter(out: str | None) -> Callable[[str], bool] | None:
    """A predicate that hides the run's own output, state, lock and temp files."""
    if out is None or out == "-":
        return None
    out_abs = os.path.abspath(out)
    out_dir = os.path.realpath(os.path.dirname(out_abs))
    names = own_file_names(out_abs)
    # is_temp_for(target, name), its prefixes made once: this is asked of every file walked
    temp_prefixes = tuple(temp_prefix(t) for t in (out_abs, state_path(out_abs), origin_path(out_abs)))

    def ignore(path: str) -> bool:
        name = path[path.rfind("/") + 1 :]  # os.path.basename without its call: asked of every file walked
        if name not in names and not (name.startswith(temp_prefixes) and name.endswith(".tmp")):
            return False
        return os.path.realpath(os.path.dirname(os.path.abspath(path))) == out_dir

    return ignore


def classify_folder(
    folder: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = "predictions.csv",
    model: Model | None = None,
    recursive: bool = True,
    settings: Settings = Settings(),
    on_row: Callable[[Row], None] | None = None,
    incremental: bool = False,
    verify_content: bool = False,
    corrections: Corrections | None = None,
    take_lock: bool = True,
    adapt: bool = False,
    on_phase: Callable[[str, int], None] | None = None,
    learn: str | os.PathLike[str] | None = None,
) -> Report:
    """Classify every image under ``folder``; write the CSV to ``out``.

    Every argument but ``folder`` is a keyword.
    ``out`` may be a path, ``"-"`` for stdout, or ``None`` to write nothing.
    With a path, only one run at a time may write it (else :class:`OutputLocked`);
    ``take_lock=False`` when the caller already holds :func:`~batchdigits.run.lock.output_lock`
    (the CLI takes it before loading the model).
    ``incremental`` reuses the rows of unchanged files from the previous
    run's CSV (see :mod:`batchdigits.run.incremental`).  ``corrections`` (see
    :class:`~batchdigits.run.corrections.Corrections`) turns the rows of files a
    person labelled into ``reviewed`` rows.  ``adapt`` first converts every
    file, adapts the model to the folder's grids, then predicts (see
    :mod:`batchdigits.run.adaptrun`; ``on_phase`` hears of its passes; what was
    done is in ``report.adaptation``); it cannot be combined with
    ``incremental`` (an adapted model depends on the whole folder).
    ``learn`` (a path; needs ``corrections``) does the same passes but refits
    the model on the folder's grids and the corrections' labels
    (:func:`batchdigits.learn.relearn.relearn`), saves it to ``learn`` (skops)
    and classifies with it: after a review, the final CSV.
    A CSV file written records its folder beside it (:mod:`batchdigits.run.origin`).
    Returns the run's :class:`~batchdigits.run.report.Report`.
    """
    if learn is not None and corrections is None:
        raise ValueError("learn needs corrections: the labels to learn from")
    adapt = adapt or learn is not None
    if adapt and incremental:
        raise ValueError("adapt cannot be combined with incremental: save an adapted model "
                         "with `batchdigits train --unlabelled FOLDER` and use that")
    folder = os.path.abspath(folder)  # workers (dask) may run elsewhere
    out_path = None if out is None else os.fspath(out)
    if model is None:
        from ..learn.builtin import default_model_ref

        model = default_model_ref()
    if adapt and isinstance(model, ModelRef):
        model = model.full()  # adapting refits the estimators: scikit-learn
    report = Report(out=out_path, model=model.source)
    found = walk(folder, recursive=recursive, ignore=own_files_filter(out_path))

    def emit(batches: Iterable[list[Result]], sink: Callable[[list[Result]], object]) -> None:
        for batch in batches:
            sink(batch)
            for result in batch:
                report.add(result.row, result.reused, result.stale_review)
                if on_row is not None:
                    on_row(result.row)

    def results(previous: Previous | None = None, need_stamps: bool = False) -> Iterator[list[Result]]:
        if not adapt:
            return iter_result_batches(found, model, settings, report.skip,
                                       Known(previous, verify_content, need_stamps, corrections))
        from .adaptrun import adapted_results  # scikit-learn: only to adapt

        def keep(info: dict[str, Any]) -> None:
            report.adaptation = info

        def save(learned: DigitModel) -> None:
            from ..learn.model import save_model

            assert learn is not None
            save_model(learned, learn)

        return adapted_results(found, model, settings, report.skip, corrections, on_phase, keep,  # type: ignore[arg-type]
                               save if learn is not None else None)

    if out_path is None or out_path == "-":
        with open_csv(out_path) if out_path else nullcontext(None) as csv_out:
            rows = results()
            emit(rows, lambda batch: csv_out.write_rows(r.row for r in batch) if csv_out else None)
        report.finish()
        return report
    with output_lock(out_path) if take_lock else nullcontext():
        state = state_path(out_path)
        for own in (out_path, state, origin_path(out_path)):
            remove_stale_temps(own)
        header = run_header(
            model.sha256, GRID_VERSION, settings.min_confidence, recursive, folder, verify_content
        )
        previous = open_previous(out_path, state, header) if incremental else None
        with temp_beside(state) as body_path, naming(state), open(body_path, "w", encoding="utf-8") as body:
            state_out = StateWriter(body)
            with open_csv(out_path) as csv_out:
                rows = results(previous, incremental)
                if incremental:

                    def write_both(batch: list[Result]) -> None:
                        csv_out.write_rows(r.row for r in batch)
                        for r in batch:
                            state_out.add(r.row.path, r.file_stamp)

                    emit(rows, write_both)
                    body.close()
                    # the state first, naming the new CSV by hash; then the CSV is moved
                    # into place: a kill in between leaves a state that matches no CSV
                    write_state(state, header, body_path, csv_out.sha256())
                else:
                    emit(rows, lambda batch: csv_out.write_rows(r.row for r in batch))
                digest = csv_out.sha256()
        record_origin(out_path, folder, digest)  # the CSV is in place: `review CSV` finds its folder
    report.finish()
    return report
