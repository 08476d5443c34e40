"""The examples in the modules' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import batchdigits

MODULES = sorted(m.name for m in pkgutil.iter_modules(batchdigits.__path__) if m.name != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"batchdigits.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_the_modules_with_examples_are_found():
    runnable = [n for n in MODULES if doctest.testmod(importlib.import_module(f"batchdigits.{n}")).attempted]
    assert {"grid", "rules", "render", "transformer"} <= set(runnable)
