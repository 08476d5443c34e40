"""Show what the model sees: the 8x8 grid as shaded blocks, the prediction, the top 3.

>>> from rich.console import Console
>>> Console().print(grid_panel("scan.png", grid, proba, classes))   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def grid_text(grid: np.ndarray) -> Text:
    """Each cell as a two-digit number on a grey shade (0 = white, 16 = black)."""
    text = Text()
    for row in np.asarray(grid).reshape(8, 8):
        for value in row:
            level = int(round(255 * (1 - int(value) / 16)))
            ink = "black" if level > 110 else "white"
            text.append(f"{int(value):>3}", style=f"{ink} on rgb({level},{level},{level})")
        text.append("\n")
    return text


def top_table(proba: np.ndarray, classes: np.ndarray, k: int = 3) -> Table:
    """The ``k`` most likely digits with the classifier's scores (before calibration: they rank)."""
    table = Table(show_header=True, box=None)
    table.add_column("digit", justify="right")
    table.add_column("score", justify="right")  # the classifier's, before calibration
    for i in np.argsort(-proba, kind="stable")[:k]:
        table.add_row(str(int(classes[i])), f"{proba[i]:.4f}")
    return table


def grid_panel(
    title: str,
    grid: np.ndarray | None,
    proba: np.ndarray | None,
    classes: np.ndarray,
    error: str = "",
    confidence: float | None = None,
) -> Panel:
    """One image: its grid next to the prediction, or why there is none.

    ``confidence`` is the model's confidence (the CSV column), which can be
    lower than the top probability when the other models disagree.  The title
    (a file name) is shown as it is: no console markup or ``:emoji:`` codes read in
    it (a file name is not markup; and rich's emoji table took 20-50 ms to load).
    """
    heading = Text(title)
    if error:
        return Panel(Text(f"error: {error}"), title=heading, title_align="left")
    if grid is None or proba is None:
        return Panel(Text("blank: no ink found"), title=heading, title_align="left")
    best = int(np.argmax(proba))
    layout = Table.grid(padding=(0, 3))
    layout.add_row(
        grid_text(grid),
        Group(
            Text(f"prediction {int(classes[best])}", style="bold"),
            Text("" if confidence is None else f"confidence {confidence:.6f}"),
            top_table(proba, classes),
        ),
    )
    return Panel(layout, title=heading, title_align="left")
