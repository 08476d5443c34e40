"""The ``batchdigits`` command line: a thin layer over the library."""

from __future__ import annotations

import errno
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

# Only light modules at import time: --help and --version must not load numpy,
# scipy, Pillow or scikit-learn (benchmarks/startup.py); the commands import them.
from . import __version__
from .clihelp import CONTEXT, Command, Group
from .defaults import DEFAULT_BATCH_SIZE, DEFAULT_MAX_PIXELS, DEFAULT_MIN_CONFIDENCE
from .exitcodes import (
    EXIT_BROKEN_PIPE, EXIT_FILE_ERRORS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_USAGE,
)

from rich.console import Console

from .ui import error, log, log_block, stderr_console

if TYPE_CHECKING:
    from .run.corrections import Corrections
    from .learn.model import DigitModel
    from .run.report import Report
    from .run.write import Row

EXIT_CODES_HELP = (
    "Exit codes: 0 every file classified (ok, low_confidence, blank or reviewed); "
    "1 run completed but some files were errors; "
    "2 unusable arguments, folder, output or model; "
    "75 another run holds the output's lock; "
    "130 interrupted (Ctrl-C/SIGTERM), previous CSV left intact unless the message says otherwise; "
    "141 standard output closed by its reader (| head); "
    "70 internal error."
)
ENVIRONMENT_HELP = (
    "Environment: BATCHDIGITS_MODEL=PATH: the model to use when --model is not given "
    "(instead of the built-in one). XDG_CACHE_HOME: where the built-in model is cached "
    "(XDG_CACHE_HOME/batchdigits, default ~/.cache/batchdigits). "
    "NO_COLOR=1: no colour on a terminal."
)
EPILOG = f"{EXIT_CODES_HELP}\n\n{ENVIRONMENT_HELP}"

app = typer.Typer(
    cls=Group,
    context_settings=CONTEXT,
    epilog=EPILOG,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer.rich_utils (rich.markdown, rich.traceback) costs 0.17 s
    no_args_is_help=True,
)


class Backend(StrEnum):
    """Where ``classify`` decodes and converts images (the library takes the plain strings)."""

    loky = "loky"
    dask = "dask"


class Classifier(StrEnum):
    """``train --classifier``; the same names as ``batchdigits.learn.train.CLASSIFIERS``."""

    svc = "svc"
    logistic = "logistic"
    knn = "knn"


def choices(enum: type[Enum]) -> str:
    """The metavar listing an Enum's values: ``[loky|dask]``."""
    return "[" + "|".join(str(member.value) for member in enum) + "]"


class ModelFromEnv(type(Path())):  # type: ignore[misc]
    """A --model path that came from $BATCHDIGITS_MODEL (errors say so)."""


