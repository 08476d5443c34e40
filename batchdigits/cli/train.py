"""``batchdigits train``: fit a model on load_digits and/or the user's labelled scans, save it with skops."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from ..io.counted import counted
from .common import DebugOption, UsageProblem, check_folder, check_output, check_replaceable, choices, handled_errors
from .ui import Steps, log, log_block, report_console, stderr_console

if TYPE_CHECKING:
    from ..learn.train import TrainResult


class Classifier(StrEnum):
    """``train --classifier``; the same names as ``batchdigits.learn.train.CLASSIFIERS``."""

    svc = "svc"
    logistic = "logistic"
    knn = "knn"


def train(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="PATH", help="Model file to write (.skops).")],
    data: Annotated[
        Optional[list[Path]],
        typer.Option("--data", metavar="FOLDER", help="Folder of labelled scans in subfolders 0..9 (repeatable)."),
    ] = None,
    labels: Annotated[
        Optional[Path], typer.Option("--labels", metavar="CSV", help="CSV of path,label for labelled scans.")
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin/--no-builtin", help="Include scikit-learn's load_digits.")
    ] = True,
    classifier: Annotated[
        Classifier, typer.Option("--classifier", metavar=choices(Classifier), help="The classifier to fit.")
    ] = Classifier.svc,
    augment: Annotated[
        bool,
        typer.Option("--augment/--no-augment", help="Add distorted copies of load_digits and of your scans."),
    ] = True,
    unlabelled: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--unlabelled", metavar="FOLDER",
            help="Folder of unlabelled scans to adapt the model to, e.g. the folder cron classifies (repeatable).",
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Worker processes (0 = all).")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out even if it is a device, FIFO or socket.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Train a model, print its holdout report and save it with skops.

    Labelled scans (--data, --labels) are converted exactly as classify does
    and added to load_digits unless --no-builtin. With --unlabelled the model
    is then adapted to those scans (as classify --adapt does).

    \b
    Examples:
      batchdigits train --out model.skops
      batchdigits train --data labelled/ --out mine.skops
      batchdigits train --labels corrections.csv --unlabelled scans/ --out ours.skops
    """
    from ..learn.dataset import DatasetError, from_folders, labelled_grids, read_labels, unlabelled_grids
    from ..learn.model import save_model
    from ..learn.fit import CLASSIFIERS
    from ..learn.train import train as fit
    from ..learn.trainreport import render_confusion, render_report, render_train_lead

    console = stderr_console()
    with handled_errors(console, debug):
        if classifier.value not in CLASSIFIERS:
            raise UsageProblem(f"unknown classifier {classifier.value!r}; choose {', '.join(CLASSIFIERS)}")
        check_output(str(out))
        check_replaceable(str(out), Path("."), force, csv_only=False)
        if unlabelled and classifier.value == "logistic":
            raise UsageProblem("--unlabelled needs --classifier svc or knn (they keep their training grids)")
        for folder in unlabelled or []:
            check_folder(folder)
        try:
            items = [i for folder in data or [] for i in from_folders(str(folder))]
            if labels is not None:
                listed = read_labels(str(labels))
                items += listed.items
                if listed.not_digits:
                    log(console, f"{counted(listed.not_digits, 'row')} of {labels} labelled 'not a digit' skipped")
        except DatasetError as exc:
            raise UsageProblem(str(exc)) from None
        with Steps(console) as step:  # ~70 s with the built-in set: say what is being done
            extra = None
            if items:
                step(f"converting {counted(len(items), 'labelled scan')}")
                extra = labelled_grids(items, jobs)
                log(console, f"{counted(len(extra.y), 'labelled scan')} converted, {len(extra.dropped)} left out")
                for path, reason in extra.dropped[:5]:
                    log(console, f"  left out {path}: {reason}")
            if not builtin and (extra is None or len(extra.y) == 0):
                raise UsageProblem("--no-builtin needs labelled scans from --data or --labels")
            grids = None
            if unlabelled:
                step("converting the unlabelled scans")
                grids = unlabelled_grids([str(f) for f in unlabelled], jobs)
                log(console, f"{counted(len(grids), 'unlabelled scan')} converted; adapting to them")
                if len(grids) < 2:
                    raise UsageProblem(
                        f"--unlabelled: {counted(len(grids), 'readable scan')} found; adaptation needs 2 or more"
                    )
            try:
                result = fit(
                    extra.X if extra else None, extra.y if extra else None, builtin, classifier.value, augment,
                    unlabelled_X=grids, jobs=jobs, on_step=step,
                )
            except ValueError as exc:
                raise UsageProblem(str(exc)) from None
            step(f"saving the model to {out}")
            save_model(result.model, out)
        report = report_console()  # the user's own figure first; without a terminal, timestamped lines
        for block in (render_train_lead(result),
                      render_report(result.accuracy, result.report, result.n_holdout, _holdout_words(result)),
                      render_confusion(result.confusion)):
            log_block(report, block)
        counts = result.model.metadata["class_counts"]
        log(console, f"trained on {counted(sum(counts), 'grid')} ({result.model.metadata['training_data']})")
        log(console, f"model written to {out}")


def _holdout_words(result: TrainResult) -> str:
    """What the per-class tables count: the held-out images of both sources, or of one."""
    both = result.user_accuracy is not None and result.builtin_accuracy is not None
    return "held-out images (yours and load_digits' together)" if both else "held-out images"
