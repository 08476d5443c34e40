"""Turn a grayscale digit image into an 8x8 grid of integers 0..16.

The target is the representation of scikit-learn's ``load_digits`` (UCI
optdigits): NIST's programs normalised each handwritten digit into a 32x32
binary bitmap, and the number of ink pixels in each 4x4 block gives an 8x8
grid of counts 0..16.  ``images_to_grids`` reproduces that normalisation for
a batch of images (``image_to_grid`` is the batch of one), in five steps:

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

How a batch is computed (the cost of a 64 px image is the number of calls
made for it more than its pixels): every image of the batch sits at the top
left of its own square tile of one mosaic, the tiles stacked in a column
with at least two zero rows and columns after each image (:class:`Tiles`).
Neighbourhood operations (the rules' dilation, connected components,
erosion, the triangle filter and its halving) run once on the whole mosaic: the zeros
between the images are what OpenCV's constant border reads, so nothing
leaks between tiles.  So do the per-image counts: the histograms of the
values and of each image's outer ring (one two-dimensional ``calcHist`` of
value and tile label, :func:`_histograms`), the rows' ink and ends (sums
and maxima of each mosaic row, :func:`_row_ends`).  The per-image numbers
(percentiles, paper level, the tables, the box and shear from the moments)
are vectorised over the batch, and so are the form-line and
margin rules' cheap tests (:func:`~batchdigits.image.rules.may_hold_lines`,
:func:`~batchdigits.image.rules.may_hold_margins`) and the form-line rules
themselves on the images the tests let through, on a mosaic of those
(:func:`~batchdigits.image.rules.remove_stacked_rules`).  Left per image are the
calls whose answer depends on the image as a whole and would change if
shared: the LUT, Otsu's threshold (its call writes the image's mask), the
moments (OpenCV's central moments
are not reproducible bit for bit from sums), the affine resampling (OpenCV
5 samples at float32 positions: the same image at another place in a
mosaic would be sampled a little differently) and the distance transform
(on a mosaic, distances would reach other tiles' strokes); and the margin
rule's own work on the images its test lets through (ink on the image's
edge).  The steps' functions below are each the batch of
one, so there is one conversion, and a batch's grids are exactly its
images' grids alone (``tests/test_batch_conversion.py``).

``batchdigits.image.transformer.GridTransformer`` wraps it as a scikit-learn transformer.

>>> import numpy as np
>>> img = np.full((40, 30), 255, np.uint8); img[5:35, 13:17] = 0   # a "1"
>>> grid = image_to_grid(img)
>>> grid.shape, int(grid.min()) >= 0, int(grid.max()) <= 16
((8, 8), True, True)
>>> [g is None for g in images_to_grids([img, np.full((9, 9), 255, np.uint8)])]
[False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .rules import may_hold_lines, may_hold_margins, remove_found_margins, remove_stacked_rules

from .marks import GRID_VERSION  # noqa: F401  # bump it there when the conversion changes (light to import)

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
MINUS_ONE = np.full(1, -1.0)  # a scalar operand for OpenCV's arithmetic
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
TRIANGLE = np.array([1.0, 3.0, 3.0, 1.0], dtype=np.float32)  # Pillow's bilinear filter, halving
HALF_TRIANGLE = np.array([1.0, 2.0, 1.0], dtype=np.float32)  # TRIANGLE is it convolved with 1 1
# the frame's edge rows and columns have one neighbour fewer: weighed 8/7, as 56/49 (corners 64/49), so
# that every value stays a whole number, exact in float32: equal values stay equal (ties are kept)
EDGE_WEIGHT = np.full((FRAME, FRAME), 7.0, dtype=np.float32)
EDGE_WEIGHT[[0, -1], :] = 8.0
EDGE_WEIGHT = EDGE_WEIGHT * EDGE_WEIGHT.T
BATCH = 256  # images per mosaic: larger gains nothing and leaves the caches


def pin_threads() -> None:
    """One OpenCV thread in this process: the images are small, the parallelism is the workers'."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def image_to_grid(gray: np.ndarray) -> np.ndarray | None:
    """Convert a 2-D grayscale image to an ``(8, 8)`` ``int64`` grid 0..16.

    ``gray`` is any 2-D array of 0..255 values (uint8, or float rounded to
    8 bits).  Returns ``None`` when the image holds no ink (a blank).  An
    8x8 input is taken as a grid already (see :func:`grid_from_8x8`).  The
    batch of one of :func:`images_to_grids`.

    >>> img = np.full((40, 30), 255, np.uint8); img[5:35, 13:17] = 0
    >>> image_to_grid(img)[0].tolist()      # every row: the "1" upright in the central columns
    [0, 0, 0, 16, 16, 4, 0, 0]
    >>> image_to_grid(np.full((40, 30), 255, np.uint8)) is None
    True
    """
    return images_to_grids([gray])[0]


