"""What is not the digit in a binarised scan: form lines, boxes, scanner edges.

``remove_rules(mask)`` takes a 2-D boolean ink mask and returns it without
the ruled lines and form boxes, keeping the digit's own strokes (the bar of
a 7, the foot of a 2, the crossbar of a 4), also where they touch a line.
``remove_margins(mask)`` drops dark strips along the image's sides and dark
corners, which scanners and folded pages add.

>>> import numpy as np
>>> mask = np.zeros((40, 40), bool); mask[5:35, 18:22] = True   # a "1"
>>> mask[37, 1:39] = True                                        # an underline
>>> bool(remove_rules(mask)[37].any()), bool(remove_rules(mask)[20].any())
(False, True)
"""

from __future__ import annotations

import cv2
import numpy as np


TALL = np.ones((5, 1), dtype=np.uint8)  # a tilted line steps between rows: 2 rows either side
NEAR = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # 4-neighbours, as binary_dilation's default


def remove_rules(mask: np.ndarray) -> np.ndarray:
    """Remove form lines: ruled lines under the digit and the box around it.

    A thin horizontal band much longer than the digit is a ruled line when
    it lies below the digit (an underline) or does not touch it.  Three or
    four sides of a rectangle (lines across nearly the whole image near the
    top or the bottom, straight lines down nearly its whole height near the
    left or the right edge), all thinner than the digit's strokes, are a
    box, removed even when the digit touches it or nearly fills it.  Only
    the lines' own pixels go: a digit's bar touching a line stays.
    """
    return remove_found_rules(mask) if may_hold_lines(*_stack_of_one(mask))[0] else mask


