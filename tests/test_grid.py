"""The image -> grid conversion: faithful to load_digits, invariant where it should be."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from batchdigits.image.grid import image_to_grid
from batchdigits.image.render import grid_to_bitmap, grid_to_image
from batchdigits.image.transformer import GridTransformer

DIGITS = load_digits()
GRIDS = DIGITS.images[:200].astype(int)


@pytest.mark.parametrize("size", [32, 64])
def test_a_drawn_grid_converts_back_almost_equal(size):
    back = np.array([image_to_grid(grid_to_image(g, size)) for g in GRIDS])
    assert back.shape == GRIDS.shape and back.min() >= 0 and back.max() <= 16
    assert np.abs(back - GRIDS).mean() < 1.5  # cells are 0..16; measured ~1.2
    assert np.abs(back - GRIDS).mean(axis=(1, 2)).max() < 4.0
    # the statistics of load_digits are kept
    assert abs(back.mean() - GRIDS.mean()) < 0.2
    assert abs((back == 0).mean() - (GRIDS == 0).mean()) < 0.03
    assert (back > 0).any(axis=2).all()  # every digit spans all 8 rows


def test_drawn_grids_keep_their_labels():
    model = make_pipeline(SVC(gamma=0.001, C=10)).fit(DIGITS.data[200:], DIGITS.target[200:])
    back = np.array([image_to_grid(grid_to_image(g, 48)).ravel() for g in GRIDS])
    assert np.mean(model.predict(back) == DIGITS.target[:200]) > 0.9  # measured 0.935


def test_both_polarities_give_the_same_grid():
    for g in GRIDS[:30]:
        img = grid_to_image(g, 64)
        np.testing.assert_array_equal(image_to_grid(img), image_to_grid(255 - img))


def test_paper_tone_and_low_contrast_ink_give_nearly_the_same_grid():
    for g in GRIDS[:20]:
        img = grid_to_image(g, 64).astype(np.float64)
        toned = 200 - (255 - img) * 0.5  # grey paper, faded ink
        diff = np.abs(image_to_grid(toned) - image_to_grid(img)).mean()
        assert diff < 1.0


def test_a_slightly_rotated_or_shifted_digit_gives_nearly_the_same_grid():
    for g in GRIDS[:30]:
        img = grid_to_image(g, 64)
        base = image_to_grid(img)
        rotated = np.asarray(Image.fromarray(img).rotate(3, Image.Resampling.BILINEAR, fillcolor=255))
        assert np.abs(image_to_grid(rotated) - base).mean() < 1.5
        small = grid_to_image(g, 48)  # same image size before and after the shift: no resampling
        centred = np.pad(small, ((3, 3), (4, 5)), constant_values=255)
        shifted = np.pad(small, ((6, 0), (9, 0)), constant_values=255)
        assert np.abs(image_to_grid(shifted) - image_to_grid(centred)).mean() < 0.5


def test_the_same_digit_scanned_at_another_size_gives_nearly_the_same_grid():
    diffs = []
    for g in GRIDS[:30]:
        img = grid_to_image(g, 64)
        base = image_to_grid(img)
        for side in (40, 73, 128):  # below, just above and twice the working size
            resized = np.asarray(Image.fromarray(img).resize((side, side), Image.Resampling.BILINEAR))
            diffs.append(np.abs(image_to_grid(resized) - base).mean())
    assert max(diffs) < 1.5  # as for a 3-degree rotation
    assert np.mean(diffs) < 0.3


def test_an_underline_or_a_box_is_not_part_of_the_digit():
    for g in GRIDS[:20]:
        img = np.pad(grid_to_image(g, 64), 16, constant_values=255)
        base = image_to_grid(img)
        underlined = img.copy()
        underlined[84:86, 2:-2] = 0
        boxed = img.copy()
        boxed[[2, 3, -3, -4], 2:-2] = 0
        boxed[2:-2, [2, 3, -3, -4]] = 0
        assert np.abs(image_to_grid(underlined) - base).mean() < 1.0
        assert np.abs(image_to_grid(boxed) - base).mean() < 1.0


def test_a_box_the_digit_touches_or_nearly_fills_is_removed():
    diffs = []
    for g in GRIDS[:30]:
        digit = grid_to_image(g, 64)
        base = image_to_grid(np.pad(digit, 16, constant_values=255))
        img = np.pad(digit, ((2, 2), (3, 1)), constant_values=255)  # the digit touches the right side
        img[[0, -1], :] = 60  # a thin grey box on the image edge
        img[:, [0, -1]] = 60
        diffs.append(np.abs(image_to_grid(img) - base).mean())
    assert np.mean(diffs) < 0.6  # measured 0.31; 0.83 before boxes touching the digit were found
    assert max(diffs) < 1.5


def test_a_digits_own_bar_in_a_tight_crop_is_not_taken_for_a_line():
    seven = np.full((64, 48), 255, np.uint8)
    seven[0:7, :] = 0  # the bar, edge to edge as in a tight crop
    for y in range(7, 64):  # the stem, from the right end of the bar down to the left
        x = int(44 - 0.55 * (y - 7))
        seven[y, x : x + 6] = 0
    four = np.full((64, 48), 255, np.uint8)
    four[0:64, 30:37] = 0  # stem
    four[40:47, 0:48] = 0  # crossbar in the lower half, longer than the rest of the digit
    for y in range(0, 40):
        x = int(30 - 0.75 * y)
        four[y, max(x, 0) : max(x, 0) + 6] = 0
    for img in (seven, four):
        bitmap_rows = image_to_grid(img).sum(axis=1)
        full = image_to_grid(np.pad(img, 20, constant_values=255)).sum(axis=1)
        np.testing.assert_allclose(bitmap_rows, full, atol=12)  # the bar's rows keep their ink


def test_dark_scanner_edges_and_corners_are_not_part_of_the_digit():
    diffs = {"left strip": [], "top strip": [], "corner": []}
    for g in GRIDS[:30]:
        img = np.pad(grid_to_image(g, 64), 12, constant_values=255)
        base = image_to_grid(img)
        left, top, corner = img.copy(), img.copy(), img.copy()
        left[:, :5] = 20  # the scanner lid's shadow along one side
        top[:4, :] = 40
        for i in range(14):  # a folded, dark corner
            corner[i, : 14 - i] = 10
        for name, scan in (("left strip", left), ("top strip", top), ("corner", corner)):
            diffs[name].append(np.abs(image_to_grid(scan) - base).mean())
    for name, values in diffs.items():
        assert np.mean(values) < 0.3, name  # measured 0.0; 4.7 when the edges were kept


def test_a_bold_digit_filling_a_tight_crop_keeps_its_polarity():
    yy, xx = np.mgrid[0:64, 0:44]
    r = np.hypot((xx - 21.5) / 22, (yy - 31.5) / 32)
    zero = np.where((r < 1.0) & (r > 0.42), 0, 255).astype(np.uint8)  # ink is most of the crop
    assert (zero == 0).mean() > 0.5
    tight, padded = image_to_grid(zero), image_to_grid(np.pad(zero, 16, constant_values=255))
    assert np.abs(tight - padded).mean() < 1.0
    assert tight[3:5, 3:5].max() <= 4  # the hole of the 0 is paper, not ink


def test_blank_images_have_no_grid():
    rng = np.random.default_rng(0)
    assert image_to_grid(np.full((50, 40), 255, np.uint8)) is None
    assert image_to_grid(np.zeros((50, 40), np.uint8)) is None
    faint = 230 + rng.integers(0, 8, (50, 40))  # paper grain, no ink
    assert image_to_grid(faint) is None


def test_an_8x8_image_is_taken_as_a_grid():
    g = GRIDS[0]
    np.testing.assert_array_equal(image_to_grid(g.astype(np.uint8)), g)
    scaled = 255 - np.rint(g * 255 / 16)  # dark ink on white, 0..255
    np.testing.assert_array_equal(image_to_grid(scaled), g)


def test_grid_to_bitmap_counts_back_exactly():
    for g in GRIDS[:50]:
        bitmap = grid_to_bitmap(g)
        assert bitmap.shape == (32, 32)
        np.testing.assert_array_equal(bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)), g)


def test_grid_transformer_in_a_pipeline():
    images = [grid_to_image(g, 40) for g in DIGITS.images[:300]]
    pipe = make_pipeline(GridTransformer(), SVC(gamma=0.001, C=10))
    pipe.fit(images[:250], DIGITS.target[:250])
    assert GridTransformer().fit_transform(images[:3]).shape == (3, 64)
    assert np.mean(pipe.predict(images[250:]) == DIGITS.target[250:300]) > 0.85