def images_to_grids(grays: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """:func:`image_to_grid` of every image in ``grays``, computed together: the same grids, fewer calls.

    Raises ``ValueError`` for an image that is not 2-D (or has no pixels).

    >>> one = np.full((40, 30), 255, np.uint8); one[5:35, 13:17] = 0
    >>> [int(g[0, 3]) for g in images_to_grids([one, 255 - one])]     # both polarities
    [16, 16]
    """
    out: list[np.ndarray | None] = [None] * len(grays)
    todo: list[tuple[int, np.ndarray]] = []
    for i, gray in enumerate(grays):
        gray = np.asarray(gray)
        if gray.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale array, got shape {gray.shape}")
        if gray.size == 0:
            raise ValueError(f"expected an image with pixels, got shape {gray.shape}")
        if gray.shape == (8, 8):
            out[i] = grid_from_8x8(gray)
        else:
            todo.append((i, shrink_to_input(as_uint8(gray))))
    for start in range(0, len(todo), BATCH):
        part = todo[start : start + BATCH]
        for (i, _), grid in zip(part, _grids([image for _, image in part]), strict=True):
            out[i] = grid
    return out


def _grids(images: list[np.ndarray]) -> list[np.ndarray | None]:
    """Steps 1-5 on ``uint8`` images of at most ``INPUT_SIDE`` px a side, together."""
    ink = _ink_strength(Tiles.of(images))
    mask = _clean_mask(ink)
    bitmap = _upright_in_box(mask.like(cv2.multiply(ink.mosaic, mask.mosaic)))
    counts = block_counts(_thicken(bitmap))
    return [counts[i] if alive else None for i, alive in enumerate(bitmap.alive)]


@dataclass
class Tiles:
    """A batch of images, each at the top left of its own square tile of one mosaic.

    ``stack`` is ``(n, side, side)``, ``side`` two more than the largest
    image side or ``WORK``; ``mosaic`` is the same memory as one
    ``(n * side, side)`` image; ``shapes`` the images' ``(height, width)``;
    ``alive`` is False for an image found blank by a step.
    """

    stack: np.ndarray
    shapes: np.ndarray
    alive: np.ndarray

    @classmethod
    def empty(cls, shapes: np.ndarray, side: int, dtype: type = np.uint8) -> Tiles:
        stack: np.ndarray = np.zeros((len(shapes), side, side), dtype=dtype)
        return cls(stack, shapes, np.ones(len(shapes), dtype=bool))

    @classmethod
    def of(cls, images: Sequence[np.ndarray]) -> Tiles:
        """``uint8`` images laid out in tiles."""
        shapes = np.array([image.shape for image in images], dtype=np.int64).reshape(-1, 2)
        tiles = cls.empty(shapes, int(max(shapes.max(initial=0), WORK)) + 2)
        for tile, image in zip(tiles.stack, images, strict=True):
            tile[: image.shape[0], : image.shape[1]] = image
        return tiles

    @property
    def side(self) -> int:
        return int(self.stack.shape[1])

    @property
    def mosaic(self) -> np.ndarray:
        return self.stack.reshape(-1, self.side)

    def like(self, mosaic: np.ndarray) -> Tiles:
        """Other tiles (a mosaic of the same layout) with these shapes and this ``alive``."""
        return Tiles(mosaic.reshape(-1, self.side, self.side), self.shapes, self.alive.copy())

    def image(self, i: int | np.integer) -> np.ndarray:
        """Image ``i`` (a view)."""
        h, w = self.shapes[i]
        return self.stack[i, :h, :w]

    def images(self) -> list[np.ndarray]:
        """Every image (views)."""
        return [tile[:h, :w] for tile, (h, w) in zip(self.stack, self.shapes.tolist(), strict=True)]


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


# ---------------------------------------------------------------------------
# 1. ink strength
# ---------------------------------------------------------------------------


def ink_strength(gray: np.ndarray) -> np.ndarray | None:
    """Ink strength per pixel of a ``uint8`` image, as ``uint8`` 0..255 (255 = full ink); ``None`` if blank.

    The paper level is the median of the image's outer ring (a tenth of
    its shorter side): paper there even when the digit fills a tight crop,
    whose median pixel can be ink.  Ink is on whichever side of the paper
    level the extreme pixels (the 0.5 and 99.5 percentiles) reach further;
    full ink is that extreme.  A contrast under ``MIN_CONTRAST`` is a blank.
    (At most ``INPUT_SIDE`` px a side: see :func:`shrink_to_input`.)

    >>> img = np.full((20, 20), 200, np.uint8); img[5:15, 9:11] = 40
    >>> ink = ink_strength(img); int(ink[0, 0]), int(ink[10, 10])
    (0, 255)
    >>> bool(ink_strength(255 - img)[10, 10] == 255)      # light ink on dark paper
    True
    """
    ink = _ink_strength(Tiles.of([gray]))
    return ink.image(0).copy() if ink.alive[0] else None


def _ink_strength(grays: Tiles) -> Tiles:
    """:func:`ink_strength` of every image: the histograms by one ``calcHist`` a 128 tiles, the rest vectorised."""
    images = grays.images()
    hist, ring = _histograms(grays)
    sizes = grays.shapes[:, 0] * grays.shapes[:, 1]
    lo, hi = _percentiles(hist, sizes, (0.5, 99.5))
    paper = _paper_levels(ring)
    dark_ink = (paper - lo) >= (hi - paper)
    contrast = np.where(dark_ink, paper - lo, hi - paper)
    ink = Tiles.empty(grays.shapes, grays.side)
    ink.alive = contrast >= MIN_CONTRAST
    scale = np.where(dark_ink, 255.0, -255.0) / np.where(ink.alive, contrast, 1.0)
    tables = np.clip(np.rint((paper[:, None] - LEVELS) * scale[:, None]), 0, 255).astype(np.uint8)
    inks = ink.images()
    for i in np.flatnonzero(ink.alive).tolist():
        cv2.LUT(images[i], tables[i], dst=inks[i])
    return ink


GROUP = 128  # tiles a histogram call: a tile's label is its place in the group, plus GROUP on its ring
_labels: dict[int, np.ndarray] = {}  # side -> the places in a group of tiles (the mosaic's rows of GROUP tiles)


def _histograms(grays: Tiles) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 256)`` counts of each image's values, and of its outer ring's (see :func:`_paper_levels`).

    One 2-D ``calcHist`` a group of 128 tiles, of the value and a label: the tile's place in the group,
    plus 128 on the image's ring; the padding, counted as value 0, is taken off.  About 16 us an image
    against 62 us for ``bincount`` of the values keyed by image and of the ring's slices (measured, 256
    small scans, load 6).  Counts are exact (float32) below 2**24 pixels a tile; larger tiles, and images under 4 px a
    side (whose ring's slices overlap, each counted), are counted by ``bincount``.
    """
    n, side = len(grays.shapes), grays.side
    if side * side >= 2**24:
        return _histograms_by_bincount(grays.images())
    places = _labels.get(side)
    if places is None:
        tiles = GROUP if side <= WORK + 2 else min(n, GROUP)  # kept for the batches' side only
        places = np.repeat(np.arange(tiles, dtype=np.uint8), side * side).reshape(-1, side)
        if side <= WORK + 2:
            _labels[side] = places
    rings = _rings(grays.shapes, side).reshape(-1, side)
    hist, ring = np.empty((n, 256), np.int64), np.empty((n, 256), np.int64)
    for start in range(0, n, GROUP):
        m = min(GROUP, n - start)
        rows = slice(start * side, (start + m) * side)
        label = cv2.add(rings[rows], places[: m * side])
        both = cv2.calcHist([grays.mosaic[rows], label], [0, 1], None, [256, 2 * GROUP], [0, 256, 0, 2 * GROUP])
        ring[start : start + m] = both[:, GROUP : GROUP + m].T
        hist[start : start + m] = both[:, :m].T + ring[start : start + m]
    hist[:, 0] -= side * side - grays.shapes[:, 0] * grays.shapes[:, 1]
    slivers = np.flatnonzero(grays.shapes.min(axis=1) < 4).tolist()
    if slivers:
        images = grays.images()
        ring[slivers] = _histograms_by_bincount([images[i] for i in slivers])[1]
    return hist, ring


def _rings(shapes: np.ndarray, side: int) -> np.ndarray:
    """``(n, side, side)`` ``uint8``: GROUP on the outer ring of each image (at the top left of its tile), else 0.

    The ring's rows across the image's columns, and its columns down the image's rows (broadcast: no
    template an image shape).
    """
    h, w = shapes[:, 0:1], shapes[:, 1:2]
    r = np.maximum(2, np.minimum(h, w) // 10)
    y = np.arange(side)
    in_rows, in_cols = y < h, y < w
    ring_rows = np.where(in_rows & ((y < r) | (y >= h - r)), np.uint8(GROUP), np.uint8(0))
    ring_cols = np.where(in_cols & ((y < r) | (y >= w - r)), np.uint8(GROUP), np.uint8(0))
    out = ring_rows[:, :, None] & np.where(in_cols, np.uint8(255), np.uint8(0))[:, None, :]
    out |= ring_cols[:, None, :] & np.where(in_rows, np.uint8(255), np.uint8(0))[:, :, None]
    return out


def _ring_parts(gray: np.ndarray) -> list[np.ndarray]:
    """The outer ring of ``gray``, ``max(2, shorter side / 10)`` pixels wide, as four slices (views).

    Under 4 px a side, the slices overlap.
    """
    r = max(2, min(gray.shape) // 10)
    return [gray[:r], gray[-r:], gray[r:-r, :r], gray[r:-r, -r:]]


def _histograms_by_bincount(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_histograms` of these images by one ``bincount`` each (the ring: its slices, each counted)."""
    hist = np.stack([np.bincount(image.ravel(), minlength=256) for image in images])
    ring = np.stack([sum(np.bincount(p.ravel(), minlength=256) for p in _ring_parts(image)) for image in images])
    return hist.astype(np.int64), ring.astype(np.int64)


