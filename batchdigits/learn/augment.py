"""Training-data augmentation through the real conversion.

Each ``load_digits`` grid is drawn back as a picture (:mod:`batchdigits.image.render`),
distorted the way real scans differ from NIST's bitmaps (slant, rotation,
aspect ratio, stroke width, a small elastic wobble), and converted again with
:func:`batchdigits.image.grid.images_to_grids`.  The classifier then learns what the
conversion makes of real handwriting, not only the ideal grids.  Every
grid's distortion is seeded by its index, so results do not depend on the
number of worker processes.

:func:`stroke_grids` draws new digits with the pen-stroke glyphs of
:mod:`batchdigits.learn.glyphs` (letter forms ``load_digits`` hardly has) and
converts them the same way.

>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> Xa, source = distorted_grids(X[:20], seed=0)
>>> Xa.shape, source.shape
((20, 64), (20,))
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from scipy import ndimage

from ..image.grid import images_to_grids
from ..image.render import grid_to_bitmap, grid_to_image

SIZE = 48  # drawn digit, px
PAD = 12  # room for rotation and shear
CHUNKS = 8
WIDTH_RANGE = (0.75, 1.4)  # width scale of distorted copies
BASE_SHARE = 0.4  # share of distorted "1"s drawn with a foot


def distort(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random scan-like distortion of a dark-on-white uint8 digit image.

    Rotation +-10 degrees, shear +-0.35, width x0.75..x1.4, a smooth elastic
    displacement of about 1-2 px and a stroke one pixel thinner or thicker.
    """
    img = np.pad(img.astype(np.float32), PAD, constant_values=255.0)
    n = img.shape[0]
    angle = np.deg2rad(rng.uniform(-10, 10))
    shear = rng.uniform(-0.35, 0.35)
    sx = np.exp(rng.uniform(np.log(WIDTH_RANGE[0]), np.log(WIDTH_RANGE[1])))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    inv = np.linalg.inv(rot @ np.array([[sx, shear], [0.0, 1.0]]))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - n / 2
    wobble = [ndimage.zoom(rng.normal(0, 1.5, (4, 4)), n / 4, order=1) for _ in range(2)]
    src_x = inv[0, 0] * xx + inv[0, 1] * yy + n / 2 + wobble[0]
    src_y = inv[1, 0] * xx + inv[1, 1] * yy + n / 2 + wobble[1]
    out = ndimage.map_coordinates(img, [src_y, src_x], order=1, cval=255.0)
    change = int(rng.integers(-1, 2))
    if change > 0:
        out = ndimage.grey_erosion(out, size=(2, 2))
    elif change < 0:
        out = ndimage.grey_dilation(out, size=(2, 2))
    return np.clip(out, 0, 255).astype(np.uint8)


def add_base(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a drawn "1" the foot many people write: a bar along its bottom."""
    ink = img < 128
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return img
    bottom_cols = np.flatnonzero(ink[rows[-1] - 2 : rows[-1] + 1].any(axis=0))
    centre = int(bottom_cols.mean()) if bottom_cols.size else int(cols.mean())
    half = int(rng.uniform(0.2, 0.35) * img.shape[1])
    thick = max(2, int(round((ink.sum(axis=1)[rows].mean()) * 0.6)))
    out = img.copy()
    out[rows[-1] - thick + 1 : rows[-1] + 1, max(0, centre - half) : centre + half] = 0
    return out


def distorted_grids(
    X: np.ndarray, seed: int = 0, start: int = 0, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One distorted re-conversion per grid of ``X`` (n, 64).

    Returns the new grids and, for each, the index in ``X`` (plus ``start``)
    it came from; a grid whose distortion came out blank is dropped.
    """
    images = []
    for i, grid in enumerate(np.asarray(X)):
        rng = np.random.default_rng([seed, start + i])
        img = grid_to_image(grid.reshape(8, 8), SIZE)
        if y is not None and y[i] == 1 and rng.random() < BASE_SHARE:
            img = add_base(img, rng)
        images.append(distort(img, rng))
    kept = [(start + i, g.ravel()) for i, g in enumerate(images_to_grids(images)) if g is not None]
    return (np.asarray([g for _, g in kept], np.float64).reshape(-1, 64),
            np.asarray([i for i, _ in kept], np.int64))


def distorted_parallel(
    X: np.ndarray, seed: int = 0, jobs: int = -1, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`distorted_grids` over worker processes; same result for any ``jobs``."""
    bounds = np.linspace(0, len(X), CHUNKS + 1).astype(int)
    parts = Parallel(n_jobs=jobs)(
        delayed(distorted_grids)(X[a:b], seed, a, None if y is None else y[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def shifted_grids(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each grid re-counted with its 32x32 bitmap moved by one pixel, twice:
    right and down for even indices, left and up for odd ones (as good as
    all four on the holdout, at half the training time).

    Returns the new grids and the index in ``X`` each came from.
    """
    out = []
    for i, grid in enumerate(np.asarray(X)):
        bitmap = grid_to_bitmap(grid.reshape(8, 8))
        step = 1 if i % 2 == 0 else -1
        for dy, dx in ((0, step), (step, 0)):
            moved = ndimage.shift(bitmap, (dy, dx), order=0, cval=False)
            out.append(moved.reshape(8, 4, 8, 4).sum(axis=(1, 3)).ravel())
    return np.asarray(out, np.float64).reshape(-1, 64), np.repeat(np.arange(len(X)), 2)


def stroke_grids(
    per_digit: int, seed: int = 0, start: int = 0, jobs: int = 1, distorted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pen-stroke digits of :mod:`batchdigits.learn.glyphs` through the real conversion.

    ``per_digit`` drawings of each digit (samples ``start .. start+per_digit-1``);
    sample ``k`` of digit ``d`` is drawn from ``default_rng([seed, d, k])``, so
    the result does not depend on ``jobs``.  With ``distorted`` each drawing
    is further warped by :func:`distort` (rotation, shear, width, wobble,
    stroke) before the conversion.  Returns grids ``(n, 64)``, labels and each
    drawing's letter form (its index in ``glyphs.FORMS[digit]``); a drawing
    that converts to nothing is dropped.
    """
    keys = [(d, k) for d in range(10) for k in range(start, start + per_digit)]
    bounds = np.linspace(0, len(keys), max(1, min(CHUNKS, len(keys))) + 1).astype(int)
    chunks = [keys[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if jobs == 1:
        parts = [_stroke_chunk(c, seed, distorted) for c in chunks]
    else:
        parts = Parallel(n_jobs=jobs)(delayed(_stroke_chunk)(c, seed, distorted) for c in chunks)
    grids = np.concatenate([p[0] for p in parts]).reshape(-1, 64)
    return grids, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def _stroke_chunk(
    keys: list[tuple[int, int]], seed: int, distorted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from .glyphs import FORMS, choose_form, draw_digit

    images, drawn = [], []
    for d, k in keys:
        rng = np.random.default_rng([seed, d, k])
        form = choose_form(d, rng)
        img = draw_digit(d, rng, form)
        images.append(distort(img, rng) if distorted else img)
        drawn.append((d, list(FORMS[d]).index(form)))
    out, labels, forms = [], [], []
    for grid, (d, form_number) in zip(images_to_grids(images), drawn, strict=True):  # converted together
        if grid is not None:
            out.append(grid.ravel())
            labels.append(d)
            forms.append(form_number)
    grids = np.asarray(out, np.float64).reshape(-1, 64)
    return grids, np.asarray(labels, np.int64), np.asarray(forms, np.int64)
