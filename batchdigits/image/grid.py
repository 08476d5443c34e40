"""Turn a grayscale digit image into an 8x8 grid of integers 0..16.

The target is the representation of scikit-learn's ``load_digits`` (UCI
optdigits): NIST's programs normalised each handwritten digit into a 32x32
binary bitmap, and the number of ink pixels in each 4x4 block gives an 8x8
grid of counts 0..16.  ``image_to_grid`` reproduces that normalisation, one
image at a time, each step one or a few OpenCV calls (compiled code made
for this field: a 64x64 scan costs a few dozen calls, not hundreds):

1. decide the ink polarity (dark on light or light on dark) and measure
   ink strength against the paper, as 8-bit levels 0..255
   (:func:`ink_strength`);
2. binarise (Otsu on the ink strength, held within 25-75 %), drop specks,
   dust, ruled lines, form boxes and dark scanner edges
   (:func:`clean_mask`, :mod:`batchdigits.image.rules`);
3. remove the slant and, in the same affine resampling, scale the ink into
   the 32x32 frame the way the NIST bitmaps are laid out: full height,
   width set by the aspect ratio but held inside the central columns
   (:func:`upright_in_box`);
4. normalise the stroke thickness so the total ink matches optdigits
   (:func:`thicken`);
5. count ink pixels in 4x4 blocks (:func:`block_counts`).

``batchdigits.image.transformer.GridTransformer`` wraps it as a scikit-learn transformer.

>>> import numpy as np
>>> img = np.full((40, 30), 255, np.uint8); img[5:35, 13:17] = 0   # a "1"
>>> grid = image_to_grid(img)
>>> grid.shape, int(grid.min()) >= 0, int(grid.max()) <= 16
((8, 8), True, True)
"""

from __future__ import annotations

import bisect
import functools

import cv2
import numpy as np

from .rules import remove_margins, remove_rules

GRID_VERSION = 6
"""Bumped whenever the conversion changes; models record the version."""

FRAME = 32
BLOCK = 4
WORK = 64  # working resolution of the normalised bitmap (FRAME * 2)
INPUT_SIDE = 64  # larger inputs are averaged down to this many px first (64-128 measured equal)
MIN_CONTRAST = 48  # below this ink-vs-paper difference (0..255) an image is blank
TARGET_INK = 313  # mean ink pixels in a 32x32 optdigits bitmap
MAX_WIDTH = 20.0  # widest ink box, in 32-px units (optdigits: ~20 for all but "1")
STRETCH = 1.0  # how much wider than its aspect ratio a narrow digit may be drawn
DESLANT = 1.0  # fraction of the measured slant that is removed
OTSU_LIMITS = (64, 191)  # the Otsu threshold is held within 25-75 % of full ink (0..255)
STRONG = 127  # ink levels above this (half of full ink) are the digit's core
LEVELS = np.arange(256, dtype=np.float64)
ZERO = np.zeros(1, dtype=np.float64)  # a scalar operand for OpenCV's arithmetic
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
TRIANGLE = np.array([1.0, 3.0, 3.0, 1.0], dtype=np.float32)  # Pillow's bilinear filter, halving
# the frame's edge rows and columns have one neighbour fewer: weighed 8/7, as 56/49 (corners 64/49), so
# that every value stays a whole number, exact in float32: equal values stay equal (ties are kept)
EDGE_WEIGHT = np.full((FRAME, FRAME), 7.0, dtype=np.float32)
EDGE_WEIGHT[[0, -1], :] = 8.0
EDGE_WEIGHT = EDGE_WEIGHT * EDGE_WEIGHT.T


