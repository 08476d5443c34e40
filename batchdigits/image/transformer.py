"""The grid conversion as a scikit-learn transformer (kept apart from grid.py,
so that worker processes need not import scikit-learn)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

from .grid import images_to_grids

FEATURE_NAMES = np.asarray([f"pixel_{r}_{c}" for r in range(8) for c in range(8)], dtype=object)


class GridTransformer(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: grayscale images in, flat 64-value grids out.

    ``X`` is a stack of 2-D grayscale images (0..255, dark ink on light paper
    or the reverse): a 3-D array ``(n, height, width)``, a list of 2-D arrays
    of any sizes, or a 2-D array whose rows are flattened images of
    ``image_shape`` (``(height, width)``; ``None``: the most nearly square
    shape of the row's length, so ``load_digits().data``'s 64 values are
    8x8).  ``transform`` returns an ``(n, 64)`` float64 array, columns
    ``pixel_<row>_<col>`` (``get_feature_names_out``); a blank image becomes
    a row of zeros.  It learns nothing: ``fit`` only checks ``X`` (and, for a
    2-D array, records ``n_features_in_``); ``transform`` works unfitted.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> pipe = make_pipeline(GridTransformer(), SVC())   # doctest: +SKIP
    """

    def __init__(self, image_shape: tuple[int, int] | None = None) -> None:
        self.image_shape = image_shape

    def fit(self, X: Any, y: object = None) -> GridTransformer:
        """Check ``X``; returns ``self``."""
        self._images(X, reset=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``(n, 64)`` float64 grids of the images in ``X``."""
        images = self._images(X, reset=False)
        out = np.zeros((len(images), 64), dtype=np.float64)
        for i, grid in enumerate(images_to_grids(list(images))):  # converted together: fewer calls
            if grid is not None:
                out[i] = grid.ravel()
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The 64 output columns, row by row: ``pixel_0_0`` ... ``pixel_7_7``."""
        return FEATURE_NAMES.copy()

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless: there is nothing to learn

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True  # a stack of images
        tags.input_tags.two_d_array = True  # rows of flattened images
        return tags

    def _images(self, X: Any, reset: bool) -> Any:
        """The 2-D images of ``X`` (a 3-D array or a list); ValueError for anything else."""
        if not hasattr(X, "__array__") and not hasattr(X, "__len__") and hasattr(X, "__iter__"):
            X = list(X)  # a generator of images
        table = hasattr(X, "iloc") or hasattr(X, "tocsr") or hasattr(X, "format")  # pandas, sparse
        try:
            ndim = None if table else np.asarray(X).ndim
        except ValueError:  # images of different sizes
            ndim = None
        if table or ndim in (1, 2):
            # rows of flattened images, with scikit-learn's own checks and messages
            # (a 1-D X is refused there: "Reshape your data ...")
            rows = validate_data(self, X, reset=reset)
            return rows.reshape((len(rows), *self._row_shape(rows.shape[1])))
        if reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        if ndim == 3:
            return check_array(X, allow_nd=True)
        if ndim is None:
            images = [check_array(image) for image in X]
            if not images:
                raise ValueError("Found 0 images while a minimum of 1 is required")
            return images
        raise ValueError(f"expected a stack of 2-D images, got an array of {ndim} dimensions")

    def _row_shape(self, n_values: int) -> tuple[int, int]:
        if self.image_shape is not None:
            height, width = self.image_shape
            if height * width != n_values:
                raise ValueError(f"image_shape {self.image_shape} does not hold rows of {n_values} values")
            return height, width
        height = max(d for d in range(1, math.isqrt(n_values) + 1) if n_values % d == 0)
        return height, n_values // height
