"""Rich tables for a classification report (accuracy, per-class P/R/F1, confusion)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text


def render_report(accuracy: float, report: dict[str, Any], n: int) -> Group:
    """Accuracy line plus a per-class table like ``classification_report``."""
    table = Table(title="Per-class report", title_justify="left")
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
    head = Text(f"accuracy {accuracy:.4f} on {n} held-out images")
    return Group(head, table)


def render_confusion(confusion: np.ndarray) -> Table:
    """Confusion matrix: rows are true digits, columns predicted digits."""
    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true", justify="right")
    for d in range(confusion.shape[1]):
        table.add_column(str(d), justify="right")
    for d, row in enumerate(confusion):
        table.add_row(str(d), *(str(int(v)) if v else "." for v in row))
    return table


def render_mistakes(mistakes: list[tuple[str, int, int, float]], dropped: list[tuple[str, str]]) -> Group:
    """The most confident mistakes, and files that gave no grid."""
    table = Table(title="Most confident mistakes", title_justify="left")
    for name in ("path", "true", "predicted", "confidence"):
        table.add_column(name, justify="left" if name == "path" else "right", overflow="fold")
    for path, true, pred, conf in mistakes:
        table.add_row(path, str(true), str(pred), f"{conf:.4f}")
    parts: list[Table | Text] = [table]
    if dropped:
        parts.append(Text(f"{len(dropped)} files were blank or unreadable (counted as wrong)"))
    return Group(*parts)
