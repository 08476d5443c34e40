"""The OpenCV conversion (image.grid) does each documented step, checked against a plain numpy/scipy/Pillow
reading of its docstrings, on varied real scan files: every format and mode, boxes, underlines, scanner
edges, noise, inverted, tiny and huge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from helpers import save_scan  # noqa: E402
import synth  # noqa: E402
import writers  # noqa: E402

from batchdigits.image import grid, rules  # noqa: E402
from batchdigits.image.convert import Task, convert_chunk, convert_file, decode_file  # noqa: E402



def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def write_scans(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` varied scan files: every synth profile (boxes, underlines, scanner edges, tiny, huge,
    inverted, noise, ...) and writer-proxy samples, in PNG/JPEG/BMP/TIFF and several modes."""
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
        if i % 37 == 5:  # a thumbnail under 12 px
            img = img.resize((max(1, img.width * 11 // max(img.size)), max(1, img.height * 11 // max(img.size))))
        paths.append(save_scan(img, folder / f"{i:04d}_{d}", i))
    return paths


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_scans(tmp_path_factory.mktemp("scans"), 160, seed=12)


@pytest.fixture(scope="module")
def grays(scans: list[Path]) -> list[np.ndarray]:
    out = [decode_file(str(p))[0] for p in scans]
    assert all(g is not None for g in out)
    return out


# ---------------------------------------------------------------------------
# The documented algorithm, written plainly (numpy, scipy.ndimage, Pillow)
# ---------------------------------------------------------------------------


def reference_ink(gray: np.ndarray) -> np.ndarray | None:
    """Step 1 as the docstring says: paper = median of the outer ring (max(2, side/10) px), ink on the
    side the 0.5/99.5 percentiles reach further, scaled so that extreme is 255; blank under 48."""
    g = gray.astype(np.float64)
    lo, hi = np.percentile(g, [0.5, 99.5])
    r = max(2, min(g.shape) // 10)
    paper = float(np.median(np.concatenate([g[:r].ravel(), g[-r:].ravel(), g[r:-r, :r].ravel(),
                                            g[r:-r, -r:].ravel()])))
    dark = (paper - lo) >= (hi - paper)
    contrast = (paper - lo) if dark else (hi - paper)
    if contrast < grid.MIN_CONTRAST:
        return None
    levels = np.arange(256.0)
    table = np.clip(np.rint((paper - levels) * ((255.0 if dark else -255.0) / contrast)), 0, 255)
    return table.astype(np.uint8)[gray]


def reference_otsu(ink: np.ndarray) -> np.ndarray:
    """Step 2's threshold: the split of the 256 levels with the largest between-class variance, held in 64..191."""
    hist = np.bincount(ink.ravel(), minlength=256).astype(np.float64)
    w0 = np.cumsum(hist)[:-1]  # class 0: levels 0..t, for t = 0..254
    w1 = hist.sum() - w0
    s0 = np.cumsum(hist * np.arange(256.0))[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (s0 / w0 - (s0[-1] + 255 * hist[-1] - s0) / w1) ** 2
    threshold = int(np.argmax(np.nan_to_num(between, nan=-1.0)))
    return ink > min(max(threshold, 64), 191)


def reference_specks(mask: np.ndarray) -> np.ndarray | None:
    """Step 2's last part: 8-connected pieces under 8 % of the largest (or of 1 px) go; under 3 px: None."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.concatenate([[False], sizes >= max(0.08 * sizes.max(), 2.0)])
        mask = keep[labels]
    return mask if mask.sum() >= 3 else None


def reference_runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """The rules' long runs: an opening by a line (odd length), zeros beyond the edges."""
    if length < 2:
        return mask.copy()
    length |= 1
    core = ndimage.minimum_filter1d(mask.astype(np.uint8), length, axis=axis, mode="constant", cval=0)
    return ndimage.maximum_filter1d(core, length, axis=axis).astype(bool) & mask


def reference_thicken(bitmap: np.ndarray) -> np.ndarray:
    """Step 4: signed city-block distance to the strokes' edge (scipy's chamfer), halved twice with the
    1 3 3 1 filter (edges renormalised), the TARGET_INK lowest."""
    strokes = bitmap.astype(bool)
    edge = strokes.copy()
    edge[1:-1, 1:-1] &= ~(strokes[:-2, 1:-1] & strokes[2:, 1:-1] & strokes[1:-1, :-2] & strokes[1:-1, 2:])
    to_edge = ndimage.distance_transform_cdt(~edge, metric="taxicab").astype(np.float64)
    signed = np.where(strokes, -1.0 - to_edge, to_edge)

    def halve(v: np.ndarray) -> np.ndarray:
        padded = np.pad(v, ((1, 1), (0, 0)))
        out = padded[0:-3:2] + 3 * padded[1:-2:2] + 3 * padded[2:-1:2] + padded[3::2]
        out *= 7.0
        out[[0, -1]] *= 8.0 / 7.0  # whole numbers: 8 instead of 7
        return out

    small = halve(halve(signed).T).T
    k = grid.TARGET_INK
    return small < np.partition(small.ravel(), k)[k]


def pillow_upright(strokes: np.ndarray) -> np.ndarray:
    """Step 3 with Pillow's exact bilinear affine transform instead of OpenCV's (1/32 px) one."""
    strong = strokes > grid.STRONG
    ys, xs = np.nonzero(strong if strong.any() else strokes)
    w = strokes[ys, xs].astype(np.float64)
    cy, cx = (ys @ w) / w.sum(), (xs @ w) / w.sum()
    var = ((ys - cy) ** 2 @ w) / w.sum()
    slope = float(np.clip(((xs - cx) * (ys - cy)) @ w / w.sum() / var, -1, 1)) if ys.size >= 3 and var > 0 else 0.0
    upright = xs - slope * (ys - cy)
    x0, x1, y0, y1 = upright.min(), upright.max() + 1, ys.min(), ys.max() + 1.0
    width = max(int(round(min((x1 - x0) * 64 / (y1 - y0), grid.MAX_WIDTH * 2))), 1)
    left = int(round((64 - width) / 2))
    sx, sy = (x1 - x0) / width, (y1 - y0) / 64
    coeffs = (sx, slope * sy, x0 - left * sx + slope * (y0 - cy - 0.5), 0.0, sy, y0)
    img = Image.fromarray(strokes.astype(np.float32), mode="F")
    out = np.asarray(img.transform((64, 64), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR))
    return out > grid.STRONG


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_each_step_is_the_documented_one_on_varied_scans(grays: list[np.ndarray], monkeypatch) -> None:
    calls = {"rules": 0, "margins": 0}
    real_rules, real_margins = rules.remove_stacked_rules, rules.remove_found_margins

    def counted_rules(stack: np.ndarray, shapes: np.ndarray, which: np.ndarray) -> None:
        before = stack[which].copy()
        real_rules(stack, shapes, which)
        calls["rules"] += int(np.count_nonzero((stack[which] != before).any(axis=(1, 2))))  # masks it removed from

    def counted_margins(m: np.ndarray, *more) -> np.ndarray:
        out = real_margins(m, *more)
        calls["margins"] += out is not m and not np.array_equal(out, m)  # it removed something
        return out

    monkeypatch.setattr(grid, "remove_stacked_rules", counted_rules)
    monkeypatch.setattr(grid, "remove_found_margins", counted_margins)
    blanks = 0
    differ: list[float] = []
    for gray in grays:
        small = grid.shrink_to_input(gray)
        ink = grid.ink_strength(small)
        expected = reference_ink(small)
        assert same(ink, expected)
        if ink is None:
            blanks += 1
            continue
        np.testing.assert_array_equal(grid.otsu_mask(ink).view(bool), reference_otsu(ink))
        lines = rules.remove_margins(rules.remove_rules(reference_otsu(ink)))
        cleaned = grid.clean_mask(ink)
        assert same(None if cleaned is None else cleaned.view(bool), reference_specks(lines))
        if cleaned is None:
            continue
        strokes = cv2.multiply(ink, cleaned)
        bitmap = grid.upright_in_box(strokes)
        differ.append(np.count_nonzero(bitmap.view(bool) != pillow_upright(strokes)) / max(1, bitmap.sum()))
        np.testing.assert_array_equal(grid.thicken(bitmap), reference_thicken(bitmap))
        counts = grid.block_counts(grid.thicken(bitmap))
        np.testing.assert_array_equal(counts, reference_thicken(bitmap).reshape(8, 4, 8, 4).sum(axis=(1, 3)))
    # the set reaches every step: lines and margins removed on some scans, few blanks
    assert calls["rules"] >= 5 and calls["margins"] >= 3, calls
    assert blanks < 10 and len(differ) > 130
    # OpenCV places its samples to 1/32 px and rounds to 8 bits: the bitmap is Pillow's but for a few
    # pixels at the strokes' edges (measured: median 0.15 %; the most, 23 %, on a thumbnail drawn 6x larger)
    q95 = float(np.percentile(differ, 95))
    assert np.median(differ) < 0.005 and q95 < 0.08 and max(differ) < 0.35, (np.median(differ), q95, max(differ))
    assert any(min(g.shape) < 12 for g in grays) and any(g.shape == (64, 64) or max(g.shape) == 64 for g in grays)


def test_long_runs_are_scipys_opening_by_a_line(grays: list[np.ndarray]) -> None:
    """The form-line rules find long runs with OpenCV's running sums: the same pixels as min/max filters."""
    rng = np.random.default_rng(5)
    masks = [g < 128 for g in grays[:60]] + [rng.random((int(h), int(w))) > 0.3
                                               for h, w in rng.integers(1, 70, (40, 2))]
    for mask in masks:
        for axis in (0, 1):
            for length in (1, 2, 5, int(0.6 * mask.shape[1 - axis]), mask.shape[1 - axis] + 3):
                got = rules._runs(mask, length, axis).view(bool)
                np.testing.assert_array_equal(got, reference_runs(mask, length, axis), err_msg=f"{length} {axis}")


def test_odd_inputs_give_grids_and_blanks() -> None:
    one = np.full((40, 30), 255, np.uint8)
    one[5:35, 13:17] = 0
    grid8 = np.random.default_rng(3).integers(0, 17, (8, 8)).astype(np.uint8)
    np.testing.assert_array_equal(grid.image_to_grid(grid8), grid8)  # an 8x8 grid, taken as it is
    np.testing.assert_array_equal(grid.image_to_grid(one.astype(np.float64)), grid.image_to_grid(one))
    huge = np.asarray(Image.fromarray(one).resize((300, 400), Image.Resampling.BILINEAR))
    assert np.abs(grid.image_to_grid(huge) - grid.image_to_grid(one)).mean() < 1.0
    assert grid.image_to_grid(one[::4, ::4].copy()) is not None  # 10 x 8 px
    assert grid.image_to_grid(np.full((30, 30), 200, np.uint8)) is None
    assert grid.image_to_grid(np.zeros((30, 30), np.uint8)) is None  # all ink, no paper
    assert grid.image_to_grid(np.full((1, 500), 255.0)) is None
    nan = one.astype(np.float64)
    nan[0, 0] = np.nan
    assert grid.image_to_grid(nan) is not None
    with pytest.raises(ValueError, match="2-D"):
        grid.image_to_grid(np.zeros((4, 4, 3)))


def test_a_chunk_answers_like_each_file_converted_alone(tmp_path: Path, scans: list[Path]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    blank = tmp_path / "blank.bmp"
    Image.new("L", (50, 60), 230).save(blank)
    paths = [str(p) for p in scans[:40]] + [str(broken), str(blank), str(tmp_path / "missing.png")]
    answers = convert_chunk([Task(p) for p in paths] + [Task("x.png", error="refused")])
    assert len(answers) == len(paths) + 1
    for path, answer in zip(paths, answers[: len(paths)], strict=True):
        grid_, error = convert_file(path)
        assert same(answer.grid, grid_) and answer.error == error
        assert answer.grid is None or answer.grid.dtype == np.uint8
    assert answers[-1].error == "refused" and answers[-1].grid is None
    assert answers[len(paths) - 3].error and answers[len(paths) - 2].grid is None
    assert cv2.getNumThreads() == 1  # pinned by the worker entry point


def test_grids_are_the_same_in_another_process_with_any_opencv_threads(tmp_path: Path, scans: list[Path]) -> None:
    """Deterministic: a fresh process with OpenCV's default threads gives byte-identical grids."""
    paths = [str(p) for p in scans[:60]]
    here = np.stack([g if g is not None else np.full((8, 8), 255, np.uint8)
                     for g, _ in (convert_file(p) for p in paths)])
    code = (
        "import sys, cv2, numpy as np\n"
        "cv2.setNumThreads(4)\n"
        "from batchdigits.image.convert import convert_file\n"
        "grids = [convert_file(p)[0] for p in sys.argv[2:]]\n"
        "np.save(sys.argv[1], np.stack([g if g is not None else np.full((8, 8), 255, np.uint8) for g in grids]))\n"
    )
    out = tmp_path / "grids.npy"
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FOR_THREADS_NUM"}
    subprocess.run([sys.executable, "-c", code, str(out), *paths], check=True, env=env)
    assert np.load(out).tobytes() == here.tobytes()
