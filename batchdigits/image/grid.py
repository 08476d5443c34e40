"""Turn a grayscale digit image into an 8x8 grid of integers 0..16.

The target is the representation of scikit-learn's ``load_digits`` (UCI
optdigits): NIST's programs normalised each handwritten digit into a 32x32
binary bitmap, and the number of ink pixels in each 4x4 block gives an 8x8
grid of counts 0..16.  ``image_to_grid`` reproduces that normalisation:

1. decide the ink polarity (dark on light or light on dark) and measure
   ink strength against the paper;
2. binarise (Otsu on the ink strength), drop specks, dust, ruled lines,
   form boxes and dark scanner edges (:mod:`batchdigits.image.rules`);
3. remove the slant and, in the same resampling, scale the ink into the
   32x32 frame the way the NIST bitmaps are laid out: full height, width
   set by the aspect ratio but held inside the central columns;
4. normalise the stroke thickness so the total ink matches optdigits;
5. count ink pixels in 4x4 blocks.

``batchdigits.image.transformer.GridTransformer`` wraps it as a scikit-learn transformer.

>>> import numpy as np
>>> img = np.full((40, 30), 255, np.uint8); img[5:35, 13:17] = 0   # a "1"
>>> grid = image_to_grid(img)
>>> grid.shape, int(grid.min()) >= 0, int(grid.max()) <= 16
((8, 8), True, True)
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from .load import shrink
from .rules import remove_margins, remove_rules

GRID_VERSION = 5
"""Bumped whenever the conversion changes; models record the version."""

FRAME = 32
BLOCK = 4
WORK = 64  # working resolution of the normalised bitmap (FRAME * 2)
INPUT_SIDE = 64  # larger inputs are averaged down to this many px first (64-128 measured equal)
MIN_CONTRAST = 48  # below this ink-vs-paper difference (0..255) an image is blank
TARGET_INK = 313.0  # mean ink pixels in a 32x32 optdigits bitmap
MAX_WIDTH = 20.0  # widest ink box, in 32-px units (optdigits: ~20 for all but "1")
STRETCH = 1.0  # how much wider than its aspect ratio a narrow digit may be drawn
DESLANT = 1.0  # fraction of the measured slant that is removed
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)
CITY_BLOCK = ndimage.generate_binary_structure(2, 1)  # the taxicab metric's structure
OTSU_CENTRES = (np.arange(64) + 0.5) / 64


def image_to_grid(gray: np.ndarray) -> np.ndarray | None:
    """Convert a 2-D grayscale image to an ``(8, 8)`` ``int64`` grid 0..16.

    ``gray`` is any 2-D array of 0..255 values (uint8 or float).  Returns
    ``None`` when the image holds no ink (a blank).  An 8x8 input is taken
    as a grid already (see :func:`grid_from_8x8`).
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {gray.shape}")
    if gray.shape == (8, 8):
        return grid_from_8x8(gray)
    gray = _shrink(gray)
    ink = ink_strength(gray)
    if ink is None:
        return None
    mask = clean_mask(ink)
    if mask is None:
        return None
    bitmap = normalise(ink, mask)
    return block_counts(bitmap)


def _shrink(gray: np.ndarray) -> np.ndarray:
    """Average large images down to at most INPUT_SIDE px: more is wasted work."""
    if max(gray.shape) <= INPUT_SIDE:
        return gray
    return np.asarray(shrink(Image.fromarray(gray, mode="F"), INPUT_SIDE))


def grid_from_8x8(gray: np.ndarray) -> np.ndarray:
    """Read an 8x8 image as a grid: values 0..16 as is, else scaled from 0..255.

    A grid stored dark-on-light (its border brighter than its centre) is
    inverted first.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.max() <= 16:
        return np.rint(gray).astype(np.int64)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255.0 - gray
    return np.clip(np.rint(gray * 16.0 / 255.0), 0, 16).astype(np.int64)


def ink_strength(gray: np.ndarray) -> np.ndarray | None:
    """Return ink strength 0..1 per pixel (1 = full ink), or ``None`` if blank.

    The paper level is the median of the image's outer ring (a tenth of
    its shorter side): paper there even when the digit fills a tight crop,
    whose median pixel can be ink.  Ink is on whichever side of the paper
    level the extreme pixels reach further.
    """
    lo, hi = _percentiles(gray, (0.5, 99.5))
    paper = _paper_level(gray)
    dark_ink = (paper - lo) >= (hi - paper)
    contrast = (paper - lo) if dark_ink else (hi - paper)
    if contrast < MIN_CONTRAST:
        return None
    diff = (paper - gray) if dark_ink else (gray - paper)
    diff *= 1.0 / contrast
    return np.clip(diff, 0.0, 1.0, out=diff)


def _paper_level(gray: np.ndarray) -> float:
    """Median of the outer ring, ``max(2, shorter side / 10)`` pixels wide."""
    r = max(2, min(gray.shape) // 10)
    ring = np.concatenate(
        [gray[:r].ravel(), gray[-r:].ravel(), gray[r:-r, :r].ravel(), gray[r:-r, -r:].ravel()]
    )
    middle = ring.size // 2
    part = np.partition(ring, [middle - 1, middle] if ring.size % 2 == 0 else [middle])
    if ring.size % 2:
        return float(part[middle])
    return 0.5 * (float(part[middle - 1]) + float(part[middle]))  # as np.median


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, qs)`` (linear method) by one partial sort: 5x faster."""
    flat = values.ravel()
    last = flat.size - 1
    pos = [q / 100.0 * last for q in qs]
    low = [int(p) for p in pos]
    part = np.partition(flat, sorted({k for i in low for k in (i, min(i + 1, last))}))
    out = []
    for p, i in zip(pos, low, strict=True):
        a, b = float(part[i]), float(part[min(i + 1, last)])
        t = p - i
        out.append(b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's _lerp
    return out


def clean_mask(ink: np.ndarray) -> np.ndarray | None:
    """Binarise ``ink`` and keep the digit: drop scanner margins, ruled lines, boxes, specks."""
    mask = remove_margins(remove_rules(ink > _otsu(ink)))
    labels, count = ndimage.label(mask, structure=EIGHT_NEIGHBOURS)
    if count <= 1:  # nothing, or one piece: nothing to drop
        return mask if mask.sum() >= 3 else None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= max(0.08 * sizes[1:].max(), 2.0)  # specks and dust go
    keep[0] = False
    mask = keep[labels]
    return mask if mask.sum() >= 3 else None


def _otsu(values: np.ndarray) -> float:
    bins = np.minimum((values * 64).astype(np.int64), 63)  # values are in [0, 1]
    hist = np.bincount(bins.ravel(), minlength=64).astype(np.float64)
    centres = OTSU_CENTRES
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1e-12)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1e-12)
    between = w0 * w1 * (mean0 - mean1) ** 2
    t = float(centres[int(np.argmax(between[:-1]))])
    return min(max(t, 0.25), 0.75)


