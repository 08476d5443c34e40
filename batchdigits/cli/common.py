"""What every command shares: help text, common options, argument checks and error handling.

Each command lives in its own module (``classify.py``, ``train.py``, ...);
:mod:`batchdigits.cli.app` puts them together.  Only light modules are
imported here: ``--help`` and ``--version`` must not load numpy, scipy,
Pillow or scikit-learn (benchmarks/startup.py); the commands import them.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from ..exitcodes import (
    EXIT_BROKEN_PIPE, EXIT_FILE_ERRORS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, Unusable,
)
from .ui import error, log

if TYPE_CHECKING:
    from ..learn.model import DigitModel
    from ..learn.arrays import ArrayModel
    from ..learn.modelref import ModelRef

# The one source of the exit codes and environment variables each --help lists (README: "Exit codes").
EXIT_MEANINGS = {  # what a code means wherever it applies; a command may say its 0 and 1 in its own words
    EXIT_OK: "every file classified (ok, low_confidence, blank or reviewed)",
    EXIT_FILE_ERRORS: "run completed, but some files were error rows",
    EXIT_USAGE: "unusable arguments, input, output, lock, model or dask cluster (one line says which)",
    EXIT_INTERNAL: "internal error, a bug (rerun with --debug and report it)",
    EXIT_LOCKED: "another run holds the output's lock; try again later",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C/SIGTERM); the previous output is left as it was",
    EXIT_BROKEN_PIPE: "standard output closed by its reader (| head)",
}
ENVIRONMENT_MEANINGS = {
    "BATCHDIGITS_MODEL=PATH": "the model file when --model is not given",
    "XDG_CACHE_HOME": "where the built-in model is cached (default ~/.cache/batchdigits)",
    "NO_COLOR=1": "no colour, even on a terminal (any non-empty value)",
}
_MODEL_ENV = ("BATCHDIGITS_MODEL=PATH", "XDG_CACHE_HOME", "NO_COLOR=1")
# command -> (its own words for some codes, the codes it can end with, the variables it reads)
COMMAND_EXITS: dict[str | None, tuple[dict[int, str], tuple[int, ...], tuple[str, ...]]] = {
    None: ({}, (0, 1, 2, 75, 130, 141, 70), _MODEL_ENV),
    "classify": ({}, (0, 1, 2, 75, 130, 141, 70), _MODEL_ENV),
    "train": (
        {EXIT_OK: "the model was written", EXIT_USAGE: "unusable arguments, labelled scans or output",
         EXIT_INTERRUPTED: "interrupted (Ctrl-C/SIGTERM); no model was written"},
        (0, 2, 130, 141, 70), ("NO_COLOR=1",),
    ),
    "evaluate": (
        {EXIT_OK: "the model was measured", EXIT_USAGE: "unusable arguments, labelled scans or model",
         EXIT_INTERRUPTED: "interrupted (Ctrl-C/SIGTERM); nothing was written"},
        (0, 2, 130, 141, 70), _MODEL_ENV,
    ),
    "show": (
        {EXIT_OK: "every image shown", EXIT_FILE_ERRORS: "some images could not be read (one line each)",
         EXIT_USAGE: "a missing IMAGE, a folder, or an unusable model",
         EXIT_INTERRUPTED: "interrupted (Ctrl-C/SIGTERM)"},
        (0, 1, 2, 130, 141, 70), _MODEL_ENV,
    ),
    "review": (
        {EXIT_OK: "stopped with Ctrl-C or SIGTERM (every decision is saved)",
         EXIT_USAGE: "unusable CSV, folder, corrections file, model or port",
         EXIT_INTERRUPTED: "interrupted before the page was served"},
        (0, 2, 130, 70), _MODEL_ENV,
    ),
}


def epilog(command: str | None = None) -> str:
    """The end of ``command``'s --help (``None``: the top level): its exit codes and variables,
    one a line (click keeps a ``\\b`` paragraph as written)."""
    own, codes, names = COMMAND_EXITS[command]
    width = max(len(name) for name in names)
    exits = [f"  {code:<4} {own.get(code, EXIT_MEANINGS[code])}" for code in codes]
    env = [f"  {name:<{width}}  {ENVIRONMENT_MEANINGS[name]}" for name in names]
    return "\n".join(["\b", "Exit codes:", *exits, "", "\b", "Environment:", *env])


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
    from ..io.atomic import interrupted_message, replace_mark

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
    except OSError as exc:  # a file or folder the system would not let us use: its name and why
        if debug:
            raise
        error(console, os_problem(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:
        if _is_a(exc, "run.lock", "OutputLocked"):
            error(console, str(exc))
            raise typer.Exit(EXIT_LOCKED) from None
        if debug:
            raise
        if (isinstance(exc, (UsageProblem, Unusable)) or _is_a(exc, "learn.model", "ModelError")
                or _is_a(exc, "learn.relearn", "RelearnError")):
            error(console, str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        error(console, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(EXIT_INTERNAL) from None


def os_problem(exc: OSError) -> str:
    """An ``OSError`` in one line naming its file: ``no space left on device: p.csv``;
    a failed replace names its target: ``cannot replace p.csv: no such file or directory``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on device"
    else:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    if exc.filename2 is not None:
        return f"cannot replace {os.fsdecode(exc.filename2)}: {reason}"
    if isinstance(exc.filename, (str, bytes)):
        return f"{reason}: {os.fsdecode(exc.filename)}"
    return reason


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
    loaded = sys.modules.get(f"batchdigits.{module}")
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def interrupt_on_sigterm() -> None:
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
    from ..io.atomic import owned_temp

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
    from ..run.write import replace_refusal

    if out == "-" or force:
        return
    inputs = str(folder) if csv_only else None  # a review sheet may live among the scans
    reason = replace_refusal(out, inputs, csv_only)
    if reason:
        raise UsageProblem(f"{reason}; refusing to replace it (--force replaces it anyway)")


