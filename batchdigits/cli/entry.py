"""The console script's first code: Ctrl-C and SIGTERM handled before anything heavy loads.

``main()`` installs the signal handlers, then imports the command line
(:mod:`batchdigits.cli.app`, typer, rich, ...) and runs it, so a signal in the
first moments is exit 130 with one line, never a traceback or a death by
signal.  Only the standard library is imported here.
"""

from __future__ import annotations

import signal
import sys
import time

from ..exitcodes import EXIT_INTERRUPTED
from .pause import pause

def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def install_handlers() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt (the commands turn it into exit 130)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


def main() -> None:
    """Console-script entry point."""
    install_handlers()
    try:
        pause("start")
        from .app import main as cli_main

        cli_main()
        code: str | int | None = 0
    except KeyboardInterrupt:
        message = "batchdigits: error: interrupted before any work; nothing was written"
        if not sys.stderr.isatty():  # timestamped like ui.stamped (not imported this early)
            message = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}"
        print(message, file=sys.stderr)
        code = EXIT_INTERRUPTED
    except SystemExit as exc:
        code = exc.code
    for sig in (signal.SIGINT, signal.SIGTERM):  # the answer is decided: exit with it
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)
