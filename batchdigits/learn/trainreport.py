"""Rich tables for a classification report (accuracy, per-class P/R/F1, confusion).

Each table's title is a line of its own above it, never wrapped to the
table's width (a rich title would be: "Accuracy per status (--min-confidence"
over "0.96)").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..io.counted import counted

if TYPE_CHECKING:
    from .train import TrainResult


def _titled(title: str, table: Table, *after: Text) -> Group:
    """``table`` under ``title`` (a line of its own, in the style of a table title)."""
    return Group(Text(title, style="table.title"), table, *after)


def render_report(accuracy: float, report: dict[str, Any], n: int, what: str = "held-out images") -> Group:
    """Accuracy line ("accuracy A on N <what>") plus a per-class table like ``classification_report``."""
    table = Table()
    for name in ("class", "precision", "recall", "f1-score", "support"):
        table.add_column(name, justify="right")
    for key in [k for k in report if k.isdigit()] + ["macro avg", "weighted avg"]:
        if key not in report:
            continue
        r = report[key]
        table.add_row(
            key, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1-score']:.3f}",
            str(int(r["support"])),
        )
    head = Text(f"accuracy {accuracy:.4f} on {n} {what}")
    return Group(head, _titled("Per-class report", table))


def render_confusion(confusion: np.ndarray) -> Group:
    """Confusion matrix: rows are true digits, columns predicted digits."""
    table = Table()
    table.add_column("true", justify="right")
    for d in range(confusion.shape[1]):
        table.add_column(str(d), justify="right")
    for d, row in enumerate(confusion):
        table.add_row(str(d), *(str(int(v)) if v else "." for v in row))
    return _titled("Confusion matrix (rows: true, columns: predicted)", table)


def render_mistakes(mistakes: list[tuple[str, int, int, float]], dropped: list[tuple[str, str]]) -> Group:
    """The most confident mistakes, and files that gave no grid."""
    table = Table()
    for name in ("path", "true", "predicted", "confidence"):
        table.add_column(name, justify="left" if name == "path" else "right", overflow="fold")
    for path, true, pred, conf in mistakes:
        table.add_row(path, str(true), str(pred), f"{conf:.4f}")
    parts: list[Text] = []
    if dropped:
        were = "was" if len(dropped) == 1 else "were"
        parts.append(Text(f"{counted(len(dropped), 'file')} {were} blank or unreadable (counted as wrong)"))
    return _titled("Most confident mistakes", table, *parts)


def render_train_lead(result: TrainResult) -> Text:
    """What ``train`` says first: the accuracy on the user's own held-out scans, then on
    ``load_digits``' holdout (each alone; the tables after it count both together)."""
    adapted = " (adapted to the unlabelled scans)" if "adaptation" in result.model.metadata else ""
    lines = []
    if result.user_accuracy is not None:
        lines.append(f"accuracy on your held-out scans {result.user_accuracy:.4f} on {result.n_user_holdout} "
                     f"(20 % of your labelled scans, not trained on){adapted}")
    elif result.n_user:
        lines.append(f"accuracy on your scans: not measured ({counted(result.n_user, 'labelled scan')}; "
                     "with fewer than 5 none is held out)")
    if result.builtin_accuracy is not None:
        lines.append(f"accuracy on the load_digits holdout {result.builtin_accuracy:.4f} "
                     f"on {result.n_holdout - result.n_user_holdout}{adapted}")
    return Text("\n".join(lines))


def render_statuses(per_status: dict[str, tuple[int, float | None]], min_confidence: float) -> Group:
    """Rows per status ``classify`` would give (at ``min_confidence``) and how many of them are right."""
    table = Table()
    for name in ("status", "files", "accuracy"):
        table.add_column(name, justify="left" if name == "status" else "right")
    for status, (count, accuracy) in per_status.items():
        table.add_row(status, str(count), "-" if accuracy is None else f"{accuracy:.4f}")
    return _titled(f"Accuracy per status (--min-confidence {min_confidence:g})", table)


def render_effort(effort: Any, auroc: float | None) -> Group:
    """Review effort: rows a person checks (not-ok first, then lowest confidence) until at most
    1 / 0.5 / 0.2 / 0.1 % of all rows are still wrong, and the confidence's AUROC."""
    table = Table()
    for name in ("still wrong at most", "rows to check", "share of rows"):
        table.add_column(name, justify="right")
    for x, rows in effort.check.items():
        table.add_row(f"{x * 100:g} %", str(rows), f"{rows / max(effort.rows, 1):.3f}")
    note = (f"{effort.wrong} of {effort.rows} wrong; {effort.flagged} flagged (not ok), "
            f"{effort.silent} wrong among the ok rows")
    if auroc is not None:
        note += f"; AUROC of confidence for a right reading {auroc:.4f}"
    return _titled("Review effort (not-ok rows first, then lowest confidence first)", table, Text(note))


def render_reliability(bins: list[Any], ece: float | None) -> Group:
    """Reliability table: equal-count confidence bins, their mean confidence and accuracy."""
    table = Table()
    for name in ("bin", "files", "confidence range", "mean confidence", "accuracy", "|gap|"):
        table.add_column(name, justify="right")
    for i, b in enumerate(bins, start=1):
        table.add_row(str(i), str(b.count), f"{b.low:.4f}-{b.high:.4f}", f"{b.confidence:.4f}",
                      f"{b.accuracy:.4f}", f"{abs(b.confidence - b.accuracy):.4f}")
    note = "" if ece is None else f"ECE (mean |gap| over the bins) {ece:.4f}"
    return _titled("Reliability (files with a grid, 10 equal-count confidence bins)", table, Text(note))
