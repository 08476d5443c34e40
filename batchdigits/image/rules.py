"""What is not the digit in a binarised scan: form lines, boxes, scanner edges.

``remove_rules(mask)`` takes a 2-D boolean ink mask and returns it without
the ruled lines and form boxes, keeping the digit's own strokes (the bar of
a 7, the foot of a 2, the crossbar of a 4), also where they touch a line;
``remove_stacked_rules`` does the same for many masks at once, in place.
``remove_margins(mask)`` drops dark strips along the image's sides and dark
corners, which scanners and folded pages add.

>>> import numpy as np
>>> mask = np.zeros((40, 40), bool); mask[5:35, 18:22] = True   # a "1"
>>> mask[37, 1:39] = True                                        # an underline
>>> bool(remove_rules(mask)[37].any()), bool(remove_rules(mask)[20].any())
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

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
    # the columns holding ink: the largest value down each (numpy's ``any`` makes a boolean copy first)
    wide = (h >= 12) & (w >= 12) & (np.count_nonzero(np.maximum.reduce(stack, axis=1), axis=1) >= 0.6 * w)
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
    """:func:`remove_rules` past its cheap tests (:func:`may_hold_lines`): a mask that may hold lines.

    The stack of one of :func:`remove_stacked_rules`; a boolean mask.
    """
    h, w = mask.shape
    stack, shapes = _stack_of_one(mask)
    remove_stacked_rules(stack, shapes, np.zeros(1, dtype=np.intp))
    return stack[0, :h, :w].view(bool)


def remove_stacked_rules(stack: np.ndarray, shapes: np.ndarray, which: np.ndarray) -> None:
    """:func:`remove_found_rules` on masks ``which`` of ``stack`` (as :func:`may_hold_lines` takes it), in place.

    The masks are worked on together, on a mosaic of their tiles: the long
    runs (:func:`_long_runs`), their thin bands (:func:`_stacked_bands`),
    the straight lines down near the sides (:func:`_edge_lines`), what is
    left of the digit, then the lines that may be a box's sides
    (:func:`_box_sides`) or ruled lines (:func:`_ruled_lines`), all fitted
    at once (:func:`_stacked_line_pixels`: :func:`_line_pixels`' pixels),
    and the boxes (:func:`_stacked_boxes`).  How a mask changes does not
    depend on its neighbours: zeros around each mask keep the runs and
    dilations inside its tile.
    """
    which = np.asarray(which, dtype=np.intp)
    if not which.size:
        return
    ink = stack[which]
    k, side = ink.shape[:2]
    h, w = shapes[which, 0], shapes[which, 1]
    tall = cv2.dilate(ink.reshape(-1, side), TALL).reshape(k, side, side)
    # the tile's last two rows (zeros: below the mask) hold the next mask's first rows, thickened upwards.
    # The mask's own rows thickened below it can stay: rows h and h + 1 of ``tall`` hold no pixel that
    # row h - 1 lacks, so their long runs, thickened back up, add nothing to the mask's rows
    tall[:, -2:] = 0
    across = _long_runs(tall.reshape(-1, side), np.repeat(_odd(0.6 * w), side))
    long_h = cv2.bitwise_and(cv2.dilate(across, TALL), ink.reshape(-1, side))
    long_h = long_h.reshape(k, side, side).view(bool)
    bands = _stacked_bands(ink, long_h, h, w)
    if not bands.tile.size:
        return  # wide, but no thin band: a digit's own bar, not a ruled line
    lined = np.zeros(k, dtype=bool)
    lined[bands.tile] = True
    x = np.arange(side)
    edge = (x < (w // 5)[:, None]) | ((x >= (w - w // 5)[:, None]) & (x < w[:, None]))  # (k, side): columns
    down = _edge_lines(ink, edge, h)  # long vertical lines near the edges
    mask = ink.view(bool)
    rest = mask.copy()  # the digit, as far as lines go
    rest[down.tile, :, down.col] &= ~down.sides
    thin = bands.take(bands.thin)
    rows = _band_rows(thin.tile * side + thin.top, thin.bottom - thin.top)
    flat_rest, flat_long = rest.reshape(-1, side), long_h.reshape(-1, side)
    flat_rest[rows] &= ~flat_long[rows]
    # (almost) nothing but lines: better keep it all
    lined &= _pixels(rest) >= 0.1 * _pixels(mask)
    if not lined.any():
        return
    bands.span = np.count_nonzero(_columns_of(long_h, bands.tile, bands.top, bands.bottom), axis=1)
    across = _box_sides(bands, lined, down, h, w)
    ruled = _ruled_lines(long_h, bands, lined, rest)
    wanted = across | ruled
    lines = bands.take(wanted)  # every line wanted, fitted at once
    seg, ys, xs, thickness = _stacked_line_pixels(long_h, lines)
    boxed, sides = _stacked_boxes(lines, across[wanted], (seg, xs, thickness), down, rest, h, w)
    removed = np.zeros_like(mask)
    removed[down.tile, :, down.col] = down.upright & boxed[down.tile][:, None]
    on = np.where(boxed[lines.tile], sides, ruled[wanted])[seg]
    removed[lines.tile[seg[on]], ys[on], xs[on]] = True
    mask &= ~removed
    stack[which] = ink


def _pixels(masks: np.ndarray) -> np.ndarray:
    """How many pixels each of a stack of 0/1 masks holds."""
    k, side = masks.shape[:2]
    rows = cv2.reduce(masks.view(np.uint8).reshape(-1, side), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    return rows.reshape(k, side).sum(axis=1)


def _row_any(masks: np.ndarray) -> np.ndarray:
    """``(k, side)``: which rows of each of a stack of 0/1 masks hold a pixel."""
    k, side = masks.shape[:2]
    rows = cv2.reduce(masks.view(np.uint8).reshape(-1, masks.shape[2]), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    return rows.reshape(k, side) > 0


def _band_rows(first: np.ndarray, height: np.ndarray) -> np.ndarray:
    """The rows ``first[i] : first[i] + height[i]`` of every band ``i``, one after the other."""
    band = np.repeat(np.arange(len(first)), height)
    return np.arange(band.size) - (np.cumsum(height) - height)[band] + first[band]


@dataclass
class _Down:
    """Vertical lines near the sides of masks, by column: tile, column, and the pixels (``(columns, side)``)
    of its runs of 60 % of the height (``sides``) and of 80 % (``upright``)."""

    tile: np.ndarray
    col: np.ndarray
    sides: np.ndarray
    upright: np.ndarray


def _edge_lines(ink: np.ndarray, edge: np.ndarray, h: np.ndarray) -> _Down:
    """The vertical runs of 60 % of the height and more in the ``edge`` columns, and of 80 %.

    Only the columns holding that much ink are looked at.
    """
    down = _odd(0.6 * h)
    tile, col = np.nonzero(edge & (np.add.reduce(ink, axis=1, dtype=np.int16) >= down[:, None]))
    lines = np.ascontiguousarray(ink[tile, :, col])  # (columns, side): each ends in zeros, below the mask
    return _Down(tile, col, _long_runs(lines, down[tile]).view(bool),
                 _long_runs(lines, _odd(0.8 * h)[tile]).view(bool))


def _long_runs(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The pixels of 0/1 ``rows`` (each ending in a zero) lying in a run at least ``lengths[row]`` long (``uint8``).

    Only the rows holding that many pixels are looked at.
    """
    c = rows.shape[1]
    out = np.zeros_like(rows)
    if not rows.size:  # OpenCV 4 reduces no rows to None
        return out
    enough = np.flatnonzero(cv2.reduce(rows, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() >= lengths)
    if enough.size:
        some = rows[enough]
        row, start, stop = _spans(some)
        keep = stop - start >= lengths[enough[row]]
        marks = np.zeros(some.size + 1, dtype=np.int8)
        marks[row[keep] * c + start[keep]] = 1
        marks[row[keep] * c + stop[keep]] = -1
        out[enough] = np.cumsum(marks[:-1], dtype=np.int8).reshape(some.shape)
    return out


def _odd(lengths: np.ndarray) -> np.ndarray:
    """Run lengths ``int(lengths)`` made odd, as :func:`_runs` takes them (a run at least this long)."""
    return lengths.astype(np.int64) | 1


@dataclass
class _Bands:
    """Bands of rows of masks: tile, ``top`` and ``bottom`` (``(start, stop)``), and ``thin``.

    ``thin`` is False for the rows of a thick block that hold a straight
    run themselves (see :func:`_stacked_bands`); ``span`` is how many
    columns the band's long runs reach.
    """

    tile: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    thin: np.ndarray
    span: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> _Bands:
        span = None if self.span is None else self.span[keep]
        return _Bands(self.tile[keep], self.top[keep], self.bottom[keep], self.thin[keep], span)


def _stacked_bands(ink: np.ndarray, long_h: np.ndarray, h: np.ndarray, w: np.ndarray) -> _Bands:
    """Thin bands of rows holding long runs, and the merged ones (``thin`` False), of every mask.

    A line touching a digit's bar merges with it into one thick band; the
    rows of such a block that hold a long straight run themselves (one row
    either side: a tilted line) are the merged bands (they count for a box
    only).
    """
    k, side = long_h.shape[:2]
    tile, top, bottom = _spans(_row_any(long_h))
    thin_rows = np.maximum(6, (0.2 * h).astype(np.int64))
    thin = bottom - top <= thin_rows[tile]
    bands = _Bands(tile[thin], top[thin], bottom[thin], np.ones(np.count_nonzero(thin), dtype=bool))
    if thin.all():
        return bands
    tile, top, bottom = tile[~thin], top[~thin], bottom[~thin]
    owners, block_of = np.unique(tile, return_inverse=True)
    straight = _long_runs(ink[owners].reshape(-1, side), np.repeat(_odd(0.6 * w[owners]), side))
    straight = _row_any(straight.reshape(-1, side, side))[block_of]  # (blocks, side)
    y = np.arange(side)
    straight &= (y >= top[:, None]) & (y < bottom[:, None])
    rows = straight.copy()
    rows[:, 1:] |= straight[:, :-1]  # one row either side: a tilted line
    rows[:, :-1] |= straight[:, 1:]
    rows &= y < h[tile][:, None]
    block, top, bottom = _spans(rows)
    keep = bottom - top <= thin_rows[tile[block]]
    merged = np.zeros(np.count_nonzero(keep), dtype=bool)
    return _Bands(np.concatenate([bands.tile, tile[block[keep]]]), np.concatenate([bands.top, top[keep]]),
                  np.concatenate([bands.bottom, bottom[keep]]), np.concatenate([bands.thin, merged]))


def _box_sides(bands: _Bands, lined: np.ndarray, down: _Down, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The bands that may be a box's side across (of masks that may have a box).

    A side across is a band reaching 75 % of the columns near the top or
    the bottom (a tenth of the height from the middle or more); a side
    down, the ``upright`` lines of the left or the right half.  A box shows
    three sides at least: one line across is not one.
    """
    assert bands.span is not None
    k = len(lined)
    end = (bands.top < 0.3 * h[bands.tile]) | (bands.top > 0.7 * h[bands.tile])
    across = (bands.span >= 0.75 * w[bands.tile]) & end & lined[bands.tile]
    maybe = np.zeros(k, dtype=bool)
    maybe[bands.tile[across]] = True
    maybe[:] &= np.bincount(down.tile, weights=down.upright.any(axis=1), minlength=k) > 0
    return across & maybe[bands.tile]


def _stacked_boxes(lines: _Bands, across: np.ndarray, fitted: tuple[np.ndarray, np.ndarray, np.ndarray],
                   down: _Down, rest: np.ndarray, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which masks have a box around the digit (three or four sides), and which ``lines`` are its sides across.

    ``across`` are the ``lines`` that may be its sides across (see
    :func:`_box_sides`), ``fitted`` their pixels and thicknesses
    (:func:`_stacked_line_pixels`); ``down`` the lines down.  A side
    across is a line (:func:`_line_pixels`) as long as its band and
    thinner than the digit's strokes (60 % of :func:`_stroke_widths`); a
    side down, the lines down of the left or the right half, as thin (ink
    pixels per row they cross).  Three sides, one of them across, are a box.
    """
    k, side = rest.shape[:2]
    seg, xs, thickness = fitted
    maybe = np.zeros(k, dtype=bool)
    maybe[lines.tile[across]] = True
    if not maybe.any():
        return maybe, across
    thin = np.zeros(k)
    thin[maybe] = 0.6 * _stroke_widths(rest[maybe])
    reach = np.count_nonzero(_columns_from(seg, xs, len(lines.tile), side), axis=1)
    t = lines.tile
    sides = across & (reach >= 0.75 * w[t]) & (thickness <= thin[t])
    top_side, bottom_side = np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
    top_side[t[sides & (lines.top < 0.3 * h[t])]] = True
    bottom_side[t[sides & (lines.top > 0.7 * h[t])]] = True
    on_left = down.col < (w // 2)[down.tile]
    column, row = np.nonzero(down.upright)
    found = []
    for half in (on_left, ~on_left):
        pixels = np.bincount(down.tile[column[half[column]]], minlength=k)
        crossed = np.bincount(down.tile[column[half[column]]] * side + row[half[column]], minlength=k * side)
        rows = np.count_nonzero(crossed.reshape(k, side), axis=1)
        found.append((pixels > 0) & (pixels / np.maximum(1, rows) <= thin))
    count = top_side.astype(int) + bottom_side + found[0] + found[1]
    return maybe & (top_side | bottom_side) & (count >= 3), sides


def _ruled_lines(long_h: np.ndarray, bands: _Bands, lined: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Which bands are ruled lines, should their mask have no box.

    A thin band at least 1.3 times as long as the digit (``rest``) is wide
    is a ruled line when it lies in the digit's lower half (an underline)
    or is two pixels (4-neighbour steps) or more from it; its line's pixels
    (:func:`_line_pixels`) go.
    """
    side = long_h.shape[1]
    assert bands.span is not None
    ruled = bands.thin & lined[bands.tile]
    if not ruled.any():
        return ruled
    tiles, t = np.unique(bands.tile[ruled], return_inverse=True)  # the masks to look at, and each band's
    top = bands.top[ruled]
    rest, long_h = rest[tiles], long_h[tiles]
    rows, cols = _row_any(rest), np.asarray(rest.any(axis=1))
    first_row, last_row = np.argmax(rows, axis=1), side - 1 - np.argmax(rows[:, ::-1], axis=1)
    first_col, last_col = np.argmax(cols, axis=1), side - 1 - np.argmax(cols[:, ::-1], axis=1)
    longer = bands.span[ruled] >= 1.3 * (last_col[t] - first_col[t] + 1)  # else it may be the digit's own bar
    below = top >= (first_row[t] + last_row[t]) / 2
    near = cv2.dilate(rest.view(np.uint8).reshape(-1, side), NEAR, iterations=2).reshape(rest.shape)
    touching = _row_any(long_h & near.view(bool))  # rows where a long run touches the digit
    detached = ~_columns_of(touching[:, :, None], t, top, bands.bottom[ruled])[:, 0]
    ruled[ruled] = longer & (below | detached)
    return ruled


def _stroke_widths(rest: np.ndarray) -> np.ndarray:
    """Typical pen width of every mask: the median length of its horizontal runs of ink (0: none)."""
    k, side = rest.shape[:2]
    row, start, stop = _spans(rest.reshape(-1, side))
    tile, runs = row // side, stop - start
    runs = runs[np.lexsort((runs, tile))]
    count = np.bincount(tile, minlength=k)
    first = np.cumsum(count) - count
    middle = first + count // 2
    a = runs[np.clip(middle - 1, 0, max(runs.size - 1, 0))].astype(np.float64) if runs.size else np.zeros(k)
    b = runs[np.clip(middle, 0, max(runs.size - 1, 0))].astype(np.float64) if runs.size else np.zeros(k)
    return np.where(count == 0, 0.0, np.where(count % 2 == 1, b, 0.5 * (a + b)))


def _stacked_line_pixels(long_h: np.ndarray, bands: _Bands) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_line_pixels` of every band: its pixels (band index, row, column in the tile) and thicknesses.

    The line is fitted on exact integer sums; a band with a pixel within
    1e-6 of the cut (where :func:`_line_pixels`' rounding could fall on the
    other side) is left to :func:`_line_pixels` itself.
    """
    side = long_h.shape[1]
    n = len(bands.tile)
    empty = np.zeros(0, dtype=np.int64)
    height = bands.bottom - bands.top
    first = np.cumsum(height) - height  # the bands' rows, one after the other
    row, xs = np.nonzero(long_h.reshape(-1, side)[_band_rows(bands.tile * side + bands.top, height)])
    if not row.size:
        return empty, empty, empty, np.zeros(n)
    seg = np.repeat(np.arange(n), height)[row]
    ys = row - first[seg]  # within the band, in order: the median row is the middle pixel's
    size = np.bincount(seg, minlength=n)
    starts = np.cumsum(size) - size
    counts = np.bincount(seg * side + xs, minlength=n * side).reshape(n, side)
    filled = np.count_nonzero(counts, axis=1)
    low = np.sort(counts, axis=1)[np.arange(n), np.minimum(side - filled + (0.2 * (filled - 1)).astype(np.int64),
                                                           side - 1)]
    thickness = np.where(filled > 0, np.maximum(1.0, low), 0.0)
    alone = counts[seg, xs] <= thickness[seg] + 1
    m = np.bincount(seg[alone], minlength=n)
    sx, sy, sxx, sxy = (np.bincount(seg[alone], weights=v[alone], minlength=n).astype(np.int64)
                        for v in (xs, ys, xs * xs, xs * ys))
    spread = m * sxx - sx * sx  # n times the sum of squares about the mean: exact
    fitted = spread > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(fitted, (m * sxy - sx * sy) / np.where(fitted, spread, 1), 0.0)
        x_mean, y_mean = sx / np.maximum(m, 1), sy / np.maximum(m, 1)
    mid = starts + size // 2  # else the median row of all the band's pixels (sorted by row)
    median = np.where(size % 2 == 1, ys[np.minimum(mid, seg.size - 1)],
                      0.5 * (ys[np.clip(mid - 1, 0, seg.size - 1)] + ys[np.minimum(mid, seg.size - 1)]))
    offset = np.where(fitted, y_mean - slope * x_mean, median)
    off = np.abs(ys - (offset[seg] + slope[seg] * xs)) - (thickness[seg] / 2 + 1)
    unsure = np.zeros(n, dtype=bool)
    unsure[seg[fitted[seg] & (np.abs(off) <= 1e-6)]] = True
    keep = (off <= 0) & ~unsure[seg]
    seg, ys, xs = seg[keep], ys[keep] + bands.top[seg[keep]], xs[keep]
    for i in np.flatnonzero(unsure).tolist():
        line, _ = _line_pixels(long_h[bands.tile[i]], int(bands.top[i]), int(bands.bottom[i]))
        y_i, x_i = np.nonzero(line)
        seg, ys, xs = np.concatenate([seg, np.full(y_i.size, i)]), np.concatenate([ys, y_i]), np.concatenate([xs, x_i])
    return seg, ys, xs, thickness


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


def _columns_of(flags: np.ndarray, tile: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Per band, which columns of ``flags`` (``(k, side, c)``) hold a True in its rows ``top:bottom`` of its tile."""
    k, side, c = flags.shape
    if not tile.size:
        return np.zeros((0, c), dtype=bool)
    height = bottom - top
    if (height <= 0).any():  # (bands hold a row at least) reduceat's reading of an empty range
        start = tile * side + top
        bounds = np.stack([start, start + height], axis=1).ravel()  # pairs; between them: ignored
        return np.logical_or.reduceat(flags.reshape(k * side, c), bounds, axis=0)[::2]
    # the bands' rows gathered, one band after the other: reduceat then reads no rows between the bands
    # (with the pairs of bounds, it reduced every row of the stack; remove_stacked_rules went from about
    # 35 to 29 us an image of a chunk with this and _spans' compare: measured, 256 small scans, load 8)
    rows = flags.reshape(k * side, c)[_band_rows(tile * side + top, height)]
    return np.logical_or.reduceat(rows, np.cumsum(height) - height, axis=0)


def _columns_from(seg: np.ndarray, xs: np.ndarray, n: int, side: int) -> np.ndarray:
    """``(n, side)``: which columns the pixels ``(seg, xs)`` of each of ``n`` lines reach."""
    return np.bincount(seg * side + xs, minlength=n * side).reshape(n, side) > 0


def _spans(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of nonzero values along the rows of a 2-D array whose rows all end in a zero: row, start, stop."""
    c = flags.shape[1]
    flat = np.ascontiguousarray(flags).reshape(-1).view(np.int8)
    # where a value differs from the one before (rows end in zeros: runs stay in them); a first value
    # that is set starts a run.  Compared, not differenced with a zero prepended: no copy of the array
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat.size and flat[0]:
        edges = np.concatenate([[0], edges])
    row = edges[::2] // c
    return row, edges[::2] - row * c, edges[1::2] - row * c


def _u8(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as ``uint8`` 0/1 for OpenCV (a view when it can be)."""
    mask = np.ascontiguousarray(mask)
    return mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)


def _runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Pixels of ``mask`` lying in a straight run of at least ``length`` along ``axis``.

    ``mask`` is bool or ``uint8`` 0/1; the answer is ``uint8`` 0/1 (``.view(bool)`` for a mask).  A
    run at least ``length | 1`` long: an opening by a line of odd length, whose window is centred.
    :func:`_long_runs` of one mask, either way.
    """
    ink = _u8(mask) if axis == 1 else _u8(mask).T
    rows = np.zeros((ink.shape[0], ink.shape[1] + 1), dtype=np.uint8)  # a zero after every row
    rows[:, :-1] = ink
    runs = _long_runs(rows, np.full(ink.shape[0], _odd(np.array(length))))[:, :-1]
    return np.ascontiguousarray(runs if axis == 1 else runs.T)


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
    # the columns' fill, then the rows': sums of the 0/1 values (``count_nonzero`` makes a boolean copy first)
    columns = np.add.reduce(stack, axis=1, dtype=np.int16) / h[:, None]
    rows = cv2.reduce(stack.reshape(-1, stack.shape[2]), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    rows = rows.reshape(len(stack), -1) / w[:, None]
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