def pin_threads() -> None:
    """One OpenCV thread in this process: the images are small, the parallelism is the workers'."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def image_to_grid(gray: np.ndarray) -> np.ndarray | None:
    """Convert a 2-D grayscale image to an ``(8, 8)`` ``int64`` grid 0..16.

    ``gray`` is any 2-D array of 0..255 values (uint8, or float rounded to
    8 bits).  Returns ``None`` when the image holds no ink (a blank).  An
    8x8 input is taken as a grid already (see :func:`grid_from_8x8`).

    >>> img = np.full((40, 30), 255, np.uint8); img[5:35, 13:17] = 0
    >>> image_to_grid(img)[0].tolist()      # every row: the "1" upright in the central columns
    [0, 0, 0, 16, 16, 4, 0, 0]
    >>> image_to_grid(np.full((40, 30), 255, np.uint8)) is None
    True
    """
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {gray.shape}")
    if gray.shape == (8, 8):
        return grid_from_8x8(gray)
    ink = ink_strength(shrink_to_input(as_uint8(gray)))
    if ink is None:
        return None
    mask = clean_mask(ink)
    if mask is None:
        return None
    return block_counts(thicken(upright_in_box(cv2.multiply(ink, mask))))


def as_uint8(gray: np.ndarray) -> np.ndarray:
    """``gray`` as a C-contiguous ``uint8`` array: other types rounded and clipped to 0..255, NaN as 0."""
    if gray.dtype == np.uint8:
        return np.ascontiguousarray(gray)
    values = np.nan_to_num(np.asarray(gray, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def shrink_to_input(gray: np.ndarray, side: int = INPUT_SIDE) -> np.ndarray:
    """Average (area interpolation) an image larger than ``side`` px down to it: more is wasted work.

    >>> shrink_to_input(np.zeros((300, 100), np.uint8)).shape
    (64, 21)
    """
    h, w = gray.shape
    if max(h, w) <= side:
        return gray
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def grid_from_8x8(gray: np.ndarray) -> np.ndarray:
    """Read an 8x8 image as a grid: values 0..16 as is, else scaled from 0..255.

    A grid stored dark-on-light (its border brighter than its centre) is
    inverted first.

    >>> grid_from_8x8(np.full((8, 8), 255.0))[0, :3]
    array([0, 0, 0])
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.max() <= 16:
        return np.rint(gray).astype(np.int64)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:
        gray = 255.0 - gray
    return np.clip(np.rint(gray * 16.0 / 255.0), 0, 16).astype(np.int64)


def ink_strength(gray: np.ndarray) -> np.ndarray | None:
    """Ink strength per pixel of a ``uint8`` image, as ``uint8`` 0..255 (255 = full ink); ``None`` if blank.

    The paper level is the median of the image's outer ring (a tenth of
    its shorter side): paper there even when the digit fills a tight crop,
    whose median pixel can be ink.  Ink is on whichever side of the paper
    level the extreme pixels (the 0.5 and 99.5 percentiles) reach further;
    full ink is that extreme.  A contrast under ``MIN_CONTRAST`` is a blank.

    >>> img = np.full((20, 20), 200, np.uint8); img[5:15, 9:11] = 40
    >>> ink = ink_strength(img); int(ink[0, 0]), int(ink[10, 10])
    (0, 255)
    >>> bool(ink_strength(255 - img)[10, 10] == 255)      # light ink on dark paper
    True
    """
    hist = cv2.calcHist([gray], [0], None, [256], (0, 256)).ravel()
    lo, hi = _percentiles(hist, gray.size, (0.5, 99.5))
    paper = _paper_level(gray)
    dark_ink = (paper - lo) >= (hi - paper)
    contrast = (paper - lo) if dark_ink else (hi - paper)
    if contrast < MIN_CONTRAST:
        return None
    scale = (255.0 if dark_ink else -255.0) / contrast
    table = np.clip(np.rint((paper - LEVELS) * scale), 0, 255).astype(np.uint8)
    return cv2.LUT(gray, table)


def _order_statistics(hist: np.ndarray, ranks: list[int]) -> list[float]:
    """The values at sorted positions ``ranks`` (0-based) of the pixels counted in ``hist``."""
    below = np.cumsum(hist).tolist()  # pixels at or below each level: 256 numbers, searched in Python
    return [float(bisect.bisect_right(below, rank)) for rank in ranks]


