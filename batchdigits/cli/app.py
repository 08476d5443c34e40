"""The ``batchdigits`` command line: the commands put together, and the console script's ``main``.

A thin layer over the library: each command is a module of its own
(:mod:`.classify`, :mod:`.train`, :mod:`.evaluate`, :mod:`.show`,
:mod:`.review`) sharing :mod:`.common`'s checks and error handling.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import __version__
from ..exitcodes import EXIT_INTERRUPTED, EXIT_USAGE
from .classify import classify
from .common import epilog
from .evaluate import evaluate
from .helpformat import CONTEXT, Command, Group
from .review import review
from .show import show
from .train import train
from .ui import error, stderr_console

app = typer.Typer(
    cls=Group,
    context_settings=CONTEXT,
    epilog=epilog(),
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer.rich_utils (rich.markdown, rich.traceback) costs 0.17 s
    no_args_is_help=True,
)

for command in (classify, train, evaluate, show, review):
    app.command(cls=Command, epilog=epilog(command.__name__))(command)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"batchdigits {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Classify folders of scanned digit images into a CSV of predictions.

    \b
    Examples:
      batchdigits classify scans/ --out predictions.csv
      batchdigits show scans/0042.png
      batchdigits classify -h
    """


def main() -> None:
    """Console-script entry point: usage errors as one line, exit code 2.

    ``batchdigits`` alone prints the whole help on stderr and exits 2: nothing was
    asked for, so it is a usage error (as click >= 8.2 and most Unix tools treat a
    missing command); ``batchdigits --help`` prints it on stdout and exits 0.
    """
    from typer.exceptions import TyperException

    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="batchdigits", standalone_mode=False)
    except typer.Abort:  # an interrupt outside a command's own handling
        from ..io.atomic import interrupted_message

        error(stderr_console(), interrupted_message())
        code = EXIT_INTERRUPTED
    except TyperException as exc:  # click's usage errors, vendored by typer
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `batchdigits`: the help as --help shows it
            typer.echo(exc.format_message(), err=True)  # on stderr: a usage error (exit 2), not asked for
            sys.exit(EXIT_USAGE)
        shown = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(str(shown).split())
        if message:  # empty when the help was shown for a bare command
            error(stderr_console(), f"{message} (see --help)")
        code = getattr(exc, "exit_code", EXIT_USAGE)
    finally:
        if "batchdigits.io.concurrency" in sys.modules:  # else no worker was started
            from ..io.concurrency import stop_workers

            stop_workers()  # idle by now: the exit need not wait for them
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