def _note_env(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    source = ctx.get_parameter_source(param.name or "")
    if value is not None and source is not None and source.name == "ENVIRONMENT":
        return ModelFromEnv(value)
    return value


class UsageProblem(Exception):
    """A bad argument or unusable input: one line for the user, exit code 2."""


DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
ModelOption = Annotated[
    Optional[Path],
    typer.Option(
        "--model", metavar="PATH", envvar="BATCHDIGITS_MODEL", show_envvar=True,
        callback=_note_env, help="Model file (.skops). Default: the built-in model.",
    ),
]
PickleOption = Annotated[
    bool,
    typer.Option("--allow-pickle", help="Also accept pickle/joblib model files (can run code)."),
]


@contextmanager
def handled_errors(console: Console, debug: bool) -> Iterator[None]:
    """Turn failures into one-line messages and documented exit codes."""
    from .run.atomic import interrupted_message, replace_mark

    mark = replace_mark()
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        error(console, interrupted_message(mark))  # says which files are already new and complete
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        _silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except OSError as exc:
        if debug or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        error(console, f"no space left on device: {exc.filename}")
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:
        if _is_a(exc, "run.lock", "OutputLocked"):
            error(console, str(exc))
            raise typer.Exit(EXIT_LOCKED) from None
        if debug:
            raise
        if isinstance(exc, UsageProblem) or _is_a(exc, "learn.model", "ModelError"):
            error(console, str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        error(console, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(EXIT_INTERNAL) from None


def _silence_stdout() -> None:
    """Point standard output at /dev/null: the closing flush must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (a test harness)
        pass


def _is_a(exc: BaseException, module: str, name: str) -> bool:
    """``isinstance(exc, batchdigits.<module>.<name>)`` without importing that module
    (an exception of a module never imported cannot have been raised)."""
    loaded = sys.modules.get(f"{__package__}.{module}")
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _interrupt_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def check_range(name: str, value: float, low: float, high: float | None = None) -> None:
    """A numeric option must lie in ``[low, high]``."""
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageProblem(f"{name} must be {bounds}, got {value}")


def check_folder(folder: Path) -> None:
    """The input folder must exist and be listable."""
    if not folder.exists():
        raise UsageProblem(f"folder not found: {folder}")
    if not folder.is_dir():
        raise UsageProblem(f"not a folder: {folder}")
    try:
        with os.scandir(folder) as it:
            next(it, None)
    except OSError as exc:
        raise UsageProblem(f"cannot read folder {folder}: {exc.strerror or exc}") from None


def check_output(out: str) -> None:
    """The output's folder must exist and accept new files; checked before work."""
    from .run.atomic import owned_temp

    if out == "-":
        return
    if not out:
        raise UsageProblem("the output path is empty: give a file name, or - for standard output")
    path = Path(out)
    if path.is_dir():
        raise UsageProblem(f"output is a folder, not a file: {out}")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageProblem(f"output folder does not exist: {directory}")
    try:
        with owned_temp(out) as (fd, _probe):  # the same kind of file the run will write
            os.close(fd)
    except OSError as exc:
        raise UsageProblem(f"cannot write to {directory}: {exc.strerror or exc}") from None


def check_replaceable(out: str, folder: Path, force: bool, csv_only: bool = True) -> None:
    """Refuse to replace what is not ours (see ``write.replace_refusal``) unless ``force``."""
    from .run.write import replace_refusal

    if out == "-" or force:
        return
    inputs = str(folder) if csv_only else None  # a review sheet may live among the scans
    reason = replace_refusal(out, inputs, csv_only)
    if reason:
        raise UsageProblem(f"{reason}; refusing to replace it (--force replaces it anyway)")


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


def open_model(path: Path | None, allow_pickle: bool, console: Console, quiet: bool) -> DigitModel:
    """The model named on the command line, or the built-in one."""
    from .learn.model import default_model_path, get_default_model, load_model

    if path is not None:
        origin = " (from BATCHDIGITS_MODEL)" if isinstance(path, ModelFromEnv) else ""
        if not path.is_file():
            what = "model file not found" if not path.exists() else "model path is not a file"
            raise UsageProblem(f"{what}: {path}{origin}")
        try:
            return load_model(path, allow_pickle=allow_pickle)
        except Exception as exc:
            if origin and _is_a(exc, "learn.model", "ModelError"):
                raise UsageProblem(f"{exc}{origin}") from None
            raise
    if not os.environ.get("BATCHDIGITS_MODEL") and not default_model_path().exists():
        log(console, "building the built-in model (first run only)...", quiet)
    return get_default_model()


def open_corrections(path: Path | None, folder: Path) -> Corrections | None:
    """The corrections file for ``classify --corrections``, read and checked before any work."""
    from .run.corrections import Corrections, CorrectionsError

    if path is None:
        return None
    try:
        return Corrections.load(str(path), str(folder))
    except CorrectionsError as exc:
        raise UsageProblem(str(exc)) from None


def write_summary_json(report: Report, path: str, model: DigitModel) -> None:
    """The run's numbers for monitoring, written atomically."""
    import json

    from .run.atomic import atomic_write
    from .image.grid import GRID_VERSION

    data = report.as_dict()
    data["model_sha256"] = model.sha256
    data["grid_version"] = GRID_VERSION
    data["batchdigits_version"] = __version__
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def check_adaptable(model: DigitModel) -> None:
    """``--adapt`` needs a model that keeps its training grids; checked before any work."""
    from .learn.adapt import AdaptError, training_set

    try:
        training_set(model)
    except AdaptError as exc:
        raise UsageProblem(f"--adapt: {exc}") from None


def adapt_progress(console: Console, bar: object, quiet: bool) -> Callable[[str, int], None]:
    """``classify --adapt``'s passes on the progress bar, and one log line as each begins."""
    titles = {
        "converting": "pass 1 of 2: converting every file",
        "adapting": "adapting the model to the folder's scans",
        "classifying": "pass 2 of 2: classifying with the adapted model",
    }
    seen: set[str] = set()

    def on_phase(name: str, done: int) -> None:
        if name not in seen:
            seen.add(name)
            if bar is None:  # on a terminal the bar says it
                log(console, titles[name] + "...", quiet)
        phase = getattr(bar, "phase", None)
        if phase is not None:
            phase(name, done)

    return on_phase


def describe_adaptation(info: dict[str, object]) -> str:
    """One line saying what ``--adapt`` did."""
    if not info.get("fitted"):
        return f"not adapted ({str(info['method']).removeprefix('none: ')})"
    return (
        f"adapted to {info['grids']} grids ({info['fitted']} fitted, {info['pseudo_labels']} "
        f"pseudo-labels, {info['changed']} changed from the model's reading) by {info['method']} "
        f"in {float(info['seconds']):.1f}s"  # type: ignore[arg-type]
        + ("; no confidence above the unadapted model's" if info.get("capped") else "")
    )


def _fan_out(listeners: list[Callable[[Row], None]]) -> Callable[[Row], None] | None:
    if not listeners:
        return None

    def call_all(row: Row) -> None:
        for listener in listeners:
            listener(row)

    return call_all


@app.command(cls=Command, epilog=EPILOG)
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
    """
    from .run.classify import Settings, classify_folder
    from .entry import pause
    from .run.lock import output_lock
    from .web.review import ReviewSheet, sheet_format
    from .ui import maybe_progress

    console = stderr_console()
    with handled_errors(console, debug), ExitStack() as held:
        _interrupt_on_sigterm()
        check_range("--batch-size", batch_size, 1)
        check_range("--jobs", jobs, 0)
        check_range("--min-confidence", min_confidence, 0.0, 1.0)
        check_range("--max-pixels", max_pixels, 1)
        check_folder(folder)
        check_output(out)
        check_replaceable(out, folder, force)
        for extra in (review_sheet, summary_json):
            if extra is not None:
                check_output(extra)
                check_replaceable(extra, folder, force, csv_only=False)
        if review_sheet is not None and sheet_format(review_sheet) is None:
            raise UsageProblem(f"--review-sheet {review_sheet}: a review sheet is drawn as .png or .html")
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
        corrections = open_corrections(corrections_path, folder)
        if out != "-":  # a second run on this output is refused at once, not after the model loaded
            held.enter_context(output_lock(out))
        model = open_model(model_path, allow_pickle, console, quiet)  # the slow part, last
        if adapt:
            check_adaptable(model)
        settings = Settings(
            batch_size=batch_size, jobs=jobs, min_confidence=min_confidence, backend=backend.value,
            scheduler=scheduler, max_pixels=max_pixels,
        )
        sheet = ReviewSheet(str(folder)) if review_sheet is not None else None
        with maybe_progress(console, str(folder), recursive, not quiet) as bar:
            listeners: list[Callable[[Row], None]] = [f for f in (bar and bar.advance, sheet and sheet.add) if f]
            report = classify_folder(
                folder, out=out, model=model, recursive=recursive, settings=settings, on_row=_fan_out(listeners),
                incremental=incremental, verify_content=verify_content, corrections=corrections,
                take_lock=False, adapt=adapt, on_phase=adapt_progress(console, bar, quiet) if adapt else None,
            )
        pause("replaced")
        if sheet is not None and review_sheet is not None:
            sheet.save(review_sheet)
            log(console, f"review sheet with {sheet.count} files written to {review_sheet}", quiet)
        if report.adaptation is not None:
            log(console, describe_adaptation(report.adaptation), quiet)
        if summary_json is not None:
            write_summary_json(report, summary_json, model)
        log_block(console, report.render(), quiet)
        log(console, report.summary_line(), quiet)
        if report.stale_reviews:
            log(console, f"warning: {report.stale_reviews} corrections not applied: the file "
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
    other = f" ({report.skipped} other files skipped)" if report.skipped else ""
    log(console, f"warning: no image files found in {folder}{other}", quiet and not report.skipped)


@app.command(cls=Command)
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
    from .learn.dataset import DatasetError, from_folders, labelled_grids, read_labels, unlabelled_grids
    from .learn.model import save_model
    from .learn.train import CLASSIFIERS
    from .learn.train import train as fit
    from .learn.trainreport import render_confusion, render_holdout_parts, render_report

    console = stderr_console()
    with handled_errors(console, debug):
        if classifier.value not in CLASSIFIERS:
            raise UsageProblem(f"unknown classifier {classifier.value!r}; choose {', '.join(CLASSIFIERS)}")
        check_output(str(out))
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
                    log(console, f"{listed.not_digits} rows of {labels} labelled 'not a digit' skipped")
        except DatasetError as exc:
            raise UsageProblem(str(exc)) from None
        extra = labelled_grids(items, jobs) if items else None
        if extra is not None:
            log(console, f"{len(extra.y)} labelled scans converted, {len(extra.dropped)} left out")
            for path, reason in extra.dropped[:5]:
                log(console, f"  left out {path}: {reason}")
        if not builtin and (extra is None or len(extra.y) == 0):
            raise UsageProblem("--no-builtin needs labelled scans from --data or --labels")
        grids = None
        if unlabelled:
            grids = unlabelled_grids([str(f) for f in unlabelled], jobs)
            log(console, f"{len(grids)} unlabelled scans converted; adapting to them")
            if len(grids) < 2:
                raise UsageProblem(f"--unlabelled: {len(grids)} readable scans found; adaptation needs 2 or more")
        try:
            result = fit(
                extra.X if extra else None, extra.y if extra else None, builtin, classifier.value, augment,
                unlabelled_X=grids,
                jobs=jobs,
            )
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        save_model(result.model, out)
        report_console = Console()
        report_console.print(render_report(result.accuracy, result.report, result.n_holdout))
        report_console.print(render_confusion(result.confusion))
        report_console.print(render_holdout_parts(result))
        counts = result.model.metadata["class_counts"]
        log(console, f"trained on {sum(counts)} grids ({result.model.metadata['training_data']})")
        log(console, f"model written to {out}")


@app.command(cls=Command)
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
    debug: DebugOption = False,
) -> None:
    """Measure a model on labelled scans: accuracy, per status, reliability, per class, confusion, worst mistakes.

    Mistakes are listed by path relative to FOLDER (as the predictions CSV writes it).

    \b
    Examples:
      batchdigits evaluate my_test/
      batchdigits evaluate my_test/ --model mine.skops --json numbers.json
      batchdigits evaluate scans/ --labels scans/labels.csv
    """
    import json

    from .learn.dataset import DatasetError, from_csv, from_folders
    from .learn.evaluate import evaluate as run_evaluation
    from .learn.trainreport import render_confusion, render_mistakes, render_reliability, render_report, render_statuses

    console = stderr_console()
    with handled_errors(console, debug):
        check_folder(folder)
        check_range("--min-confidence", min_confidence, 0.0, 1.0)
        if json_path is not None:
            check_output(str(json_path))
        try:
            items = from_csv(str(labels)) if labels else from_folders(str(folder))
        except DatasetError as exc:
            raise UsageProblem(str(exc)) from None
        model = open_model(model_path, allow_pickle, console, False)
        result = run_evaluation(items, model, jobs, root=str(folder), min_confidence=min_confidence)
        out = Console()
        out.print(render_report(result.accuracy, result.report, result.n, "labelled images"))
        out.print(render_statuses(result.per_status, result.min_confidence))
        out.print(render_reliability(result.reliability, result.ece))
        out.print(render_confusion(result.confusion))
        out.print(render_mistakes(result.mistakes, result.dropped))
        if json_path is not None:
            from .run.atomic import atomic_write

            with atomic_write(str(json_path)) as fh:
                json.dump(result.as_dict(), fh, indent=2)
            log(console, f"numbers written to {json_path}")


@app.command(cls=Command)
def show(
    images: Annotated[list[Path], typer.Argument(metavar="IMAGE", help="Image files to show.")],
    model_path: ModelOption = None,
    allow_pickle: PickleOption = False,
    debug: DebugOption = False,
) -> None:
    """Print what the model sees: each image's 8x8 grid, the prediction and the top 3.

    A missing IMAGE or a folder is refused before any work (exit 2); an image
    that cannot be read gets one error line and the others are still shown
    (exit 1).

    \b
    Examples:
      batchdigits show scans/0042.png
      batchdigits show scans/00*.png --model mine.skops
    """
    import numpy as np

    from .image.convert import convert_file
    from .show import grid_panel

    console = stderr_console()
    with handled_errors(console, debug):
        check_images(images)
        model = open_model(model_path, allow_pickle, console, False)
        out = Console()
        unreadable = 0
        for image in images:
            grid, reason = convert_file(str(image))
            if reason:
                error(console, f"cannot read {image}: {reason}")
                unreadable += 1
                continue
            proba, confidence = None, None
            if grid is not None:
                flat = grid.reshape(1, 64).astype(np.float64)
                proba = model.predict_proba(flat)[0]
                confidence = float(model.predict(flat)[1][0])
            out.print(grid_panel(str(image), grid, proba, model.classes, "", confidence))
        if unreadable:
            raise typer.Exit(EXIT_FILE_ERRORS)


def check_images(images: list[Path]) -> None:
    """Every IMAGE argument must be an existing file (not a folder); all named at once."""
    problems = []
    for image in images:
        if not image.exists() and not image.is_symlink():
            problems.append(f"file not found: {image}")
        elif not image.exists():
            problems.append(f"broken symbolic link: {image}")
        elif image.is_dir():
            problems.append(f"is a folder, not an image file: {image}")
    if problems:
        raise UsageProblem("; ".join(problems))


@app.command(cls=Command)
def review(
    predictions: Annotated[Path, typer.Argument(metavar="CSV", help="A CSV written by batchdigits classify.")],
    folder: Annotated[
        Optional[Path],
        typer.Option(
            "--folder", metavar="FOLDER",
            help="Folder the CSV's paths start from. Default: the one the incremental state records.",
        ),
    ] = None,
    corrections_path: Annotated[
        Optional[Path],
        typer.Option(
            "--corrections", metavar="PATH",
            help="Where decisions are saved. Default: CSV.corrections.csv beside the CSV.",
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", metavar="N", help="Port to listen on (0 = any free port).")] = 0,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDR", help="Address to listen on; anything but loopback is reachable by others."
        ),
    ] = "127.0.0.1",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the page's address; do not open a browser.")
    ] = False,
    token_file: Annotated[
        Optional[Path],
        typer.Option(
            "--token-file", metavar="PATH",
            help="Where the page's token is kept (owner-only, 0600) so a restart on the same --port "
            "lets the open page go on. Default: .CORRECTIONS.token beside the corrections file.",
        ),
    ] = None,
    model_path: ModelOption = None,
    allow_pickle: PickleOption = False,
    debug: DebugOption = False,
) -> None:
    """Check the doubtful rows on a local web page; each decision is saved to the corrections file.

    Rows come in the order low_confidence, blank, error, then ok by rising
    confidence. Keys: a digit sets the label, Enter accepts the prediction,
    x marks "not a digit", arrows move, ? shows all keys; the page has buttons
    too. Stop with Ctrl-C (exit 0); started again with the same --port, an
    open page goes on (the token is kept, owner-only, beside the corrections).

    \b
    Examples:
      batchdigits review predictions.csv --folder scans/
      batchdigits review predictions.csv --no-browser --port 8765
    """
    from .run.corrections import CorrectionsError, default_corrections_path, read_corrections
    from .web.reviewsession import ReviewError, ReviewSession, find_folder, read_predictions
    from .web.reviewtoken import default_token_path, kept_token
    from .web.webreview import is_loopback, make_server, page_commands

    console = stderr_console()
    with handled_errors(console, debug):
        _interrupt_on_sigterm()
        check_range("--port", port, 0, 65535)
        corrections = str(corrections_path or default_corrections_path(str(predictions)))
        try:
            rows = read_predictions(str(predictions))
            where = find_folder(str(predictions), None if folder is None else str(folder))
            if os.path.exists(corrections):
                read_corrections(corrections)
        except (ReviewError, CorrectionsError) as exc:
            raise UsageProblem(str(exc)) from None
        check_output(corrections)
        model = open_model(model_path, allow_pickle, console, False)  # the slow part, last
        session = ReviewSession(rows, where, corrections, model)
        keep = str(token_file) if token_file is not None else default_token_path(corrections)
        try:
            token, replaced = kept_token(keep)
        except OSError as exc:
            raise UsageProblem(f"cannot keep the page's token in {keep}: {exc.strerror or exc}") from None
        if replaced:
            log(console, f"warning: {keep} replaced with a new token: {replaced}")
        try:
            server = make_server(session, host, port, token)
        except OSError as exc:
            raise UsageProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        server.commands = page_commands(
            str(predictions), where, corrections, server.port, host,
            None if token_file is None else str(token_file), folder_given=folder is not None,
        )
        if not is_loopback(host):
            log(console, f"warning: listening on {host}: anyone who can reach it and has the "
                "address with its token can see the scans and write corrections")
        summary = session.summary()
        try:  # a SIGTERM from here on stops the review as Ctrl-C does (exit 0)
            log(console, f"review page: {server.url}")
            log(console, f"{summary['doubtful_left']} doubtful rows left of {summary['total']}; "
                f"decisions are saved to {corrections}; Ctrl-C stops")
            if not no_browser:
                _open_browser(server.url, console)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        decided = session.summary()["decided"]
        session.close()  # a decision being saved is completed; no more are taken
        log(console, f"review stopped; {decided} decisions in {corrections}")


def _open_browser(url: str, console: Console) -> None:
    """Open ``url`` in a graphical browser if there is one, in the background."""
    import threading
    import webbrowser

    graphical = sys.platform in ("darwin", "win32") or any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY")
    )
    if not graphical:  # a console browser would take over this terminal
        log(console, "no graphical browser here: open the address above in one")
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"batchdigits {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Classify folders of scanned digit images into a CSV of predictions.

    \b
    Examples:
      batchdigits classify scans/ --out predictions.csv
      batchdigits show scans/0042.png
      batchdigits classify -h
    """


def main() -> None:
    """Console-script entry point: usage errors as one line, exit code 2."""
    from typer.exceptions import TyperException

    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="batchdigits", standalone_mode=False)
    except typer.Abort:  # an interrupt outside a command's own handling
        from .run.atomic import interrupted_message

        error(stderr_console(), interrupted_message())
        code = EXIT_INTERRUPTED
    except TyperException as exc:  # click's usage errors, vendored by typer
        shown = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(str(shown).split())
        if message:  # empty when the help was shown for a bare command
            error(stderr_console(), f"{message} (see --help)")
        code = getattr(exc, "exit_code", EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