def _percentiles(hist: np.ndarray, size: int, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile`` (linear method) of the pixels counted in ``hist``."""
    last = size - 1
    pos = [q / 100.0 * last for q in qs]
    low = [int(p) for p in pos]
    stats = _order_statistics(hist, [k for i in low for k in (i, min(i + 1, last))])
    out = []
    for j, (p, i) in enumerate(zip(pos, low, strict=True)):
        a, b, t = stats[2 * j], stats[2 * j + 1], p - i
        out.append(b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's _lerp
    return out


def _paper_level(gray: np.ndarray) -> float:
    """Median of the outer ring, ``max(2, shorter side / 10)`` pixels wide."""
    h, w = gray.shape
    r = max(2, min(h, w) // 10)
    if h > 2 * r and w > 2 * r:
        ring = cv2.calcHist([gray], [0], _ring(h, w, r), [256], (0, 256)).ravel()
        size = gray.size - (h - 2 * r) * (w - 2 * r)
    else:  # a sliver: its sides overlap, counted as np.concatenate of them would
        parts = [gray[:r].ravel(), gray[-r:].ravel(), gray[r:-r, :r].ravel(), gray[r:-r, -r:].ravel()]
        ring = np.bincount(np.concatenate(parts), minlength=256)
        size = sum(p.size for p in parts)
    middle = size // 2
    lower, upper = _order_statistics(ring, [max(middle - 1, 0), middle])
    return upper if size % 2 else 0.5 * (lower + upper)


@functools.lru_cache(maxsize=4 * INPUT_SIDE * INPUT_SIDE)
def _ring(h: int, w: int, r: int) -> np.ndarray:
    """The ``uint8`` mask of an ``h`` x ``w`` image's outer ring, ``r`` px wide."""
    ring = np.ones((h, w), dtype=np.uint8)
    ring[r:-r, r:-r] = 0
    return ring


def otsu_mask(ink: np.ndarray) -> np.ndarray:
    """The ``uint8`` 0/1 mask of ``ink`` above its Otsu threshold, held within ``OTSU_LIMITS``.

    >>> ink = np.zeros((10, 10), np.uint8); ink[2:8, 4:6] = 230; ink[0, 0] = 50
    >>> int(otsu_mask(ink).sum())
    12
    """
    t, mask = cv2.threshold(ink, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    held = min(max(int(t), OTSU_LIMITS[0]), OTSU_LIMITS[1])
    if held != int(t):
        mask = cv2.threshold(ink, held, 1, cv2.THRESH_BINARY)[1]
    return mask


def clean_mask(ink: np.ndarray) -> np.ndarray | None:
    """Binarise ``ink`` (``uint8``) and keep the digit: a ``uint8`` 0/1 mask, or ``None`` if under 3 px.

    Scanner margins, ruled lines and boxes go (:mod:`batchdigits.image.rules`),
    then every 8-connected piece smaller than 8 % of the largest (and single
    pixels): specks and dust.

    >>> ink = np.zeros((30, 30), np.uint8); ink[4:26, 12:16] = 255; ink[2, 2] = 255
    >>> mask = clean_mask(ink); int(mask.sum()), int(mask[2, 2])
    (88, 0)
    """
    mask = otsu_mask(ink)
    lines = remove_margins(remove_rules(mask.view(bool)))
    mask = lines.view(np.uint8) if lines.dtype == bool else lines.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    if count > 2:  # several pieces: specks and dust go
        keep = sizes >= max(0.08 * float(sizes.max()), 2.0)
        if not keep.all():
            sizes = sizes[keep]
            mask = np.concatenate([[0], keep]).astype(np.uint8)[labels]
    return mask if int(sizes.sum()) >= 3 else None


def upright_in_box(strokes: np.ndarray) -> np.ndarray:
    """Shear the ink upright and scale it into its box of the WORK x WORK canvas: a ``uint8`` 0/1 bitmap.

    ``strokes`` is the ink strength (``uint8``) on the digit's pixels, 0
    elsewhere.  One affine resampling (bilinear) does it all: the slant is
    removed (shear by the second moments of the strong ink, above half
    strength), the ink fills the full height, and its width keeps the
    aspect ratio, capped at ``MAX_WIDTH`` of 32 columns, centred.  The
    bitmap is the resampled ink above half strength.

    >>> strokes = np.zeros((40, 30), np.uint8); strokes[5:35, 13:17] = 255
    >>> bitmap = upright_in_box(strokes)
    >>> bitmap.shape, bool(bitmap[:, 32].all()), int(bitmap[:, :24].sum())   # full height, centred
    ((64, 64), True, 0)
    """
    strong = cv2.threshold(strokes, STRONG, 0, cv2.THRESH_TOZERO)[1]
    points = cv2.findNonZero(strong)
    if points is None:
        strong, points = strokes, cv2.findNonZero(strokes)
    m = cv2.moments(strong)
    cy = m["m01"] / m["m00"]
    slope = 0.0
    if len(points) >= 3 and m["mu02"] > 0:
        slope = min(max(DESLANT * m["mu11"] / m["mu02"], -1.0), 1.0)
    points = points.reshape(-1, 2)  # (n, 1, 2) in OpenCV 4, (n, 2) in 5: (x, y) row by row
    upright = points @ np.array([1.0, -slope])  # column of each strong pixel once sheared, less slope * cy
    x0 = float(upright.min()) + slope * cy
    x1 = float(upright.max()) + slope * cy + 1.0
    y0, y1 = float(points[0, 1]), float(points[-1, 1]) + 1.0
    box_w = min(STRETCH * (x1 - x0) * WORK / (y1 - y0), MAX_WIDTH * WORK / FRAME)
    width = max(int(round(box_w)), 1)
    left = int(round((WORK - width) / 2))
    # canvas pixel centre (u, v) -> upright (x0 + (u - left) * sx, y0 + v * sy) -> input x + slope * (y - cy)
    sx, sy = (x1 - x0) / width, (y1 - y0) / WORK
    c = x0 - left * sx + slope * (y0 - cy - 0.5)
    to_input = np.array(  # as pixel indices (centres at whole numbers): shifted by half a pixel
        [[sx, slope * sy, c + 0.5 * (sx + slope * sy) - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]]
    )
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    upright_ink = cv2.warpAffine(strokes, to_input, (WORK, WORK), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    return cv2.threshold(upright_ink, STRONG, 1, cv2.THRESH_BINARY)[1]


def thicken(bitmap: np.ndarray) -> np.ndarray:
    """Grow or shrink the strokes of a WORK x WORK 0/1 bitmap evenly: the 32x32 bitmap (bool) of TARGET_INK px.

    The signed city-block distance to the strokes' edge (negative inside),
    halved with a triangle filter (weights 1 3 3 1, as Pillow's bilinear
    resize halves), and the TARGET_INK pixels deepest inside are ink.

    >>> bitmap = np.zeros((64, 64), np.uint8); bitmap[:, 30:34] = 1; bitmap[40:44, 20:44] = 1
    >>> small = thicken(bitmap); int(small.sum()), bool(small[:, 16].all())   # 313 but for ties
    (312, True)
    """
    if not cv2.countNonZero(bitmap):
        return np.zeros((FRAME, FRAME), dtype=bool)
    # one distance transform: the distance to the strokes' own edge pixels is
    # the outside distance, and the inside distance less one.  City-block
    # distance (exact with a 3x3 mask): as accurate as Euclidean here (measured)
    edge = cv2.subtract(bitmap, cv2.erode(bitmap, CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0))
    to_edge = cv2.distanceTransform(cv2.compare(edge, ZERO, cv2.CMP_EQ), cv2.DIST_L1, 3)
    signed = np.where(bitmap.view(bool), -1.0 - to_edge, to_edge)  # inside: -(depth + 1)
    filtered = cv2.sepFilter2D(signed, cv2.CV_32F, TRIANGLE, TRIANGLE, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
    small = filtered[::2, ::2] * EDGE_WEIGHT  # 392 times the mean: only the order matters
    return small < np.partition(small.ravel(), TARGET_INK)[TARGET_INK]


def block_counts(bitmap: np.ndarray) -> np.ndarray:
    """Count ink pixels of a 32x32 bitmap in 4x4 blocks: an ``(8, 8)`` ``int64`` grid 0..16.

    >>> int(block_counts(np.ones((32, 32), bool))[0, 0])
    16
    """
    b = np.asarray(bitmap).reshape(8, BLOCK, 8, BLOCK)
    return b.sum(axis=(1, 3), dtype=np.int64)
