"""The writer-level accuracy proxy (benchmarks/writers.py) and its calibration helper (benchmarks/ece.py)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import ece  # noqa: E402
import writers  # noqa: E402

from batchdigits.image.convert import convert_file  # noqa: E402


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_whatever_the_number_of_processes(tmp_path: Path) -> None:
    one = writers.write_set(tmp_path / "a", writers.DEV_SEED, writers=3, per_digit=1, jobs=1)
    two = writers.write_set(tmp_path / "b", writers.DEV_SEED, writers=3, per_digit=1, jobs=2)
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert one == two and a == b
    assert len(a) == 31  # 30 scans + labels.csv
    with open(tmp_path / "a" / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows[:10]] == [str(d) for d in range(10)]
    assert {r["writer"] for r in rows} == {"w00", "w01", "w02"}
    for r in rows:  # real image files that decode, whatever the format
        with Image.open(tmp_path / "a" / r["path"]) as img:
            img.load()
    assert len({Path(r["path"]).suffix for r in rows}) >= 2  # mixed formats


def test_dev_and_test_seeds_give_other_writers() -> None:
    dev = writers.make_writers(writers.DEV_SEED, 5)
    test = writers.make_writers(writers.TEST_SEED, 5)
    assert writers.DEV_SEED != writers.TEST_SEED
    assert [w.forms for w in dev] != [w.forms for w in test]
    assert np.asarray(writers.render_sample(dev[0], 4, 0)).tobytes() != np.asarray(
        writers.render_sample(test[0], 4, 0)).tobytes()


def grid_of(img: Image.Image, path: Path) -> np.ndarray:
    img.save(path)
    grid, error = convert_file(str(path))
    assert grid is not None and not error
    return grid.ravel().astype(float)


def test_a_writer_keeps_its_style_and_writers_differ(tmp_path: Path) -> None:
    """Samples of one writer's "4" are closer to each other than to another writer's "4" of another form."""
    pool = writers.make_writers(writers.DEV_SEED, 20)
    a = next(w for w in pool if w.forms[4] == "open")
    b = next(w for w in pool if w.forms[4] in ("closed", "closed_round"))
    assert (a.slant, a.aspect, a.pen_radius, a.size) != (b.slant, b.aspect, b.pen_radius, b.size)
    ga = [grid_of(writers.render_sample(a, 4, k), tmp_path / f"a{k}.png") for k in range(4)]
    gb = [grid_of(writers.render_sample(b, 4, k), tmp_path / f"b{k}.png") for k in range(4)]
    within = np.mean([np.abs(x - y).sum() for g in (ga, gb) for i, x in enumerate(g) for y in g[i + 1:]])
    between = np.mean([np.abs(x - y).sum() for x in ga for y in gb])
    assert within < 0.8 * between
    sizes_a = {writers.render_sample(a, d, 0).size for d in range(3)}
    assert max(max(s) for s in sizes_a) <= 1.5 * min(max(s) for s in sizes_a)  # one scanner resolution


def test_equal_count_bins_split_sorted_rows_evenly() -> None:
    conf = np.linspace(1.0, 0.0, 25)  # given in descending order
    right = conf > 0.5
    bins = ece.equal_count_bins(conf, right, 10)
    assert [b.count for b in bins] == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
    assert bins[0].low == 0.0 and bins[-1].high == 1.0
    assert all(b.low <= b.high <= n.low for b, n in zip(bins, bins[1:], strict=False))
    assert bins[0].accuracy == 0.0 and bins[-1].accuracy == 1.0


def test_ece_on_hand_made_examples() -> None:
    # two bins of two rows: confidences 0.6 (1 of 2 right) and 0.9 (2 of 2 right)
    assert ece.expected_calibration_error(np.array([0.9, 0.6, 0.9, 0.6]), np.array([1, 1, 1, 0], bool),
                                          n_bins=2) == pytest.approx((0.1 + 0.1) / 2)
    # every bin 80 % right at confidence 0.8: calibrated
    conf = np.full(100, 0.8)
    right = np.tile([True] * 8 + [False] * 2, 10)
    assert ece.expected_calibration_error(conf, right) == pytest.approx(0.0, abs=1e-12)
    # always confident, half right: |1.0 - 0.5| in every bin
    assert ece.expected_calibration_error(np.ones(40), np.arange(40) % 2 == 0, 4) == pytest.approx(0.5)
    # equal-count (not equal-width) bins: 90 rows at 0.95 all right, 10 rows at 0.15 none right.
    # Equal-width bins would give two bins and a gap of (0.05 + 0.15) / 2 = 0.1; equal-count bins
    # give nine bins of 0.95 vs 1.0 and one bin of 0.15 vs 0.0.
    conf = np.r_[np.full(10, 0.15), np.full(90, 0.95)]
    right = np.r_[np.zeros(10, bool), np.ones(90, bool)]
    assert ece.expected_calibration_error(conf, right) == pytest.approx((9 * 0.05 + 0.15) / 10)
    with pytest.raises(ValueError):
        ece.equal_count_bins(np.ones(3), np.ones(4, bool))


