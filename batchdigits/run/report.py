"""Counts of a run, its summary for people and machines, and its exit code.

Exit codes (also in ``--help`` and README):

====  =================================================================
 0    every file was classified (ok, low_confidence, blank or reviewed)
 1    the run completed, but some files could not be read (error rows)
 2    unusable arguments, unreadable folder, unwritable output, bad model
 75   another run is writing the same output (EX_TEMPFAIL); try later
 130  interrupted (Ctrl-C or SIGTERM); the previous CSV is left as it was
====  =================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .write import Row

from ..io.counted import counted
from ..exitcodes import EXIT_FILE_ERRORS, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_FILE_ERRORS", "EXIT_INTERRUPTED", "EXIT_LOCKED", "EXIT_OK", "EXIT_USAGE", "Report"]
STATUSES = ("ok", "low_confidence", "blank", "error", "reviewed")
MAX_ERRORS_SHOWN = 5


@dataclass
class Report:
    """Running totals of one classify run."""

    out: str | None = None
    model: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    per_digit: dict[int, list[float]] = field(default_factory=dict)
    skipped: int = 0
    reused: int = 0
    stale_reviews: int = 0  # corrections not applied: the file changed since it was reviewed
    adaptation: dict[str, Any] | None = None  # what classify --adapt did (adapt.Adaptation)
    errors: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    def add(self, row: Row, reused: bool = False, stale_review: bool = False) -> None:
        self.counts[row.status] += 1
        self.reused += reused
        self.stale_reviews += stale_review
        if row.label is not None and row.confidence is not None:
            entry = self.per_digit.setdefault(row.label, [0, 0.0])
            entry[0] += 1
            entry[1] += row.confidence
        if row.status == "error" and len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append((row.path, row.error))

    def skip(self, _entry: object = None) -> None:
        self.skipped += 1

    def finish(self) -> None:
        self.elapsed = time.monotonic() - self.started

    @property
    def found(self) -> int:
        return sum(self.counts.values())

    @property
    def classified(self) -> int:
        return self.counts["ok"] + self.counts["low_confidence"] + self.counts["reviewed"]

    @property
    def read(self) -> int:
        """Files read and classified in this run (found minus the rows reused unchanged)."""
        return self.found - self.reused

    @property
    def adapting(self) -> float:
        """Seconds ``classify --adapt`` spent adapting the model (0 without it)."""
        return float((self.adaptation or {}).get("seconds") or 0.0)

    @property
    def reading(self) -> float:
        """Seconds spent reading and classifying: the run's time without the adaptation."""
        return max(self.elapsed - self.adapting, 0.0)

    @property
    def rate(self) -> float:
        """Images per second over the files read in this run (reused rows cost nothing;
        the time ``--adapt`` spent adapting the model is not counted)."""
        return self.read / self.reading if self.reading > 0 else 0.0

    def exit_code(self) -> int:
        return EXIT_FILE_ERRORS if self.counts["error"] else EXIT_OK

    def summary_line(self) -> str:
        c = self.counts
        adapting = f"; adapting the model took {self.adapting:.1f}s more" if self.adaptation else ""
        return (
            f"{counted(self.found, 'image')}: {c['ok']} ok, {c['low_confidence']} low confidence, "
            f"{c['blank']} blank, {counted(c['error'], 'error')}, {c['reviewed']} reviewed; "
            f"{counted(self.skipped, 'other file')} skipped; "
            f"{counted(self.reused, 'unchanged row')} reused; "
            f"{counted(self.read, 'file')} read in {self.reading:.1f}s "
            f"({self.rate:.0f} images/s){adapting}"
        )

    def error_lines(self) -> list[str]:
        """The error rows' count and first reasons, one line each; none without errors."""
        count = self.counts["error"]
        if not count:
            return []
        first = f", the first {len(self.errors)}" if len(self.errors) < count else ""
        lines = [f"{counted(count, 'file')} could not be read (error rows in the CSV{first}):"]
        return lines + [f"  {path}: {reason}" for path, reason in self.errors]

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "classified": self.classified,
            "statuses": dict(self.counts),
            "skipped": self.skipped,
            "reused": self.reused,
            "read": self.read,
            "stale_reviews": self.stale_reviews,
            "digits": {str(d): self.per_digit.get(d, [0, 0.0])[0] for d in range(10)},
            "elapsed_seconds": round(self.elapsed, 3),
            "images_per_second": round(self.rate, 1),
            "model": self.model,
            "output": self.out,
            **({"adaptation": self.adaptation} if self.adaptation is not None else {}),
        }

    def render(self) -> Group:
        """Rich tables: per digit, totals, first errors, where the CSV went."""
        parts: list[Any] = [self._digit_table(), self._totals_table()]
        if self.errors:
            parts.append(self._error_table())
        if self.out:
            where = "standard output" if self.out == "-" else self.out
            parts.append(Text(f"CSV written to {where}"))
        return Group(*parts)

    def _digit_table(self) -> Table:
        table = Table(title="Predictions by digit", title_justify="left")
        table.add_column("digit", justify="right")
        table.add_column("count", justify="right")
        table.add_column("share", justify="right")
        table.add_column("mean confidence", justify="right")
        total = max(self.classified, 1)
        for digit in range(10):
            count, conf = self.per_digit.get(digit, [0, 0.0])
            mean = f"{conf / count:.3f}" if count else "-"
            table.add_row(str(digit), str(count), f"{100 * count / total:.1f}%", mean)
        return table

    def _totals_table(self) -> Table:
        table = Table(title="Totals", title_justify="left", show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        c = self.counts
        for name, value in (
            ("image files found", self.found),
            ("classified", self.classified),
            ("low confidence", c["low_confidence"]),
            ("blank", c["blank"]),
            ("errors", c["error"]),
            ("reviewed by a person", c["reviewed"]),
            ("reviews outdated (file changed)", self.stale_reviews),
            ("other files skipped", self.skipped),
            ("unchanged, reused", self.reused),
            ("read now", self.read),
            ("elapsed", f"{self.elapsed:.2f} s"),
            *([("of which adapting the model", f"{self.adapting:.2f} s")] if self.adaptation else []),
            ("images/s (files read)", f"{self.rate:.1f}"),
        ):
            table.add_row(name, str(value))
        return table

    def _error_table(self) -> Table:
        table = Table(title=f"First {counted(len(self.errors), 'error')}", title_justify="left")
        table.add_column("path", overflow="fold")
        table.add_column("reason", overflow="fold")
        for path, reason in self.errors:
            table.add_row(path, reason)
        return table
