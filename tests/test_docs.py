"""The examples in the modules' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import batchdigits

MODULES = sorted(  # every module of every stage, named below the package: "image.grid"
    m.name.removeprefix("batchdigits.")
    for m in pkgutil.walk_packages(batchdigits.__path__, "batchdigits.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"batchdigits.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_the_modules_with_examples_are_found():
    runnable = [n for n in MODULES if doctest.testmod(importlib.import_module(f"batchdigits.{n}")).attempted]
    assert {"image.grid", "image.rules", "image.render", "image.transformer"} <= set(runnable)
