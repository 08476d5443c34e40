"""``batchdigits show``: what the model sees of a few images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..exitcodes import EXIT_FILE_ERRORS
from .common import DebugOption, ModelOption, PickleOption, UsageProblem, handled_errors, open_model
from .ui import error, stderr_console


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

    from ..image.convert import convert_file
    from .gridpanel import grid_panel

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
