"""The grid conversion as a scikit-learn transformer (kept apart from grid.py,
so that worker processes need not import scikit-learn)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .grid import image_to_grid


class GridTransformer(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: grayscale images in, flat 64-value grids out.

    ``transform`` takes an iterable of 2-D arrays (any sizes) and returns an
    ``(n, 64)`` float array; a blank image becomes a row of zeros.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> pipe = make_pipeline(GridTransformer(), SVC())   # doctest: +SKIP
    """

    def fit(self, X: Iterable[np.ndarray], y: object = None) -> GridTransformer:
        return self

    def transform(self, X: Iterable[np.ndarray]) -> np.ndarray:
        grids = [image_to_grid(img) for img in X]
        out = np.zeros((len(grids), 64), dtype=np.float64)
        for i, grid in enumerate(grids):
            if grid is not None:
                out[i] = grid.ravel()
        return out
