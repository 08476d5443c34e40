"""The form-line rules computed for many masks at once (rules.remove_stacked_rules) give each mask what it gets
alone, next to any neighbours; the lines fitted on exact sums are the pixels of the one-line fit (_line_pixels)."""

from __future__ import annotations

import numpy as np

from batchdigits.image import rules


def lined_masks(n: int, seed: int) -> list[np.ndarray]:
    """Masks of 12-64 px with strokes, ruled lines (thin, thick, tilted, touching the strokes), boxes' sides,
    gaps; and some that are nothing but lines."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(12, 65, 2))
        m = np.zeros((h, w), bool)
        for _ in range(int(rng.integers(0, 5))):  # strokes
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[max(0, y - int(rng.integers(0, 25))) : y + 1, max(0, x - int(rng.integers(0, 5))) : x + 1] = True
        for _ in range(int(rng.integers(0, 4))):  # lines across, maybe tilted
            y, thick = int(rng.integers(0, h)), int(rng.integers(1, 5))
            x0, x1 = int(rng.integers(0, w // 3 + 1)), int(rng.integers(2 * w // 3, w + 1))
            slope = rng.normal(0, 0.04)
            for x in range(x0, x1):
                top = min(h - 1, max(0, int(y + slope * x)))
                m[top : top + thick, x] = True
        if rng.random() < 0.35:  # sides down: a box
            t = int(rng.integers(1, 3))
            m[:, :t] |= rng.random() < 0.8
            m[:, w - t :] |= rng.random() < 0.8
        if rng.random() < 0.2:
            m &= rng.random((h, w)) > 0.03
        masks.append(m)
    return masks


def test_a_stack_of_masks_gives_each_mask_its_own_answer() -> None:
    masks = lined_masks(400, seed=3)
    alone = [rules.remove_rules(m) for m in masks]
    assert sum(not np.array_equal(a, m) for a, m in zip(alone, masks, strict=True)) > 30  # lines removed
    side = max(max(m.shape) for m in masks) + 2
    for order in (np.arange(len(masks)), np.random.default_rng(4).permutation(len(masks))):
        stack = np.zeros((len(masks), side, side), np.uint8)
        shapes = np.array([masks[i].shape for i in order])
        for tile, i in zip(stack, order, strict=True):
            tile[: masks[i].shape[0], : masks[i].shape[1]] = masks[i]
        rules.remove_stacked_rules(stack, shapes, np.flatnonzero(rules.may_hold_lines(stack, shapes)))
        for tile, i in zip(stack, order, strict=True):
            h, w = masks[i].shape
            np.testing.assert_array_equal(tile[:h, :w].view(bool), alone[i])
            assert not tile[h:].any() and not tile[:, w:].any()


def test_lines_fitted_together_are_the_one_line_fits() -> None:
    rng = np.random.default_rng(7)
    masks = lined_masks(300, seed=5)
    # exact ties: a level line with a symmetric bump (the fit lands on half rows), a vertical stub (no spread)
    tie = np.zeros((30, 40), bool)
    tie[10:12, 2:38] = True
    tie[12, 19:21] = True
    stub = np.zeros((30, 40), bool)
    stub[10:13, 5] = True
    masks += [tie, stub]
    side = 66
    stack = np.zeros((len(masks), side, side), bool)
    tiles, tops, bottoms = [], [], []
    for i, m in enumerate(masks):
        stack[i, : m.shape[0], : m.shape[1]] = m
        rows = np.flatnonzero(m.any(axis=1))
        for _ in range(3 if rows.size else 0):
            top = int(rng.choice(rows))
            tiles.append(i)
            tops.append(top)
            bottoms.append(min(m.shape[0], top + int(rng.integers(1, 8))))
    bands = rules._Bands(np.array(tiles), np.array(tops), np.array(bottoms), np.ones(len(tiles), bool))
    seg, ys, xs, thickness = rules._stacked_line_pixels(stack, bands)
    for b, (i, top, bottom) in enumerate(zip(tiles, tops, bottoms, strict=True)):
        line, expected = rules._line_pixels(stack[i], top, bottom)
        got = np.zeros_like(line)
        got[ys[seg == b], xs[seg == b]] = True
        np.testing.assert_array_equal(got, line, err_msg=f"band {b}")
        assert thickness[b] == expected


def test_an_underline_with_no_line_down_the_sides_is_removed() -> None:
    """No edge column holds a line down: the runs of no columns at all (OpenCV 4.10 reduced them to None)."""
    mask = np.zeros((40, 40), bool)
    mask[5:35, 18:22] = True  # a "1"
    mask[37, 1:39] = True  # an underline
    stack = np.zeros((1, 42, 42), np.uint8)
    stack[0, :40, :40] = mask
    shapes = np.array([[40, 40]])
    assert rules.may_hold_lines(stack, shapes).tolist() == [True]
    rules.remove_stacked_rules(stack, shapes, np.array([0]))
    assert not stack[0, 37].any() and stack[0, 5:35, 18:22].all()
    assert rules._long_runs(np.zeros((0, 12), np.uint8), np.zeros(0, np.int64)).shape == (0, 12)