def open_model(
    path: Path | None, allow_pickle: bool, console: Console, quiet: bool, full: bool = False
) -> DigitModel | ModelRef:
    """The model named on the command line, or the built-in one.

    Validated as always; returned as a :class:`~batchdigits.learn.modelref.ModelRef`
    when its numpy form is cached (scikit-learn never imported), unless ``full``
    asks for the fitted estimators themselves (``--adapt``, ``evaluate``).
    """
    from ..learn.modelref import ModelRef, open_model_file
    from ..learn.formats import ModelError

    if path is not None:
        origin = " (from BATCHDIGITS_MODEL)" if isinstance(path, ModelFromEnv) else ""
        if not path.is_file():
            what = "model file not found" if not path.exists() else "model path is not a file"
            raise UsageProblem(f"{what}: {path}{origin}")
        try:
            model = open_model_file(path, allow_pickle=allow_pickle)
        except ModelError as exc:
            if origin:
                raise UsageProblem(f"{exc}{origin}") from None
            raise
        return model.full() if full and isinstance(model, ModelRef) else model
    from ..learn.builtin import default_model_path, default_model_ref, get_default_model

    if not os.environ.get("BATCHDIGITS_MODEL") and not default_model_path().exists():
        log(console, "building the built-in model (first run only)...", quiet)
    return get_default_model() if full else default_model_ref()


def open_predictor(path: Path | None, allow_pickle: bool, console: Console, quiet: bool) -> DigitModel | ArrayModel:
    """:func:`open_model` ready to predict: the numpy form when there is one (no scikit-learn)."""
    from ..learn.modelref import ModelRef

    model = open_model(path, allow_pickle, console, quiet)
    return model.load() if isinstance(model, ModelRef) else model


def open_full_model(path: Path | None, allow_pickle: bool, console: Console, quiet: bool) -> DigitModel:
    """:func:`open_model` with its fitted estimators (scikit-learn): to evaluate or adapt it."""
    from ..learn.modelref import ModelRef

    model = open_model(path, allow_pickle, console, quiet, full=True)
    assert not isinstance(model, ModelRef)
    return model
