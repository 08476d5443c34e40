"""Plain option values without pydantic: the command line's start-up, kept short.

typer (>= 0.25) coerces every value that is not a bool flag -- defaults and
absent options included -- through a pydantic ``TypeAdapter`` it builds on
first use (``typer._coercion.build_runtime_param``): importing pydantic and
building one adapter per parameter cost ``classify`` about 0.2-0.45 s of its
start-up, whatever the parameters are declared as (``str``, ``int``,
``Path``, an enum and a ``parser=`` all take that way).  :func:`install`
gives each parameter a :class:`QuickValue` instead: it converts the plain
values (``None``, a value already of the parameter's type such as its
default, a decimal number, a path, an enum's choice) the way typer's
adapter would, and hands every other value -- anything unusual, any value
that is an error -- to typer's own coercion, built then, so results, error
messages and exit codes are typer's own (``tests/test_quick_start.py``
compares the two).
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Any

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_NOT_QUICK = object()  # "ask typer"


class QuickValue:
    """A parameter's coercion (typer's ``RuntimeParam`` interface): plain values
    converted here, everything else by typer's own coercion, built on first need."""

    def __init__(self, param: Any):
        self.param = param
        descriptor = param.type_descriptor
        self.annotation = descriptor.annotation
        self.info = descriptor.parameter_info
        self.slow: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multiple = param.multiple or param.nargs == -1
        if value is None:  # typer's RuntimeParam.coerce, before any adapter is used
            return () if multiple else None
        if multiple:
            quick = self._many(value)
        elif param.nargs == 1:
            quick = self._one(self.annotation, value, ctx)
        else:
            quick = _NOT_QUICK
        if quick is not _NOT_QUICK:
            return quick
        if self.slow is None:
            from typer._coercion import build_runtime_param

            self.slow = build_runtime_param(self.param.type_descriptor)
        return self.slow.coerce(value, param=param, ctx=ctx)

    def _many(self, value: Any) -> Any:
        args: tuple[Any, ...] = getattr(self.annotation, "__args__", ())
        if getattr(self.annotation, "__origin__", None) is not list or len(args) != 1 or not _is_path(args[0]):
            return _NOT_QUICK
        if not isinstance(value, (list, tuple)):
            return _NOT_QUICK
        items = [self._path(args[0], item) for item in value]
        return _NOT_QUICK if any(item is _NOT_QUICK for item in items) else items

    def _one(self, kind: Any, value: Any, ctx: Any) -> Any:
        info = self.info
        if info.parser is not None or getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
            return _NOT_QUICK
        if kind is str:
            return value if type(value) is str and _plain_text(value) else _NOT_QUICK
        if kind is int:
            if type(value) is int:
                return value
            return int(value) if type(value) is str and _INT.fullmatch(value) else _NOT_QUICK
        if kind is float:
            if type(value) is float:
                return value
            return float(value) if type(value) is str and _FLOAT.fullmatch(value) else _NOT_QUICK
        if isinstance(kind, type) and issubclass(kind, Enum):
            if isinstance(value, kind):
                return value
            if type(value) is not str:
                return _NOT_QUICK
            from typer._param_types import coerce_cli_choice

            try:
                return coerce_cli_choice(value, choices=list(kind), case_sensitive=info.case_sensitive, ctx=ctx)
            except ValueError:  # not a choice: typer's adapter words the error
                return _NOT_QUICK
        if _is_path(kind):
            return self._path(kind, value)
        return _NOT_QUICK

    def _path(self, kind: Any, value: Any) -> Any:
        """``Path(value)`` when typer's checks would pass it as it is; else ask typer."""
        info = self.info
        if type(value) is not str or not _plain_text(value) or not value:
            return _NOT_QUICK
        if (info.exists or info.writable or info.resolve_path or info.allow_dash or info.path_type is not None
                or not info.file_okay or not info.dir_okay):
            return _NOT_QUICK
        path = kind(value)
        try:
            os.stat(path)
        except OSError:
            return path  # need not exist: typer returns it as it is
        except ValueError:  # an embedded NUL byte
            return _NOT_QUICK
        if info.readable and not os.access(path, os.R_OK):
            return _NOT_QUICK  # typer's "is not readable"
        return path


def _is_path(kind: Any) -> bool:
    return kind is Path


def _plain_text(value: str) -> bool:
    """No lone surrogates (undecodable bytes in argv) nor NUL: those are typer's to judge."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def install(params: list[Any]) -> None:
    """Give each typer parameter that has not coerced yet a :class:`QuickValue`.

    Parameters of another kind (click's own), or a typer without this
    interface, are left as they are: typer's coercion then, as before.
    """
    for param in params:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            if param.type_descriptor.file_annotation is None:
                param._runtime_param = QuickValue(param)
