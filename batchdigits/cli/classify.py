"""``batchdigits classify``: a folder of scans -> a CSV of predictions, and its summary."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from .. import __version__
from ..defaults import DEFAULT_BATCH_SIZE, DEFAULT_MAX_PIXELS, DEFAULT_MIN_CONFIDENCE, DEFAULT_SCHEDULER_TIMEOUT
from ..io.counted import counted
from .common import (
    DebugOption, ModelOption, PickleOption, UsageProblem, check_folder, check_output, check_range,
    check_replaceable, choices, handled_errors, interrupt_on_sigterm, open_full_model, open_model,
)
from .adapting import adapt_progress, check_adaptable, describe_adaptation, learned_model
from .ui import log, log_block, stderr_console

if TYPE_CHECKING:
    from ..learn.model import DigitModel
    from ..learn.modelref import ModelRef
    from ..run.corrections import Corrections
    from ..run.report import Report
    from ..run.write import Row


class Backend(StrEnum):
    """Where ``classify`` decodes and converts images (the library takes the plain strings)."""

    loky = "loky"
    dask = "dask"


def check_backend(backend: str, scheduler: str | None) -> None:
    """The backend must exist and, for dask, be installed."""
    if backend not in ("loky", "dask"):
        raise UsageProblem(f"unknown backend {backend!r}; choose loky or dask")
    if backend == "loky" and scheduler:
        raise UsageProblem("--scheduler needs --backend dask")
    if backend == "dask":
        if importlib.util.find_spec("distributed") is None:
            raise UsageProblem(
                "--backend dask needs the optional extra: pip install 'batchdigits[dask]'"
            )


def open_corrections(path: Path | None, folder: Path) -> Corrections | None:
    """The corrections file for ``classify --corrections``, read and checked before any work."""
    from ..run.corrections import Corrections, CorrectionsError

    if path is None:
        return None
    try:
        return Corrections.load(str(path), str(folder))
    except CorrectionsError as exc:
        raise UsageProblem(str(exc)) from None


def write_summary_json(report: Report, path: str, model: DigitModel | ModelRef) -> None:
    """The run's numbers for monitoring, written atomically."""
    import json

    from ..io.atomic import atomic_write
    from ..image.marks import GRID_VERSION

    data = report.as_dict()
    data["model_sha256"] = model.sha256
    data["grid_version"] = GRID_VERSION
    data["batchdigits_version"] = __version__
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _fan_out(listeners: list[Callable[[Row], None]]) -> Callable[[Row], None] | None:
    if not listeners:
        return None

    def call_all(row: Row) -> None:
        for listener in listeners:
            listener(row)

    return call_all


