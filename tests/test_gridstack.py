"""The stacked conversion (gridstack.images_to_grids) gives the per-image reference's grids."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import synth  # noqa: E402
import writers  # noqa: E402

from batchdigits.image.convert import Task, convert_chunk, convert_file, decode_file  # noqa: E402
from batchdigits.image.grid import CITY_BLOCK, image_to_grid  # noqa: E402
from batchdigits.image import gridstack  # noqa: E402
from batchdigits.image.gridstack import city_block_distance, images_to_grids  # noqa: E402

FORMATS = ("png", "jpg", "bmp", "tif")


def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def write_scans(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` varied scan files: every synth profile (boxes, underlines, scanner edges, tiny,
    huge, inverted, ...) and writer-proxy samples, in PNG/JPEG/BMP/TIFF, gray and RGB."""
    rng = np.random.default_rng(seed)
    pool = writers.make_writers(writers.DEV_SEED, 8)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        d = i % 10
        if i % 3 == 0:
            img = writers.render_sample(pool[i % len(pool)], d, i)
        else:
            kind = synth.PROFILE_NAMES[i % len(synth.PROFILE_NAMES)]
            size = None if kind in ("tiny", "huge") else int(rng.integers(20, 230))
            img = synth.make_scan(d, rng, kind, size=size)
        if i % 37 == 5:  # a thumbnail under 12 px: the per-image path
            img = img.resize((max(1, img.width * 11 // max(img.size)), max(1, img.height * 11 // max(img.size))))
        path = folder / f"{i:04d}_{d}.{FORMATS[i % len(FORMATS)]}"
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_scans(tmp_path_factory.mktemp("scans"), 260, seed=12)


def test_stacked_grids_equal_per_image_grids_on_varied_scans(
    scans: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    grays = [decode_file(str(p))[0] for p in scans]
    assert all(g is not None for g in grays)
    calls = {"remove_rules": 0, "remove_margins": 0}
    for name in calls:  # count the images that take the irregular steps
        real = getattr(gridstack, name)
        monkeypatch.setattr(gridstack, name, lambda m, real=real, name=name: calls.__setitem__(
            name, calls[name] + 1) or real(m))
    stacked: list[np.ndarray | None] = []
    for start in range(0, len(grays), 64):  # the workers' chunks
        stacked += images_to_grids(grays[start : start + 64])
    reference = [image_to_grid(g) for g in grays]
    differ = [str(p.name) for p, a, b in zip(scans, stacked, reference, strict=True) if not same(a, b)]
    assert differ == []
    # the set reaches the irregular steps, but only for some images, and the per-image fallback
    assert all(5 <= count < len(grays) // 3 for count in calls.values()), calls
    assert any(min(g.shape) < 12 for g in grays)
    assert sum(a is None for a in reference) < 10


def test_one_image_gives_the_same_grid_alone_and_in_any_stack(scans: list[Path]) -> None:
    """Nothing leaks between the images of a stack (labels, distances, histograms)."""
    grays = [decode_file(str(p))[0] for p in scans[:48]]
    alone = [images_to_grids([g])[0] for g in grays]
    mixed = images_to_grids(grays[::-1])[::-1]
    assert all(same(a, b) for a, b in zip(alone, mixed, strict=True))


def test_images_that_touch_across_the_stack_are_labelled_apart() -> None:
    """A speck at the place of a big stroke of the previous image, or just below it, is still a speck."""
    big = np.full((64, 64), 255, np.uint8)
    big[8:64, 20:44] = 0  # down to the bottom row
    digit_and_specks = np.full((64, 64), 255, np.uint8)
    digit_and_specks[5:60, 2:8] = 0  # a "1"
    digit_and_specks[30, 30] = 0  # over the previous image's blot
    digit_and_specks[0, 30] = 0  # in the top row, under the blot's bottom row
    stacked = images_to_grids([big, digit_and_specks])
    assert same(stacked[0], image_to_grid(big))
    assert same(stacked[1], image_to_grid(digit_and_specks))


def test_odd_inputs_take_the_reference_path_in_place() -> None:
    rng = np.random.default_rng(3)
    one = np.full((40, 30), 255, np.uint8)
    one[5:35, 13:17] = 0
    grid8 = rng.integers(0, 17, (8, 8)).astype(np.uint8)
    images = [
        one,
        grid8,  # an 8x8 grid, taken as it is
        one.astype(np.float64) * 0.5,  # float values
        np.asarray(Image.fromarray(one).resize((90, 120))),  # larger than the working size
        one[::4, ::4].copy(),  # 10 x 8 px
        np.full((30, 30), 200, np.uint8),  # blank
        np.zeros((30, 30), np.uint8),  # all ink, no paper: blank
        one.T.copy(),
    ]
    stacked = images_to_grids(images)
    assert len(stacked) == len(images)
    for img, grid in zip(images, stacked, strict=True):
        assert same(grid, image_to_grid(img))
    assert stacked[5] is None and stacked[0] is not None
    np.testing.assert_array_equal(stacked[1], grid8)


@pytest.mark.parametrize("shape", [(5, 64, 64), (3, 17, 40), (2, 1, 9)])
def test_city_block_distance_is_scipys_chamfer_per_image(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    features = rng.random(shape) > 0.97
    features[:, 0, 0] |= ~features.reshape(shape[0], -1).any(axis=1)  # one feature per image
    expected = np.array([ndimage.distance_transform_cdt(~f, metric=CITY_BLOCK) for f in features])
    np.testing.assert_array_equal(city_block_distance(features), expected)


def test_a_chunk_answers_like_each_file_converted_alone(tmp_path: Path, scans: list[Path]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    blank = tmp_path / "blank.bmp"
    Image.new("L", (50, 60), 230).save(blank)
    paths = [str(p) for p in scans[:40]] + [str(broken), str(blank), str(tmp_path / "missing.png")]
    answers = convert_chunk([Task(p) for p in paths] + [Task("x.png", error="refused")])
    assert len(answers) == len(paths) + 1
    for path, answer in zip(paths, answers[: len(paths)], strict=True):
        grid, error = convert_file(path)
        assert same(answer.grid, grid) and answer.error == error
        assert answer.grid is None or answer.grid.dtype == np.uint8
    assert answers[-1].error == "refused" and answers[-1].grid is None
    assert answers[len(paths) - 3].error and answers[len(paths) - 2].grid is None