def _order_statistics(hist: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per row, the values at sorted positions ``ranks`` (0-based, ``(n, k)``) of the pixels counted in ``hist``."""
    below = np.cumsum(hist, axis=1)  # pixels at or below each level
    return (below[:, None, :] <= ranks[:, :, None]).sum(axis=2).astype(np.float64)


def _percentiles(hist: np.ndarray, sizes: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """``np.percentile`` (linear method) of the pixels counted in each row of ``hist``."""
    last = sizes - 1
    pos = np.stack([q / 100.0 * last for q in qs], axis=1)
    low = pos.astype(np.int64)
    stats = _order_statistics(hist, np.concatenate([low, np.minimum(low + 1, last[:, None])], axis=1))
    a, b, t = stats[:, : len(qs)], stats[:, len(qs) :], pos - low
    out = np.where(t >= 0.5, b - (b - a) * (1.0 - t), a + (b - a) * t)  # numpy's _lerp
    return list(out.T)


def _paper_levels(ring: np.ndarray) -> np.ndarray:
    """Median of each image's outer ring (``max(2, shorter side / 10)`` pixels wide), from its histogram."""
    size = ring.sum(axis=1)
    middle = size // 2
    stats = _order_statistics(ring, np.stack([np.maximum(middle - 1, 0), middle], axis=1))
    return np.where(size % 2 == 1, stats[:, 1], 0.5 * (stats[:, 0] + stats[:, 1]))


# ---------------------------------------------------------------------------
# 2. the digit's mask
# ---------------------------------------------------------------------------


def otsu_mask(ink: np.ndarray) -> np.ndarray:
    """The ``uint8`` 0/1 mask of ``ink`` above its Otsu threshold, held within ``OTSU_LIMITS``.

    >>> ink = np.zeros((10, 10), np.uint8); ink[2:8, 4:6] = 230; ink[0, 0] = 50
    >>> int(otsu_mask(ink).sum())
    12
    """
    return (ink > _otsu_level(ink)).view(np.uint8)


def _otsu_level(ink: np.ndarray) -> int:
    """Otsu's threshold of ``ink``, held within ``OTSU_LIMITS``: the mask is ``ink > level``."""
    return _held(cv2.threshold(ink, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[0])


def _held(level: float) -> int:
    """An Otsu threshold held within ``OTSU_LIMITS``."""
    return min(max(int(level), OTSU_LIMITS[0]), OTSU_LIMITS[1])


def clean_mask(ink: np.ndarray) -> np.ndarray | None:
    """Binarise ``ink`` (``uint8``) and keep the digit: a ``uint8`` 0/1 mask, or ``None`` if under 3 px.

    Scanner margins, ruled lines and boxes go (:mod:`batchdigits.image.rules`),
    then every 8-connected piece smaller than 8 % of the largest (and single
    pixels): specks and dust.

    >>> ink = np.zeros((30, 30), np.uint8); ink[4:26, 12:16] = 255; ink[2, 2] = 255
    >>> mask = clean_mask(ink); int(mask.sum()), int(mask[2, 2])
    (88, 0)
    """
    mask = _clean_mask(Tiles.of([ink]))
    return mask.image(0).copy() if mask.alive[0] else None


def _clean_mask(ink: Tiles) -> Tiles:
    """:func:`clean_mask` of every live image: one dilation and one labelling on the mosaic."""
    n = len(ink.shapes)
    mask = ink.like(np.zeros_like(ink.stack))  # a dead image: nothing above it
    inks, masks = ink.images(), mask.images()
    for i in np.flatnonzero(ink.alive).tolist():  # Otsu's call writes the mask, unless its level is held
        level = cv2.threshold(inks[i], 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU, dst=masks[i])[0]
        if level < OTSU_LIMITS[0] or level > OTSU_LIMITS[1]:
            cv2.threshold(inks[i], _held(level), 1, cv2.THRESH_BINARY, dst=masks[i])
    # the rules' cheap tests on every image at once; only those passing them go through the rules
    remove_stacked_rules(mask.stack, mask.shapes, np.flatnonzero(may_hold_lines(mask.stack, mask.shapes) & mask.alive))
    edged, strips = may_hold_margins(mask.stack, mask.shapes)
    for i in np.flatnonzero(edged & mask.alive).tolist():
        masks[i][:] = remove_found_margins(masks[i].view(bool), strips[i])
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        mask.mosaic, 8, cv2.CV_32S, cv2.CCL_BBDT)  # on a mosaic: 2.5x quicker than Grana's
    sizes = stats[1:, cv2.CC_STAT_AREA]
    owner = (stats[1:, cv2.CC_STAT_TOP] // mask.side).astype(np.intp)
    pieces = np.bincount(owner, minlength=n)
    largest = np.zeros(n, dtype=sizes.dtype)
    np.maximum.at(largest, owner, sizes)
    # several pieces: specks and dust go
    keep = (pieces[owner] < 2) | (sizes >= np.maximum(0.08 * largest[owner].astype(np.float64), 2.0))
    kept = np.concatenate([[0], keep]).astype(np.uint8)
    for i in np.unique(owner[~keep]):
        mask.stack[i] = kept[labels[i * mask.side : (i + 1) * mask.side]]
    mask.alive &= np.bincount(owner, weights=sizes * keep, minlength=n) >= 3
    return mask


# ---------------------------------------------------------------------------
# 3. upright in the box
# ---------------------------------------------------------------------------


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
    return _upright_in_box(Tiles.of([strokes])).stack[0, :WORK, :WORK].copy()


def _upright_in_box(strokes: Tiles) -> Tiles:
    """:func:`upright_in_box` of every live image (with ink): the box and shear vectorised, one warp each."""
    n = len(strokes.shapes)
    inked = strokes.like(cv2.threshold(strokes.mosaic, STRONG, 255, cv2.THRESH_BINARY)[1])  # 255 on strong ink
    strong = strokes.like(cv2.bitwise_and(strokes.mosaic, inked.mosaic))
    pixels, first, last = _row_ends(inked)  # per row: strong pixels, first and last column holding one
    count = pixels.sum(axis=1)
    for i in np.flatnonzero(strokes.alive & (count == 0)).tolist():  # no strong ink: all of it
        strong.stack[i] = strokes.stack[i]
        nz = strokes.stack[i] != 0
        pixels[i], first[i] = nz.sum(axis=1), np.argmax(nz, axis=1)
        last[i] = strokes.side - 1 - np.argmax(nz[:, ::-1], axis=1)
        count[i] = pixels[i].sum()
    present = pixels > 0  # (n, side): the rows holding strong ink
    live = np.flatnonzero(strokes.alive & (count > 0)).tolist()
    shapes = strokes.shapes.tolist()
    m00, m01, mu11, mu02 = np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for i in live:
        h, w = shapes[i]
        m = cv2.moments(strong.stack[i, :h, :w])
        m00[i], m01[i], mu11[i], mu02[i] = m["m00"], m["m01"], m["mu11"], m["mu02"]
    cy = m01 / m00
    slope = np.where((count >= 3) & (mu02 > 0), np.clip(DESLANT * mu11 / np.where(mu02 > 0, mu02, 1.0), -1.0, 1.0),
                     0.0)
    # the strong pixels' columns once sheared, less slope * cy (x - slope * y): per row, its first and last
    y = np.arange(strong.side, dtype=np.float64)
    shift = y * -slope[:, None]
    left_x = np.where(present, first + shift, np.inf).min(axis=1)
    right_x = np.where(present, last + shift, -np.inf).max(axis=1)
    y0 = np.argmax(present, axis=1).astype(np.float64)
    y1 = strong.side - np.argmax(present[:, ::-1], axis=1).astype(np.float64)
    x0 = left_x + slope * cy
    x1 = right_x + slope * cy + 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # the dead images' rows
        box_w = np.minimum(STRETCH * (x1 - x0) * WORK / (y1 - y0), MAX_WIDTH * WORK / FRAME)
        width = np.maximum(np.rint(np.nan_to_num(box_w)), 1.0)
        left = np.rint((WORK - width) / 2)
        # canvas pixel centre (u, v) -> upright (x0 + (u - left) * sx, y0 + v * sy) -> input x + slope * (y - cy)
        sx, sy = (x1 - x0) / width, (y1 - y0) / WORK
        c = x0 - left * sx + slope * (y0 - cy - 0.5)
        to_input = np.zeros((n, 2, 3))  # as pixel indices (centres at whole numbers): shifted by half a pixel
        to_input[:, 0] = np.stack([sx, slope * sy, c + 0.5 * (sx + slope * sy) - 0.5], axis=1)
        to_input[:, 1] = np.stack([np.zeros(n), sy, y0 + 0.5 * sy - 0.5], axis=1)
    upright = Tiles.empty(strokes.shapes, strokes.side)
    upright.alive = strokes.alive.copy()
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i in live:
        h, w = shapes[i]
        cv2.warpAffine(strokes.stack[i, :h, :w], to_input[i], (WORK, WORK), dst=upright.stack[i, :WORK, :WORK],
                       flags=flags, borderMode=cv2.BORDER_CONSTANT)
    upright.shapes = np.full_like(strokes.shapes, WORK)
    return upright.like(cv2.threshold(upright.mosaic, STRONG, 1, cv2.THRESH_BINARY)[1])


_columns: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # side -> a mosaic's rows of 1..side, and of side..1


def _row_ends(inked: Tiles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of each tile of ``inked`` (``uint8`` 0/255): how many pixels are set, the first and the last column.

    Each ``(n, side)``; the columns are meaningless in rows without a pixel.  On the mosaic by OpenCV:
    the rows' sums and the largest of (column + 1) and of (side - column) where set, the columns held in
    two patterns (side < 256): with the threshold, about 8 us an image against 10.5 us for numpy's
    ``any``, ``count_nonzero`` and ``argmax`` both ways on the stack (measured, 256 small scans, load 8).
    """
    n, side = len(inked.shapes), inked.side
    if side >= 256:
        nz = inked.stack != 0
        return np.count_nonzero(nz, axis=2), np.argmax(nz, axis=2), side - 1 - np.argmax(nz[:, :, ::-1], axis=2)
    patterns = _columns.get(side)
    if patterns is None or len(patterns[0]) < n * side:
        x = np.arange(side, dtype=np.uint8)
        tiles = max(n, BATCH) if side <= WORK + 2 else n  # kept for the batches' side only
        patterns = (np.tile(x + 1, (tiles * side, 1)), np.tile(side - x, (tiles * side, 1)))
        if side <= WORK + 2:
            _columns[side] = patterns
    after_last, from_first = (p[: n * side] for p in patterns)
    rows = inked.mosaic
    pixels = cv2.reduce(rows, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, side) // 255
    # numpy's largest along the rows: OpenCV's REDUCE_MAX to a column takes 21 us an image (its sum 0.7)
    after = np.maximum.reduce(cv2.bitwise_and(rows, after_last), axis=1).reshape(n, side)
    before = np.maximum.reduce(cv2.bitwise_and(rows, from_first), axis=1).reshape(n, side)
    return pixels, side - before.astype(np.int64), after.astype(np.int64) - 1


# ---------------------------------------------------------------------------
# 4. stroke thickness, 5. block counts
# ---------------------------------------------------------------------------


def thicken(bitmap: np.ndarray) -> np.ndarray:
    """Grow or shrink the strokes of a WORK x WORK 0/1 bitmap evenly: the 32x32 bitmap (bool) of TARGET_INK px.

    The signed city-block distance to the strokes' edge (negative inside),
    halved with a triangle filter (weights 1 3 3 1, as Pillow's bilinear
    resize halves), and the TARGET_INK pixels deepest inside are ink.

    >>> bitmap = np.zeros((64, 64), np.uint8); bitmap[:, 30:34] = 1; bitmap[40:44, 20:44] = 1
    >>> small = thicken(bitmap); int(small.sum()), bool(small[:, 16].all())   # 313 but for ties
    (312, True)
    """
    return _thicken(Tiles.of([np.asarray(bitmap, dtype=np.uint8)]))[0]


def _thicken(bitmap: Tiles) -> np.ndarray:
    """:func:`thicken` of every live image: ``(n, 32, 32)`` bool; morphology and filter on the mosaic."""
    n = len(bitmap.shapes)
    # one distance transform: the distance to the strokes' own edge pixels is
    # the outside distance, and the inside distance less one.  City-block
    # distance (exact with a 3x3 mask): as accurate as Euclidean here (measured).
    # Per image: on the mosaic, distances would reach other tiles' strokes
    edge = cv2.subtract(bitmap.mosaic, cv2.erode(bitmap.mosaic, CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0))
    # 255 where no edge: at most 0 (a threshold: 0.4 us an image; compare with a float64 array 0 took 2.5 us)
    not_edge = bitmap.like(cv2.threshold(edge, 0, 255, cv2.THRESH_BINARY_INV)[1]).stack
    side = bitmap.side
    rows = cv2.reduce(bitmap.mosaic, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, side)  # numpy's any: a copy
    inked = bitmap.alive & (rows > 0).any(axis=1)
    signed = np.zeros(bitmap.stack.shape, dtype=np.float32)
    for i in np.flatnonzero(inked).tolist():
        cv2.distanceTransform(not_edge[i, :WORK, :WORK], cv2.DIST_L1, 3, dst=signed[i, :WORK, :WORK])
    flat = signed.reshape(-1, side)
    cv2.subtract(MINUS_ONE, flat, dst=flat, mask=bitmap.mosaic)  # inside: -(depth + 1)
    if side % 2 == 0:
        # the 1 3 3 1 filter at every second pixel is the sum of two neighbours' 1 2 1 filter: a 1 2 1
        # filter and an area halving (the mean of each 2x2, its tiles aligned for an even side).  Whole
        # numbers (scaled by powers of two) all the way: exact in float32.  7 us an image against 9 us
        # for the 1 3 3 1 filter everywhere (measured, 256 small scans)
        halved = cv2.sepFilter2D(flat, cv2.CV_32F, HALF_TRIANGLE, HALF_TRIANGLE, borderType=cv2.BORDER_CONSTANT)
        means = cv2.resize(halved, (side // 2, n * side // 2), interpolation=cv2.INTER_AREA)
        small = means.reshape(n, side // 2, side // 2)[:, :FRAME, :FRAME] * (4 * EDGE_WEIGHT)  # 392 times the mean
    else:
        filtered = cv2.sepFilter2D(flat, cv2.CV_32F, TRIANGLE, TRIANGLE, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
        small = filtered.reshape(signed.shape)[:, :WORK:2, :WORK:2] * EDGE_WEIGHT
    deepest = np.partition(small.reshape(n, -1), TARGET_INK, axis=1)[:, TARGET_INK]
    return (small < deepest[:, None, None]) & inked[:, None, None]  # without ink: none


def block_counts(bitmap: np.ndarray) -> np.ndarray:
    """Count ink pixels of a 32x32 bitmap in 4x4 blocks: an ``(8, 8)`` ``int64`` grid 0..16 (n bitmaps: n grids).

    >>> int(block_counts(np.ones((32, 32), bool))[0, 0])
    16
    """
    b = np.asarray(bitmap)
    # the four rows, then the four columns of each block added as uint8 slices (at most 16): 0.5 us an
    # image against 7 us for one sum over the two block axes (measured, 256 bitmaps)
    u = np.ascontiguousarray(b.reshape(-1, FRAME, FRAME))
    u = u.view(np.uint8) if u.dtype == bool else u.astype(np.uint8)
    rows = u[:, 0::BLOCK] + u[:, 1::BLOCK] + u[:, 2::BLOCK] + u[:, 3::BLOCK]
    counts = rows[:, :, 0::BLOCK] + rows[:, :, 1::BLOCK] + rows[:, :, 2::BLOCK] + rows[:, :, 3::BLOCK]
    return counts.astype(np.int64).reshape(*b.shape[:-2], 8, 8)
