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
    interrupt_on_sigterm, open_full_model, open_predictor,
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
    no_learn: Annotated[
        bool, typer.Option("--no-learn", help="Keep the CSV's readings and order; do not refit as you go.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Check the doubtful rows on a local web page; each decision is saved to the corrections file.

    Rows come in the order low_confidence, blank, error, then ok by rising
    confidence. Keys: a digit sets the label, Enter accepts the prediction,
    x marks "not a digit", arrows move, ? shows all keys; the page has buttons
    too. Stop with Ctrl-C (exit 0); started again with the same --port, an
    open page goes on (the token is kept, owner-only, beside the corrections).

    The review learns: after every 50 decisions, or a pause of 5 s, the model
    is refit in the background with your labels, and the rows left are read
    and ranked again. When you stop, `classify FOLDER --corrections
    CORRECTIONS --learn -o final.csv` writes the final CSV.

    \b
    Examples:
      batchdigits review predictions.csv --folder scans/
      batchdigits review predictions.csv --no-browser --port 8765
    """
    from ..run.corrections import CorrectionsError, default_corrections_path, read_corrections
    from ..web.refitworker import Learning
    from ..web.reviewsession import ReviewError, ReviewSession, find_folder, read_predictions
    from ..web.reviewtoken import default_token_path, kept_token
    from ..web.webreview import is_loopback, make_server, page_commands

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
        # the slow part, last; learning refits the estimators (scikit-learn), a plain review reads with numpy
        opener = open_predictor if no_learn else open_full_model
        model = opener(model_path, allow_pickle, console, False)
        session = ReviewSession(rows, where, corrections, model, None if no_learn else Learning())
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
            log(console, f"{counted(summary['doubtful_left'], 'doubtful row')} left of {summary['total']}; "
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
        log(console, f"review stopped; {counted(decided, 'decision')} in {corrections}")
        if decided:
            log(console, f"the final CSV: batchdigits classify {where} --corrections {corrections} "
                "--learn --out final.csv")


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
