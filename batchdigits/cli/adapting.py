"""``classify --adapt`` and ``--learn`` on the command line: their checks before any work,
their progress, and the line that says what the adaptation did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from ..io.counted import counted
from .common import UsageProblem, check_output
from .ui import log

if TYPE_CHECKING:
    from ..learn.model import DigitModel
    from ..run.corrections import Corrections


def check_adaptable(model: DigitModel) -> None:
    """``--adapt`` needs a model that keeps its training grids; checked before any work."""
    from ..learn.adapt import AdaptError, training_set

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


def describe_adaptation(info: dict[str, Any]) -> str:
    """One line saying what ``--adapt`` did."""
    if not info.get("fitted"):
        return f"not adapted ({str(info['method']).removeprefix('none: ')})"
    return (
        f"adapted to {counted(info['grids'], 'grid')} ({info['fitted']} fitted, "
        f"{counted(info['pseudo_labels'], 'pseudo-label')}, {info['changed']} changed from the model's "
        f"reading) by {info['method']} in {float(info['seconds']):.1f}s"
        + ("; no confidence above the unadapted model's" if info.get("capped") else "")
    )


def learned_model(
    learn: bool, path: Path | None, corrections: Corrections | None, incremental: bool, folder: Path
) -> str | None:
    """Where ``classify --learn`` saves the refit model (checked writable), or None without ``--learn``."""
    from ..run.corrections import learned_model_path

    if not learn:
        return None
    if path is None or corrections is None:
        raise UsageProblem("--learn needs --corrections PATH: the decisions to learn from")
    if incremental:
        raise UsageProblem("--learn cannot be combined with --incremental (the refit model depends on "
                           "the whole folder); later runs: classify --incremental --model MODEL")
    if not len(corrections):
        raise UsageProblem(f"--learn: {path} has no decisions about files in {folder}")
    target = learned_model_path(str(path))
    check_output(target)
    return target
