"""batchdigits: classify folders of scanned digit images into a CSV.

Library entry points (the CLI is a thin layer over these)::

    from batchdigits import classify_folder, image_to_grid, load_image
    report = classify_folder("scans", out="predictions.csv")

Names are imported on first use, so worker processes that only need the
image -> grid conversion do not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # the one version: pyproject.toml reads it from here

if TYPE_CHECKING:  # type checkers and IDEs see the real names; at run time they load lazily
    from .run.classify import classify_folder
    from .run.pipeline import Settings, iter_rows
    from .image.convert import convert_file
    from .image.grid import GRID_VERSION, image_to_grid
    from .image.load import ImageError, load_image
    from .learn.builtin import get_default_model
    from .learn.model import DigitModel, ModelError, load_model, save_model
    from .run.report import Report
    from .image.transformer import GridTransformer
    from .run.write import Row, read_rows

_EXPORTS = {
    "GRID_VERSION": "image.grid",
    "image_to_grid": "image.grid",
    "GridTransformer": "image.transformer",
    "ImageError": "image.load",
    "load_image": "image.load",
    "convert_file": "image.convert",
    "Settings": "run.pipeline",
    "classify_folder": "run.classify",
    "iter_rows": "run.pipeline",
    "DigitModel": "learn.model",
    "ModelError": "learn.model",
    "get_default_model": "learn.builtin",
    "load_model": "learn.model",
    "save_model": "learn.model",
    "Report": "run.report",
    "Row": "run.write",
    "read_rows": "run.write",
}

# spelled out (not sorted(_EXPORTS)) so that linters and type checkers read it;
# tests/test_api.py checks that it names exactly _EXPORTS and the imports above
__all__ = [
    "GRID_VERSION",
    "DigitModel",
    "GridTransformer",
    "ImageError",
    "ModelError",
    "Report",
    "Row",
    "Settings",
    "classify_folder",
    "convert_file",
    "get_default_model",
    "image_to_grid",
    "iter_rows",
    "load_image",
    "load_model",
    "read_rows",
    "save_model",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'batchdigits' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
