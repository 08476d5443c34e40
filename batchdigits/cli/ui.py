"""Talking to people on stderr: consoles, log lines, the progress bar.

Data never goes here.  Without a terminal (cron) there is no animation and
no colour, and every log line starts with a timestamp; ``NO_COLOR`` is
honoured by rich.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from ..io.files import walk


def stderr_console() -> Console:
    """The console for everything that is not data."""
    return Console(stderr=True, highlight=False)


def stamped(message: str, terminal: bool) -> str:
    """``message`` with a leading timestamp when the reader is not a terminal (a log file)."""
    return message if terminal else f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}"


def log(console: Console, message: str, quiet: bool = False) -> None:
    """One line for people; timestamped when stderr is not a terminal."""
    if quiet:
        return
    if console.is_terminal:
        console.print(message, markup=False)
    else:
        console.print(stamped(message, False), markup=False, soft_wrap=True)


def log_block(console: Console, block: object, quiet: bool = False) -> None:
    """A table or other block for people; without a terminal, each of its lines is
    a timestamped log line (a cron log reads line by line)."""
    if quiet:
        return
    if console.is_terminal:
        console.print(block)
        return
    with console.capture() as captured:
        console.print(block)
    for line in captured.get().splitlines():
        if line.strip():
            log(console, line.rstrip())


def report_console() -> Console:
    """The console for a command's report on standard output (train, evaluate): without a
    terminal it is wide, so no line of the report is wrapped (print it with :func:`log_block`)."""
    import sys

    return Console(highlight=False, width=None if sys.stdout.isatty() else 1000)


def error(console: Console, message: str) -> None:
    """A one-line error, always printed (even with --quiet); timestamped like every
    other line when stderr is not a terminal."""
    line = stamped(f"batchdigits: error: {message}", console.is_terminal)
    console.print(line, markup=False, soft_wrap=True, style="red")


class ProgressBar:
    """A rich progress bar whose total is counted in a background thread."""

    def __init__(self, console: Console, folder: str, recursive: bool) -> None:
        from rich.progress import (  # only on a terminal: not imported for --help or cron
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} files/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("classifying", total=None, rate="-")
        self._start = time.monotonic()
        self._done = 0
        self._phase = "classifying"
        self._counter = threading.Thread(
            target=self._count, args=(folder, recursive), daemon=True
        )

    def _count(self, folder: str, recursive: bool) -> None:
        total = sum(1 for f in walk(folder, recursive) if f.kind != "other")
        self._progress.update(self._task, total=total)

    def advance(self, _row: object = None) -> None:
        self._done += 1
        if self._done % 16 == 0:
            rate = self._done / max(time.monotonic() - self._start, 1e-9)
            self._progress.update(self._task, completed=self._done, rate=f"{rate:.0f}")

    def phase(self, name: str, done: int = 0) -> None:
        """``classify --adapt``'s passes: a new ``name`` restarts the count; ``done`` files more."""
        if name != self._phase:
            self._phase, self._done, self._start = name, 0, time.monotonic()
            self._progress.update(self._task, description=name, completed=0, rate="-")
        if done:
            self._done += done
            rate = self._done / max(time.monotonic() - self._start, 1e-9)
            self._progress.update(self._task, completed=self._done, rate=f"{rate:.0f}")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        self._counter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


@contextmanager
def maybe_progress(
    console: Console, folder: str, recursive: bool, enabled: bool
) -> Iterator[ProgressBar | None]:
    """A progress bar on a terminal, nothing otherwise."""
    if not (enabled and console.is_terminal):
        yield None
        return
    with ProgressBar(console, folder, recursive) as bar:
        yield bar


class Steps:
    """A long job's steps on stderr, for a ``on_step(description)`` callback.

    On a terminal: a spinner with the current step and its running time, and a
    line with each step's time once it ends.  Otherwise (cron, a pipe): one
    timestamped line as each step begins, nothing animated.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._current: str | None = None
        self._started = 0.0
        self._progress = None
        if console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=console, transient=True)
            self._task = self._progress.add_task("", total=None, visible=False)

    def __call__(self, what: str) -> None:
        """``what`` begins (the step before it, if any, has ended)."""
        self._end()
        self._current, self._started = what, time.monotonic()
        if self._progress is None:
            log(self._console, what + "...")
        else:
            self._progress.reset(self._task, description=what, visible=True)

    def _end(self) -> None:
        if self._current is not None and self._progress is not None:
            seconds = time.monotonic() - self._started
            self._progress.console.print(f"{self._current}: {seconds:.1f}s", markup=False, highlight=False)
        self._current = None

    def __enter__(self) -> Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._end()
        if self._progress is not None:
            self._progress.stop()