def classify(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Folder of digit images.")],
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="PATH", help="CSV to write, or - for standard output.")
    ] = "predictions.csv",
    model_path: ModelOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", help="Descend into subfolders.")
    ] = True,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", help="Grids per prediction call.")
    ] = DEFAULT_BATCH_SIZE,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", metavar="N", help="Worker processes (0 = all cores).")
    ] = 0,
    min_confidence: Annotated[
        float,
        typer.Option(
            "--min-confidence", metavar="X", help="Below this a prediction is low_confidence."
        ),
    ] = DEFAULT_MIN_CONFIDENCE,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels", metavar="N",
            help="Decoded pixels per image at most; larger images are error rows, never decoded.",
        ),
    ] = DEFAULT_MAX_PIXELS,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend", metavar=choices(Backend),
            help="loky (local worker processes) or dask (a dask.distributed cluster).",
        ),
    ] = Backend.loky,
    scheduler: Annotated[
        Optional[str],
        typer.Option("--scheduler", metavar="ADDR", help="With --backend dask: the scheduler address, e.g. tcp://host:8786."),
    ] = None,
    scheduler_timeout: Annotated[
        float,
        typer.Option(
            "--scheduler-timeout", metavar="SECONDS",
            help="With --backend dask: how long to wait to reach the scheduler and for a first worker "
            "to join it; then exit 2.",
        ),
    ] = DEFAULT_SCHEDULER_TIMEOUT,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Keep rows of unchanged files (size+mtime) from the previous CSV; classify only new or changed files.",
        ),
    ] = False,
    verify_content: Annotated[
        bool,
        typer.Option("--verify-content", help="With --incremental, also compare content hashes."),
    ] = False,
    summary_json: Annotated[
        Optional[str],  # a str, not a Path: Path("") would turn an empty argument into "."
        typer.Option(
            "--summary-json", metavar="PATH", help="Write counts, timing and model as JSON here (monitoring)."
        ),
    ] = None,
    review_sheet: Annotated[
        Optional[str],
        typer.Option(
            "--review-sheet", metavar="PATH",
            help="Also draw the low_confidence/blank/error files as a contact sheet (.png or .html).",
        ),
    ] = None,
    corrections_path: Annotated[
        Optional[Path],
        typer.Option(
            "--corrections", metavar="PATH",
            help="Corrections file from `batchdigits review`: its labels become `reviewed` rows.",
        ),
    ] = None,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt",
            help="Convert every file, adapt the model to this folder's own scans, then classify "
            "(two passes; not with --incremental).",
        ),
    ] = False,
    learn: Annotated[
        bool,
        typer.Option(
            "--learn",
            help="The final CSV after a review: refit the model on the --corrections labels and this "
            "folder's scans (as the review page does), save it beside the corrections file "
            "(CORRECTIONS.model.skops, for --model in later runs) and classify with it.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    allow_pickle: PickleOption = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace --out even if it is not a CSV batchdigits wrote "
            "(another file, an input image, a device or FIFO).",
        ),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Classify every image under FOLDER and write one CSV row per image file.

    \b
    Examples:
      batchdigits classify scans/ -o predictions.csv
      batchdigits classify scans/ --out - > predictions.csv
      batchdigits classify inbox/ -o p.csv --incremental --quiet   # from cron
      batchdigits classify scans/ -o predictions.csv --adapt      # adapted to this folder's writers
      batchdigits classify scans/ -o final.csv --corrections predictions.corrections.csv --learn
    """
    from ..run.lock import output_lock  # light: a second run is refused before the heavy imports
    from .pause import pause

    console = stderr_console()
    with handled_errors(console, debug), ExitStack() as held:
        interrupt_on_sigterm()
        check_range("--batch-size", batch_size, 1)
        check_range("--jobs", jobs, 0)
        check_range("--min-confidence", min_confidence, 0.0, 1.0)
        check_range("--max-pixels", max_pixels, 1)
        check_range("--scheduler-timeout", scheduler_timeout, 0.1)
        check_folder(folder)
        check_output(out)
        check_replaceable(out, folder, force)
        for extra in (review_sheet, summary_json):
            if extra is not None:
                check_output(extra)
                check_replaceable(extra, folder, force, csv_only=False)
        if incremental and out == "-":
            raise UsageProblem("--incremental needs --out PATH (it reuses that CSV)")
        if incremental and adapt:
            raise UsageProblem(
                "--adapt cannot be combined with --incremental (the adapted model depends on the "
                "whole folder, so no row could be reused); for cron, save an adapted model once with "
                "`batchdigits train --unlabelled FOLDER --out model.skops` and run "
                "`classify --incremental --model model.skops`"
            )
        check_backend(backend.value, scheduler)
        if backend == Backend.dask and not debug:  # what goes wrong on the cluster: our one line
            from ..io.cluster import silence_distributed_logs

            silence_distributed_logs()
        if out != "-":  # a second run on this output is refused at once, not after the model loaded
            held.enter_context(output_lock(out))
        from ..run.classify import classify_folder
        from ..run.pipeline import Settings
        from .ui import maybe_progress

        if review_sheet is not None:
            from ..web.review import sheet_format

            if sheet_format(review_sheet) is None:
                raise UsageProblem(f"--review-sheet {review_sheet}: a review sheet is drawn as .png or .html")
        corrections = open_corrections(corrections_path, folder)
        learned = learned_model(learn, corrections_path, corrections, incremental, folder)
        model: DigitModel | ModelRef
        if adapt or learn:  # adapting and learning refit the estimators: scikit-learn
            model = open_full_model(model_path, allow_pickle, console, quiet)
            check_adaptable(model)
        else:
            model = open_model(model_path, allow_pickle, console, quiet)  # the slow part, last
        settings = Settings(
            batch_size=batch_size, jobs=jobs, min_confidence=min_confidence, backend=backend.value,
            scheduler=scheduler, scheduler_timeout=scheduler_timeout, max_pixels=max_pixels,
        )
        sheet = None
        if review_sheet is not None:
            from ..web.review import ReviewSheet

            sheet = ReviewSheet(str(folder))
        with maybe_progress(console, str(folder), recursive, not quiet) as bar:
            listeners: list[Callable[[Row], None]] = [f for f in (bar and bar.advance, sheet and sheet.add) if f]
            report = classify_folder(
                folder, out=out, model=model, recursive=recursive, settings=settings, on_row=_fan_out(listeners),
                incremental=incremental, verify_content=verify_content, corrections=corrections,
                take_lock=False, adapt=adapt, learn=learned,
                on_phase=adapt_progress(console, bar, quiet) if adapt or learn else None,
            )
        pause("replaced")
        if sheet is not None and review_sheet is not None:
            sheet.save(review_sheet)
            log(console, f"review sheet with {counted(sheet.count, 'file')} written to {review_sheet}", quiet)
        if learned is not None:
            labelled = (report.adaptation or {}).get("labelled", 0)
            log(console, f"model refit on {counted(labelled, 'labelled scan')} and the folder's own, saved to "
                f"{learned} (use it with --model)", quiet)
        elif report.adaptation is not None:
            log(console, describe_adaptation(report.adaptation), quiet)
        if summary_json is not None:
            write_summary_json(report, summary_json, model)
        log_block(console, report.render(), quiet)
        log(console, report.summary_line(), quiet)
        if report.stale_reviews:
            log(console, f"warning: {counted(report.stale_reviews, 'correction')} not applied: the file "
                "changed since it was reviewed (review it again)", quiet)
        warn_if_nothing_found(console, report, folder, quiet)
        if quiet:  # "only errors": the error rows still get a word
            for line in report.error_lines():
                log(console, line)
        raise typer.Exit(report.exit_code())


def warn_if_nothing_found(console: Console, report: Report, folder: Path, quiet: bool) -> None:
    """No image files is not an error (exit 0: an empty inbox under cron is normal), but is said.

    With --quiet it is said only when FOLDER holds other files (likely the wrong folder).
    """
    if report.found:
        return
    other = f" ({counted(report.skipped, 'other file')} skipped)" if report.skipped else ""
    log(console, f"warning: no image files found in {folder}{other}", quiet and not report.skipped)
