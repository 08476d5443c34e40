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

import numpy as np
from scipy import ndimage


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
    h, w = mask.shape
    if h < 12 or w < 12:
        return mask
    if np.count_nonzero(mask.any(axis=0)) < 0.6 * w:
        return mask  # the ink is narrower than any line would be
    # a slightly tilted line steps between rows: look for runs in a mask
    # thickened vertically, then take the real pixels around them
    tall = ndimage.maximum_filter1d(mask.astype(np.uint8), 5, axis=0).astype(bool)
    if tall.sum(axis=1).max() < 0.6 * w:
        return mask  # no row could hold a long line: most digits stop here
    long_h = ndimage.maximum_filter1d(_runs(tall, int(0.6 * w), axis=1).astype(np.uint8), 5, axis=0)
    long_h = long_h.astype(bool) & mask
    bands, merged = _find_bands(mask, long_h)
    if not bands and not merged:
        return mask  # wide, but no thin band: a digit's own bar, not a ruled line
    edge = np.zeros_like(mask)
    edge[:, : w // 5] = True
    edge[:, w - w // 5 :] = True
    sides = _runs(mask, int(0.6 * h), axis=0) & edge  # long vertical lines near the edges
    rest = mask & ~sides  # the digit, as far as lines go
    for top, bottom in bands:
        rest[top:bottom] &= ~long_h[top:bottom]
    if rest.sum() < 0.1 * mask.sum():
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
        band = np.zeros_like(mask)
        band[top:bottom] = long_h[top:bottom]
        below = top >= (rows[0] + rows[-1]) / 2
        detached = not (ndimage.binary_dilation(band, iterations=2) & rest).any()
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
    upright = sides & _runs(mask, int(0.8 * h), axis=0) if sides.any() else sides
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
    return float(np.median(edges[1::2] - edges[::2])) if edges.size else 0.0


def _width(lines: np.ndarray) -> float:
    """Width of vertical lines: ink pixels per row they cross."""
    return float(lines.sum()) / max(1, int(np.count_nonzero(lines.any(axis=1))))


def _span(line: np.ndarray) -> int:
    return int(np.count_nonzero(line.any(axis=0)))


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
    for top, bottom in _bands(np.asarray(long_h.any(axis=1)), h):
        if bottom - top <= thin:
            bands.append((top, bottom))
            continue
        if straight is None:
            straight = np.asarray(_runs(mask, int(0.6 * w), axis=1).any(axis=1))
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
    spread = float(((x - x.mean()) ** 2).sum()) if x.size else 0.0
    if spread > 0:  # least squares line through the line-only columns
        slope = float(((x - x.mean()) * (y - y.mean())).sum()) / spread
        offset = float(y.mean()) - slope * float(x.mean())
    else:
        slope, offset = 0.0, float(np.median(ys))
    near = np.abs(ys - (offset + slope * xs)) <= thickness / 2 + 1
    line[ys[near] + top, xs[near]] = True
    return line, thickness


def _runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Pixels of ``mask`` lying in a straight run of at least ``length`` along ``axis``."""
    if length < 2:
        return mask.copy()
    length |= 1  # odd: erosion and dilation then use the same centred window
    # zeros beyond the edges: a run that reaches the border is not mirrored into a longer one
    core = ndimage.minimum_filter1d(mask.astype(np.uint8), length, axis=axis, mode="constant", cval=0)
    return ndimage.maximum_filter1d(core, length, axis=axis).astype(bool) & mask


def _bands(rows: np.ndarray, max_thickness: int) -> list[tuple[int, int]]:
    """Runs of True in ``rows`` no thicker than ``max_thickness``: ``(start, stop)``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rows.astype(np.int8), [0]])))
    pairs = list(zip(edges[::2], edges[1::2], strict=True))
    return [(a, b) for a, b in pairs if b - a <= max_thickness]


def remove_margins(mask: np.ndarray) -> np.ndarray:
    """Drop what scanning adds at the image edges: dark strips along a side, dark corners.

    A strip is a piece of ink lying within a run of nearly full columns (or
    rows) at an edge, at most a fifth of the image wide, with paper after
    it; a dark corner is a piece of ink that touches two edges and lies
    within the corner's third of the image.  A digit's own bar along the
    edge of a tight crop stays: it is joined to the rest of the digit.
    """
    h, w = mask.shape
    if h < 12 or w < 12:
        return mask
    margin = np.zeros_like(mask)  # the strips' lines
    for axis, size in ((0, w), (1, h)):  # the columns' fill (left, right), then the rows'
        fill = np.count_nonzero(mask, axis=axis) / mask.shape[axis]
        for step in (1, -1):
            depth = _strip_depth(fill[::step], size)
            if depth:
                edge = slice(0, depth) if step == 1 else slice(size - depth, size)
                if axis == 0:
                    margin[:, edge] = True
                else:
                    margin[edge, :] = True
    strips = bool(margin.any())
    if not strips and not _ink_in_a_corner(mask):
        return mask  # most scans stop here
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    drop = np.zeros(count + 1, dtype=bool)
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if strips and margin[rows, cols][labels[rows, cols] == index].all():
            drop[index] = True  # wholly inside a strip
        touches = (rows.start == 0 or rows.stop == h) and (cols.start == 0 or cols.stop == w)
        if touches and rows.stop - rows.start <= h / 3 and cols.stop - cols.start <= w / 3:
            drop[index] = True  # a dark corner
    return mask & ~drop[labels] if drop.any() else mask


def _ink_in_a_corner(mask: np.ndarray) -> bool:
    """Ink on both edges near some corner: where a dark corner would show."""
    h, w = mask.shape
    rows, cols = h // 3, w // 3
    corners = (
        (mask[0, :cols], mask[:rows, 0]),
        (mask[0, w - cols :], mask[:rows, -1]),
        (mask[-1, :cols], mask[h - rows :, 0]),
        (mask[-1, w - cols :], mask[h - rows :, -1]),
    )
    return any(along.any() and down.any() for along, down in corners)


def _strip_depth(fill: np.ndarray, size: int) -> int:
    """How many lines from the edge form a dark strip (0: none)."""
    full = 0
    while full < len(fill) and fill[full] >= 0.6:
        full += 1
    depth = full
    while depth < min(len(fill), full + 2) and fill[depth] >= 0.3:  # its soft edge
        depth += 1
    if full == 0 or depth > 0.2 * size or depth >= len(fill) or fill[depth] >= 0.3:
        return 0
    return depth
