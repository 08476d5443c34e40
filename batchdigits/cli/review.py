"""``batchdigits review``: the local review page over a predictions CSV."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..io.counted import counted
from .common import (
    DebugOption, ModelOption, PickleOption, UsageProblem, check_output, check_range, handled_errors,
    interrupt_on_sigterm, open_model,
)
from .ui import log, stderr_console


def review(
    predictions: Annotated[Path, typer.Argument(metavar="CSV", help="A CSV written by batchdigits classify.")],
    folder: Annotated[
        Optional[Path],
        typer.Option(
            "--folder", metavar="FOLDER",
            help="Folder the CSV's paths start from. Default: the one classify recorded beside the CSV.",
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
    model_path: ModelOption = None,
    allow_pickle: PickleOption = False,
    debug: DebugOption = False,
) -> None:
    """Check the doubtful rows on a local web page; each decision is saved to the corrections file.

    Rows come in the order low_confidence, blank, error, then ok by rising
    confidence. Keys: a digit sets the label, Enter accepts the prediction,
    x marks "not a digit", arrows move. Stop with Ctrl-C (exit 0).

    \b
    Examples:
      batchdigits review predictions.csv --folder scans/
      batchdigits review predictions.csv --no-browser --port 8765
    """
    from ..run.corrections import CorrectionsError, default_corrections_path, read_corrections
    from ..web.reviewsession import ReviewError, ReviewSession, find_folder, read_predictions
    from ..web.webreview import is_loopback, make_server

    console = stderr_console()
    with handled_errors(console, debug):
        interrupt_on_sigterm()
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
        try:
            server = make_server(session, host, port)
        except OSError as exc:
            raise UsageProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        if not is_loopback(host):
            log(console, f"warning: listening on {host}: anyone who can reach it and has the "
                "address with its token can see the scans and write corrections")
        summary = session.summary()
        log(console, f"review page: {server.url}")
        log(console, f"{counted(summary['doubtful_left'], 'doubtful row')} left of {summary['total']}; "
            f"decisions are saved to {corrections}; Ctrl-C stops")
        if not no_browser:
            _open_browser(server.url, console)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        decided = session.summary()["decided"]
        session.close()  # a decision being saved is completed; no more are taken
        log(console, f"review stopped; {counted(decided, 'decision')} in {corrections}")


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
