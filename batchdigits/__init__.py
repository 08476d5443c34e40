"""batchdigits: classify folders of scanned digit images into a CSV.

Library entry points (the CLI is a thin layer over these)::

    from batchdigits import classify_folder, image_to_grid, load_image
    report = classify_folder("scans", out="predictions.csv")

Names are imported on first use, so worker processes that only need the
image -> grid conversion do not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GRID_VERSION": "grid",
    "image_to_grid": "grid",
    "GridTransformer": "transformer",
    "ImageError": "load",
    "load_image": "load",
    "convert_file": "convert",
    "Settings": "classify",
    "classify_folder": "classify",
    "iter_rows": "classify",
    "DigitModel": "model",
    "ModelError": "model",
    "get_default_model": "model",
    "load_model": "model",
    "save_model": "model",
    "Report": "report",
    "Row": "write",
    "read_rows": "write",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'batchdigits' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