def may_hold_lines(stack: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """:func:`remove_rules`' cheap tests for many masks at once: which may hold a line (most digits cannot).

    ``stack`` is ``(n, side, side)`` ``uint8`` 0/1, mask ``i`` at the top
    left of ``stack[i]`` with shape ``shapes[i]`` and zeros around it, two
    rows and columns at least.  Under 12 px a side there are no lines; nor
    when the ink spans under 60 % of the columns, or no row of the ink
    thickened vertically (a slightly tilted line steps between rows) is
    that long.

    >>> stack = np.zeros((2, 30, 30), np.uint8); stack[:, 2:20, 10:14] = 1; stack[1, 25, 1:26] = 1
    >>> may_hold_lines(stack, np.array([[28, 28], [28, 28]])).tolist()
    [False, True]
    """
    n, side = stack.shape[:2]
    h, w = shapes[:, 0], shapes[:, 1]
    wide = (h >= 12) & (w >= 12) & (np.count_nonzero(stack.any(axis=1), axis=1) >= 0.6 * w)
    if wide.any():
        tall = cv2.dilate(stack.reshape(-1, side), TALL)
        rows = cv2.reduce(tall, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, side)
        rows[np.arange(side) >= h[:, None]] = 0  # thickened beyond the mask's last row
        wide &= rows.max(axis=1) >= 0.6 * w
    return wide


def _stack_of_one(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One mask as the stack of one that :func:`may_hold_lines` and :func:`may_hold_margins` take."""
    h, w = mask.shape
    side = max(h, w) + 2
    square = np.zeros((1, side, side), dtype=np.uint8)
    square[0, :h, :w] = mask
    return square, np.array([[h, w]])


def remove_found_rules(mask: np.ndarray) -> np.ndarray:
    """:func:`remove_rules` past its cheap tests (:func:`may_hold_lines`): a mask that may hold lines."""
    h, w = mask.shape
    ink = _u8(mask)
    tall = cv2.dilate(ink, TALL)
    mask = ink.view(bool)
    long_h = (cv2.dilate(_runs(tall, int(0.6 * w), axis=1), TALL) & ink).view(bool)
    bands, merged = _find_bands(mask, long_h)
    if not bands and not merged:
        return mask  # wide, but no thin band: a digit's own bar, not a ruled line
    edge = np.zeros_like(mask)
    edge[:, : w // 5] = True
    edge[:, w - w // 5 :] = True
    sides = _runs(ink, int(0.6 * h), axis=0).view(bool) & edge  # long vertical lines near the edges
    rest = mask & ~sides  # the digit, as far as lines go
    for top, bottom in bands:
        rest[top:bottom] &= ~long_h[top:bottom]
    if np.count_nonzero(rest) < 0.1 * np.count_nonzero(mask):
        return mask  # (almost) nothing but lines: better keep it all
    boxed = _box_lines(mask, long_h, bands + merged, sides, rest)
    if boxed is not None:
        return mask & ~boxed
    rows = np.flatnonzero(rest.any(axis=1))
    cols = np.flatnonzero(rest.any(axis=0))
    out = mask.copy()
    for top, bottom in bands:
        if _span(long_h[top:bottom]) < 1.3 * (cols[-1] - cols[0] + 1):
            continue  # not much longer than the digit: may be its own bar
        band = np.zeros_like(ink)
        band[top:bottom] = long_h[top:bottom]
        below = top >= (rows[0] + rows[-1]) / 2
        detached = not (cv2.dilate(band, NEAR, iterations=2).view(bool) & rest).any()
        if below or detached:
            out &= ~_line_pixels(long_h, top, bottom)[0]
    return out


def _box_lines(
    mask: np.ndarray,
    long_h: np.ndarray,
    bands: list[tuple[int, int]],
    sides: np.ndarray,
    rest: np.ndarray,
) -> np.ndarray | None:
    """The pixels of a box around the digit (three or four sides), or ``None``."""
    h, w = mask.shape
    wide = [(top, bottom) for top, bottom in bands if _span(long_h[top:bottom]) >= 0.75 * w]
    ends = [top < 0.3 * h or top > 0.7 * h for top, _ in wide]
    if not any(ends):
        return None
    upright = sides & _runs(mask, int(0.8 * h), axis=0).view(bool) if sides.any() else sides
    left, right = upright[:, : w // 2], upright[:, w // 2 :]
    if not (left.any() or right.any()):
        return None  # a box shows three sides at least: one line across is not one
    thin = 0.6 * _stroke_width(rest)
    across = []
    for (top, bottom), end in zip(wide, ends, strict=True):
        line, thickness = _line_pixels(long_h, top, bottom)
        if end and _span(line) >= 0.75 * w and thickness <= thin:
            across.append((top, line))
    found = [
        any(top < 0.3 * h for top, _ in across),
        any(top > 0.7 * h for top, _ in across),
        bool(left.any()) and _width(left) <= thin,
        bool(right.any()) and _width(right) <= thin,
    ]
    if not (found[0] or found[1]) or sum(found) < 3:
        return None
    box = upright.copy()
    for _, line in across:
        box |= line
    return box


def _stroke_width(mask: np.ndarray) -> float:
    """Typical pen width: the median length of the horizontal runs of ink."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.flatnonzero(np.diff(padded.ravel()))
    if not edges.size:
        return 0.0
    runs = edges[1::2] - edges[::2]
    middle = runs.size // 2  # the median, by one partial sort
    if runs.size % 2:
        return float(np.partition(runs, middle)[middle])
    part = np.partition(runs, [middle - 1, middle])
    return 0.5 * (float(part[middle - 1]) + float(part[middle]))


def _width(lines: np.ndarray) -> float:
    """Width of vertical lines: ink pixels per row they cross."""
    u8 = _u8(lines)
    return cv2.countNonZero(u8) / max(1, cv2.countNonZero(cv2.reduce(u8, 1, cv2.REDUCE_MAX)))


def _span(line: np.ndarray) -> int:
    """How many columns ``line`` reaches."""
    return cv2.countNonZero(cv2.reduce(_u8(line), 0, cv2.REDUCE_MAX))


def _find_bands(mask: np.ndarray, long_h: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Thin bands of rows holding long runs, ``(start, stop)``; and the merged ones.

    A line touching a digit's bar merges with it into one thick band; the
    rows of such a block that hold a long straight run themselves are the
    second list (they count for a box only).
    """
    h, w = mask.shape
    thin = max(6, int(0.2 * h))
    bands: list[tuple[int, int]] = []
    merged: list[tuple[int, int]] = []
    straight: np.ndarray | None = None
    for top, bottom in _bands(cv2.reduce(_u8(long_h), 1, cv2.REDUCE_MAX).ravel(), h):
        if bottom - top <= thin:
            bands.append((top, bottom))
            continue
        if straight is None:
            straight = np.asarray(_runs(mask, int(0.6 * w), axis=1).view(bool).any(axis=1))
        rows = np.zeros(h, dtype=bool)
        rows[top:bottom] = straight[top:bottom]
        rows[1:] |= rows[:-1].copy()  # one row either side: a tilted line
        rows[:-1] |= rows[1:].copy()
        merged += _bands(rows, thin)
    return bands, merged


def _line_pixels(long_h: np.ndarray, top: int, bottom: int) -> tuple[np.ndarray, float]:
    """The straight line in rows ``top:bottom`` without what touches it, and its thickness.

    The line's thickness is what its thinnest columns hold (where a digit's
    bar touches it, a column holds more); its centre row is fitted on the
    columns holding only the line, so a slightly tilted line is followed.
    """
    line = np.zeros_like(long_h)
    ys, xs = np.nonzero(long_h[top:bottom])
    if ys.size == 0:
        return line, 0.0
    counts = np.bincount(xs, minlength=long_h.shape[1])
    filled = np.sort(counts[counts > 0])
    thickness = max(1.0, float(filled[int(0.2 * (filled.size - 1))]))
    alone = counts[xs] <= thickness + 1
    x, y = xs[alone].astype(np.float64), ys[alone].astype(np.float64)
    spread = 0.0
    if x.size:
        x_mean, y_mean = float(x.sum()) / x.size, float(y.sum()) / y.size
        dx = x - x_mean
        spread = float(dx @ dx)
    if spread > 0:  # least squares line through the line-only columns
        slope = float(dx @ (y - y_mean)) / spread
        offset = y_mean - slope * x_mean
    else:
        slope, offset = 0.0, float(np.median(ys))
    near = np.abs(ys - (offset + slope * xs)) <= thickness / 2 + 1
    line[ys[near] + top, xs[near]] = True
    return line, thickness


def _u8(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as ``uint8`` 0/1 for OpenCV (a view when it can be)."""
    mask = np.ascontiguousarray(mask)
    return mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)


def _runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Pixels of ``mask`` lying in a straight run of at least ``length`` along ``axis``.

    ``mask`` is bool or ``uint8`` 0/1; the answer is ``uint8`` 0/1 (``.view(bool)`` for a mask).
    """
    ink = _u8(mask)
    if length < 2:
        return ink.copy()
    length |= 1  # odd: erosion and dilation then use the same centred window
    # an opening by a line, as two running sums (their cost does not grow with the length):
    # the centres of full windows (zeros beyond the edges: a run that reaches the border is
    # not mirrored into a longer one), then every pixel of a window holding such a centre
    window = (length, 1) if axis == 1 else (1, length)  # OpenCV's (width, height)
    full = cv2.boxFilter(ink, cv2.CV_32F, window, normalize=False, borderType=cv2.BORDER_CONSTANT) >= length
    covered = cv2.boxFilter(full.view(np.uint8), cv2.CV_32F, window, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return (covered > 0).view(np.uint8) & ink


def _bands(rows: np.ndarray, max_thickness: int) -> list[tuple[int, int]]:
    """Runs of True in ``rows`` no thicker than ``max_thickness``: ``(start, stop)``."""
    found, start = [], None
    for i, on in enumerate([*rows.tolist(), False]):  # a few dozen rows: plain Python is quickest
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start <= max_thickness:
                found.append((start, i))
            start = None
    return found


def remove_margins(mask: np.ndarray) -> np.ndarray:
    """Drop what scanning adds at the image edges: dark strips along a side, dark corners.

    A strip is a piece of ink lying within a run of nearly full columns (or
    rows) at an edge, at most a fifth of the image wide, with paper after
    it; a dark corner is a piece of ink that touches two edges and lies
    within the corner's third of the image.  A digit's own bar along the
    edge of a tight crop stays: it is joined to the rest of the digit.
    """
    found, strips = may_hold_margins(*_stack_of_one(mask))
    return remove_found_margins(mask, strips[0]) if found[0] else mask


def may_hold_margins(stack: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`remove_margins`' tests for many masks at once: which have a strip or ink in a corner.

    ``stack`` and ``shapes`` as for :func:`may_hold_lines`.  A mask under
    12 px a side, or without ink on its edges (most scans), has neither; a
    strip is what :func:`_strip_depths` finds from a side; ink in a corner
    is ink on both edges that meet there, within a third of the side from
    the corner: where a dark corner would show.  Also returns the strips'
    depths, ``(n, 4)``: from the left, right, top and bottom edge (0: none).

    >>> stack = np.zeros((2, 30, 30), np.uint8); stack[:, 5:20, 10:14] = 1; stack[1, :, :3] = 1
    >>> found, strips = may_hold_margins(stack, np.array([[28, 28], [28, 28]]))
    >>> found.tolist(), strips[1].tolist()
    ([False, True], [3, 0, 0, 0])
    """
    n = len(stack)
    h, w = shapes[:, 0], shapes[:, 1]
    i = np.arange(n)
    top, bottom, left, right = stack[:, 0], stack[i, h - 1], stack[:, :, 0], stack[i, :, w - 1]
    found = (h >= 12) & (w >= 12) & (top.any(axis=1) | bottom.any(axis=1) | left.any(axis=1) | right.any(axis=1))
    depths = np.zeros((n, 4), dtype=np.int64)
    if not found.any():
        return found, depths
    stack, h, w, top, bottom, left, right = (a[found] for a in (stack, h, w, top, bottom, left, right))
    columns = np.count_nonzero(stack, axis=1) / h[:, None]  # the columns' fill, then the rows'
    rows = np.count_nonzero(stack, axis=2) / w[:, None]
    m = len(stack)
    strips = _strip_depths(np.concatenate([columns, columns, rows, rows]), np.concatenate([w, w, h, h]),
                           np.repeat([False, True, False, True], m)).reshape(4, m).T
    depths[found] = strips
    rows3, cols3 = (h // 3)[:, None], (w // 3)[:, None]
    x, y = np.arange(stack.shape[2]), np.arange(stack.shape[1])
    near_left, near_right = x < cols3, (x >= w[:, None] - cols3) & (x < w[:, None])
    near_top, near_bottom = y < rows3, (y >= h[:, None] - rows3) & (y < h[:, None])
    corners = (
        ((top & near_left).any(axis=1) & (left & near_top).any(axis=1))
        | ((top & near_right).any(axis=1) & (right & near_top).any(axis=1))
        | ((bottom & near_left).any(axis=1) & (left & near_bottom).any(axis=1))
        | ((bottom & near_right).any(axis=1) & (right & near_bottom).any(axis=1))
    )
    found[found] = strips.any(axis=1) | corners
    return found, depths


def _strip_depths(fill: np.ndarray, size: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """How many lines from the edge form a dark strip (0: none), for each row of ``fill``.

    Row ``i``'s first ``size[i]`` values are the fill of the lines (columns
    or rows) across a mask, read from the start, or from the end where
    ``reverse[i]``.  A strip is a run of nearly full lines (60 %) at the
    edge and up to two more of its soft edge (30 %), at most a fifth of the
    mask, with paper after it.

    >>> _strip_depths(np.array([[0.9, 0.8, 0.4, 0.1] + [0.0] * 16]), np.array([20]), np.array([False])).tolist()
    [3]
    """
    k = np.arange(fill.shape[1] + 1)  # and one line past the end, of fill -1
    index = np.where(reverse[:, None], size[:, None] - 1 - k, k)
    row = np.arange(len(fill))[:, None]
    lines = np.where(k < size[:, None], fill[row, np.clip(index, 0, fill.shape[1] - 1)], -1.0)
    full = np.argmax(lines < 0.6, axis=1)
    depth = full.copy()
    row = row[:, 0]
    for _ in range(2):  # its soft edge
        depth += (depth < np.minimum(size, full + 2)) & (lines[row, depth] >= 0.3)
    found = (full > 0) & (depth <= 0.2 * size) & (depth < size) & (lines[row, depth] < 0.3)
    return np.where(found, depth, 0)


def remove_found_margins(mask: np.ndarray, strips: np.ndarray) -> np.ndarray:
    """:func:`remove_margins` past its tests: a mask with a strip or a corner (:func:`may_hold_margins`).

    ``strips`` are the depths of its strips from the left, right, top and bottom edge.
    """
    h, w = mask.shape
    ink = _u8(mask)
    mask = ink.view(bool)
    margin = np.zeros_like(mask)  # the strips' lines
    left, right, top, bottom = (int(d) for d in strips)
    if left:
        margin[:, :left] = True
    if right:
        margin[:, w - right :] = True
    if top:
        margin[:top] = True
    if bottom:
        margin[h - bottom :] = True
    in_strips = bool(margin.any())
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_32S)
    x, y, bw, bh = (stats[:, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    touches = ((y == 0) | (y + bh == h)) & ((x == 0) | (x + bw == w))
    drop = touches & (bh <= h / 3) & (bw <= w / 3)  # a dark corner
    if in_strips:  # wholly inside a strip: no pixel outside it
        drop |= np.bincount(labels[mask & ~margin], minlength=count) == 0
    drop[0] = False  # the paper
    return mask & ~drop[labels] if drop.any() else mask
