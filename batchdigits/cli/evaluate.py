"""``batchdigits evaluate``: measure a model on labelled scans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from ..defaults import DEFAULT_MIN_CONFIDENCE
from .common import (
    DebugOption, ModelOption, PickleOption, UsageProblem, check_folder, check_output, check_range,
    check_replaceable, handled_errors, open_full_model,
)
from .ui import log, log_block, report_console, stderr_console


def evaluate(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Labelled scans: subfolders 0..9, or use --labels.")],
    labels: Annotated[
        Optional[Path],
        typer.Option("--labels", metavar="CSV",
                     help="CSV of path,label; paths relative to the CSV's folder (as for train)."),
    ] = None,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", metavar="X",
                            help="Threshold for the per-status accuracy (as in classify).")
    ] = DEFAULT_MIN_CONFIDENCE,
    model_path: ModelOption = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", metavar="PATH", help="Also write the numbers as JSON here.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Worker processes (0 = all).")] = 0,
    allow_pickle: PickleOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --json even if it is a device, FIFO or socket.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Measure a model on labelled scans: accuracy, per status, reliability, review effort, per class, confusion,
    worst mistakes.

    Mistakes are listed by path relative to FOLDER (as the predictions CSV writes it).

    \b
    Examples:
      batchdigits evaluate my_test/
      batchdigits evaluate my_test/ --model mine.skops --json numbers.json
      batchdigits evaluate scans/ --labels scans/labels.csv
    """
    import json

    from ..learn.dataset import DatasetError, from_csv, from_folders
    from ..learn.evaluate import evaluate as run_evaluation
    from ..learn.trainreport import (
        render_confusion, render_effort, render_mistakes, render_reliability, render_report, render_statuses,
    )

    console = stderr_console()
    with handled_errors(console, debug):
        check_folder(folder)
        check_range("--min-confidence", min_confidence, 0.0, 1.0)
        if json_path is not None:
            check_output(str(json_path))
            check_replaceable(str(json_path), folder, force, csv_only=False)
        try:
            items = from_csv(str(labels)) if labels else from_folders(str(folder))
        except DatasetError as exc:
            raise UsageProblem(str(exc)) from None
        model = open_full_model(model_path, allow_pickle, console, False)
        result = run_evaluation(items, model, jobs, root=str(folder), min_confidence=min_confidence)
        out = report_console()  # without a terminal: timestamped, unwrapped lines, as classify's summary
        for block in (
            render_report(result.accuracy, result.report, result.n, "labelled images"),
            render_statuses(result.per_status, result.min_confidence),
            render_reliability(result.reliability, result.ece),
            render_effort(result.effort, result.auroc),
            render_confusion(result.confusion),
            render_mistakes(result.mistakes, result.dropped),
        ):
            log_block(out, block)
        if json_path is not None:
            from ..io.atomic import atomic_write

            with atomic_write(str(json_path)) as fh:
                json.dump(result.as_dict(), fh, indent=2)
            log(console, f"numbers written to {json_path}")
