"""batchdigits: classify folders of scanned digit images into a CSV.

Library entry points (the CLI is a thin layer over these)::

    from batchdigits import classify_folder, image_to_grid, load_image
    report = classify_folder("scans", out="predictions.csv")
"""

__version__ = "0.1.0"

from .classify import Settings, classify_folder, convert_file, iter_rows  # noqa: E402
from .grid import GRID_VERSION, GridTransformer, image_to_grid  # noqa: E402
from .load import ImageError, load_image  # noqa: E402
from .model import DigitModel, ModelError, get_default_model, load_model, save_model  # noqa: E402
from .report import Report  # noqa: E402
from .write import Row, read_rows  # noqa: E402

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
