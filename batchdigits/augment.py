"""Training-data augmentation through the real conversion.

Each ``load_digits`` grid is drawn back as a picture (:mod:`batchdigits.render`),
distorted the way real scans differ from NIST's bitmaps (slant, rotation,
aspect ratio, stroke width, small elastic wobble), and converted again with
:func:`batchdigits.grid.image_to_grid`.  The classifier then learns what the
conversion makes of real handwriting, not only the ideal grids.

>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> Xa, ya = augment_grids(X[:20], y[:20], copies=1, seed=0)
>>> Xa.shape, ya.shape
((20, 64), (20,))
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from .grid import image_to_grid
from .render import grid_to_image

SIZE = 64


def distort(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random scan-like distortion of a dark-on-white uint8 digit image."""
    h, w = img.shape
    angle = np.deg2rad(rng.uniform(-10, 10))
    shear = rng.uniform(-0.35, 0.35)
    sx = np.exp(rng.uniform(np.log(0.75), np.log(1.4)))
    a = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a = a @ np.array([[sx, shear], [0.0, 1.0]])
    inv = np.linalg.inv(a)
    centre = np.array([w / 2, h / 2])
    pad = SIZE // 2
    out_size = (w + 2 * pad, h + 2 * pad)
    offset = centre - inv @ (centre + pad)
    coeffs = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
    warped = Image.fromarray(img).transform(
        out_size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=255
    )
    out = np.asarray(warped, dtype=np.float32)
    out = _elastic(out, rng)
    return _stroke(out, rng)


def _elastic(img: np.ndarray, rng: np.random.Generator, amount: float = 2.0) -> np.ndarray:
    shape = img.shape
    dx = ndimage.gaussian_filter(rng.standard_normal(shape), 6) * amount * 6
    dy = ndimage.gaussian_filter(rng.standard_normal(shape), 6) * amount * 6
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return ndimage.map_coordinates(img, [yy + dy, xx + dx], order=1, mode="nearest")


def _stroke(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    change = int(rng.integers(-1, 3))
    if change > 0:
        img = ndimage.grey_erosion(img, size=(change + 1, change + 1))
    elif change < 0:
        img = ndimage.grey_dilation(img, size=(2, 2))
    return np.clip(img, 0, 255).astype(np.uint8)


def augment_grids(
    X: np.ndarray, y: np.ndarray, copies: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` distorted re-conversions of every grid in ``X`` (n, 64)."""
    rng = np.random.default_rng(seed)
    out_X, out_y = [], []
    for grid, label in zip(np.asarray(X), np.asarray(y)):
        img = grid_to_image(grid.reshape(8, 8), SIZE)
        for _ in range(copies):
            converted = image_to_grid(distort(img, rng))
            if converted is not None:
                out_X.append(converted.ravel())
                out_y.append(label)
    return np.asarray(out_X, dtype=np.float64).reshape(-1, 64), np.asarray(out_y, dtype=np.int64)