def normalise(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return the 32x32 binary bitmap (bool) of the digit in ``mask``.

    NIST's bitmaps behind optdigits are upright, fill all 32 rows and at
    most ``MAX_WIDTH`` (20) of the 32 columns, keep the aspect ratio when
    the digit is narrower (a "1"), and hold about ``TARGET_INK`` ink pixels
    whatever the pen.
    """
    strokes = np.where(mask, ink, 0.0).astype(np.float32)
    return _thicken(_upright_in_box(strokes) > 0.5)


def _slant(ys: np.ndarray, xs: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Slope (columns per row) of the ink's principal vertical axis, and its centre row."""
    total = float(weights.sum())
    cy = float(ys @ weights) / total
    if ys.size < 3:
        return 0.0, cy
    cx = float(xs @ weights) / total
    dy = ys - cy
    var_y = float((dy * dy) @ weights) / total
    if var_y <= 0:
        return 0.0, cy
    slope = float(((xs - cx) * dy) @ weights) / total / var_y
    return float(np.clip(DESLANT * slope, -1.0, 1.0)), cy


def _upright_in_box(values: np.ndarray) -> np.ndarray:
    """Shear the ink upright and scale it into its box of the WORK x WORK canvas.

    One affine resampling does it all: the slant is removed (shear by the
    ink's second moments), the ink fills the full height, and its width
    keeps the aspect ratio, capped at ``MAX_WIDTH`` of 32 columns, centred.
    """
    ys, xs = np.nonzero(values > 0.5)
    if ys.size == 0:
        ys, xs = np.nonzero(values)
    weights = values[ys, xs].astype(np.float64)
    slope, cy = _slant(ys, xs, weights)
    upright = xs - slope * (ys - cy)  # column of each ink pixel once sheared
    x0, x1 = float(upright.min()), float(upright.max()) + 1.0
    y0, y1 = float(ys.min()), float(ys.max()) + 1.0
    scale = WORK / FRAME
    box_w = min(STRETCH * (x1 - x0) * WORK / (y1 - y0), MAX_WIDTH * scale)
    width = max(int(round(box_w)), 1)
    left = int(round((WORK - width) / 2))
    # canvas (u, v) -> upright (x0 + (u - left) * sx, y0 + v * sy) -> input x + slope * (y - cy)
    sx, sy = (x1 - x0) / width, (y1 - y0) / WORK
    cy += 0.5  # pixel centres
    coeffs = (sx, slope * sy, x0 - left * sx + slope * (y0 - cy), 0.0, sy, y0)
    img = Image.fromarray(values, mode="F")
    out = img.transform((WORK, WORK), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    return np.asarray(out)


def _thicken(strokes: np.ndarray) -> np.ndarray:
    """Grow or shrink strokes evenly: the 32x32 bitmap holding TARGET_INK pixels."""
    if not strokes.any():
        return np.zeros((FRAME, FRAME), dtype=bool)
    # one distance transform: the distance to the strokes' own edge pixels is
    # the outside distance, and the inside distance less one.  City-block
    # distance: four times cheaper than Euclidean and as accurate (measured)
    edge = strokes.copy()
    edge[1:-1, 1:-1] &= ~(strokes[:-2, 1:-1] & strokes[2:, 1:-1] & strokes[1:-1, :-2] & strokes[1:-1, 2:])
    to_edge = ndimage.distance_transform_cdt(~edge, metric=CITY_BLOCK).astype(np.float32)
    signed = np.where(strokes, -0.5 - to_edge, to_edge - 0.5)
    small = _halve(_halve(signed).T).T
    k = int(TARGET_INK)
    return small < np.partition(small.ravel(), k)[k]


def _halve(values: np.ndarray) -> np.ndarray:
    """Halve the rows with a triangle filter (weights 1 3 3 1), as Pillow's bilinear resize does."""
    odd, even = values[1::2], values[0::2]
    out = 3.0 * (even + odd)
    out[1:] += odd[:-1]
    out[:-1] += even[1:]
    out[0] *= 8.0 / 7.0  # the edge rows have one neighbour fewer
    out[-1] *= 8.0 / 7.0
    return out  # eight times the mean: only the order of the values matters


def block_counts(bitmap: np.ndarray) -> np.ndarray:
    """Count ink pixels of a 32x32 bitmap in 4x4 blocks: an (8, 8) grid 0..16."""
    b = np.asarray(bitmap, dtype=np.int64).reshape(8, BLOCK, 8, BLOCK)
    return b.sum(axis=(1, 3))
