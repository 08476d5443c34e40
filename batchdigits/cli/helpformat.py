"""How the command line's help reads: ``-h``, metavars, and the examples as written.

Typer shows each value's Python type (``<str>``, ``<bool>``, ``<list[Path]>``)
and a required argument as ``{folder}``.  The command classes here show what a
user types instead: an option's ``metavar`` (``PATH``, ``N``, ``X``), nothing
after a flag, and an argument by its metavar alone (``FOLDER``, ``IMAGE...``).
Use them as ``typer.Typer(cls=Group, context_settings=CONTEXT)`` and
``@app.command(cls=Command)``; examples go in the docstring in a ``\\b``
block, which click and typer print line by line.
"""

from __future__ import annotations

from typing import Any

import typer.core

from .quickvalues import install

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


class _Argument(typer.core.TyperArgument):
    """An argument shown by its metavar alone: ``FOLDER``, ``IMAGE...``."""

    def display_type_rich(self, ctx: Any) -> str | None:  # typer >= 0.25
        return None

    def _usage_display_name(self) -> str:  # typer >= 0.25
        return self.usage_name()

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self.usage_name()]

    def usage_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        return f"{name}..." if self.nargs != 1 else name


class _Plain:
    """Arguments by metavar, flags (``--quiet``, ``--help``) without a type; plain
    values converted without pydantic (:mod:`.quickvalues`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:  # all of them: typer adds --show-completion after __init__
            if type(param) is typer.core.TyperArgument:
                param.__class__ = _Argument
            elif _is_flag(param) and param.metavar is None:
                param.metavar = ""
        install(params)  # plain values without pydantic (see quickvalues)
        return params


def _is_flag(param: Any) -> bool:
    """An option that takes no value: a flag, or typer's --show-completion (a bool)."""
    if getattr(param, "is_flag", False):
        return True
    kind = getattr(param, "type", None)  # click's parameter type (typer < 0.25)
    if kind is not None:
        return getattr(kind, "name", "") == "boolean"
    return getattr(getattr(param, "type_descriptor", None), "annotation", None) is bool


class Command(_Plain, typer.core.TyperCommand):
    """A command whose help shows metavars, not Python types."""


class Group(_Plain, typer.core.TyperGroup):
    """The top-level group, with the same help conventions as :class:`Command`."""
