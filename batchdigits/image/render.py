"""Draw an 8x8 grid back as a picture: the inverse of the grid conversion.

``grid_to_bitmap(grid)`` makes a 32x32 binary bitmap whose 4x4 block counts
are exactly ``grid`` (ink placed where a smooth upsampling of the grid is
strongest), and ``grid_to_image(grid, size)`` draws it as a smooth
grayscale digit, dark ink on white paper.  Used for data augmentation, for
tests of the conversion (a drawn grid converts back to nearly itself) and
to show users what the model sees.

>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> grid = load_digits().images[0].astype(int)
>>> bitmap = grid_to_bitmap(grid)
>>> bool((bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)) == grid).all())
True
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage


def grid_to_bitmap(grid: np.ndarray) -> np.ndarray:
    """A 32x32 bool bitmap whose 4x4 block counts equal ``grid`` (8x8, 0..16)."""
    grid = np.clip(np.asarray(grid, dtype=np.int64).reshape(8, 8), 0, 16)
    smooth = ndimage.zoom(grid.astype(np.float64), 4, order=3, mode="nearest")
    smooth = smooth + 1e-6 * np.random.default_rng(0).random(smooth.shape)  # break ties
    blocks = smooth.reshape(8, 4, 8, 4).transpose(0, 2, 1, 3).reshape(8, 8, 16)
    ranks = np.argsort(np.argsort(-blocks, axis=2), axis=2)
    on = ranks < grid[:, :, None]
    return on.reshape(8, 8, 4, 4).transpose(0, 2, 1, 3).reshape(32, 32)


def grid_to_image(grid: np.ndarray, size: int = 64, blur: float = 0.6) -> np.ndarray:
    """Draw ``grid`` as a ``size`` x ``size`` uint8 image, dark ink on white."""
    bitmap = grid_to_bitmap(grid).astype(np.float32)
    big = np.asarray(Image.fromarray(bitmap, mode="F").resize((size, size), Image.Resampling.BICUBIC))
    soft = ndimage.gaussian_filter(big, blur * size / 32)
    ink = np.clip((soft - 0.5) * 4 + 0.5, 0.0, 1.0)
    return np.rint(255 * (1.0 - ink)).astype(np.uint8)
