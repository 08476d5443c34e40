"""``--min-confidence``: where ok ends and low_confidence begins."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_digits

from helpers import read_csv, run_cli
from imagemaker import save_digit, save_grid


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "zero.png", "zero")
    save_digit(folder / "zero-inverted.jpg", "zero", "RGB", invert=True)
    save_digit(folder / "nothing.png", "blank")
    return folder


def run(folder, out, threshold):
    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--min-confidence", threshold)
    assert result.exit_code == 0, result.stderr
    return {r["path"]: r for r in read_csv(out)}


def test_min_confidence_1_makes_every_classified_file_low_confidence(folder, tmp_path):
    # 8x8 images are read as grids as they are: load_digits' own grids get
    # near-certain predictions (probabilities like 0.99999, written 1.000000)
    for i, grid in enumerate(load_digits().data[:100]):
        save_grid(folder / "grids" / f"{i:03d}.png", grid)

    rows = run(folder, tmp_path / "out.csv", "1.0")

    assert rows["nothing.png"]["status"] == "blank"
    classified = [r for name, r in rows.items() if name != "nothing.png"]
    assert len(classified) == 103
    for row in classified:
        assert row["status"] == "low_confidence", row
        assert row["label"] != "" and row["confidence"] != ""


def test_min_confidence_0_makes_every_classified_file_ok(folder, tmp_path):
    rows = run(folder, tmp_path / "out.csv", "0.0")

    assert rows["nothing.png"]["status"] == "blank"
    classified = [r for name, r in rows.items() if name != "nothing.png"]
    assert len(classified) == 3
    assert all(r["status"] == "ok" and r["label"] != "" for r in classified)


def test_threshold_splits_ok_from_low_confidence(folder, tmp_path):
    reference = run(folder, tmp_path / "all.csv", "0.0")
    conf = float(reference["one.png"]["confidence"])  # the probability within 0.00005

    below = run(folder, tmp_path / "below.csv", f"{conf - 0.0001:.4f}")
    above = run(folder, tmp_path / "above.csv", f"{conf + 0.0001:.4f}")

    assert below["one.png"]["status"] == "ok"
    assert above["one.png"]["status"] == "low_confidence"
    for rows in (below, above):  # the threshold never changes labels or numbers
        assert {k: (r["label"], r["confidence"]) for k, r in rows.items()} == {
            k: (r["label"], r["confidence"]) for k, r in reference.items()
        }


def test_a_confidence_exactly_at_min_confidence_is_ok(tmp_path, default_model):
    """ok means confidence >= --min-confidence: the boundary itself is ok, the next
    float above it makes the same prediction low_confidence."""
    import math

    from batchdigits.run.pipeline import Settings, iter_rows
    from batchdigits.io.files import walk

    folder = tmp_path / "in"
    save_digit(folder / "zero.png", "zero")
    [row] = iter_rows(walk(str(folder)), default_model, Settings(jobs=1))
    exact = row.confidence  # the unrounded probability the CLI compares
    assert row.label == 0 and 0.0 < exact < 1.0

    at = run(folder, tmp_path / "at.csv", repr(exact))["zero.png"]
    above = run(folder, tmp_path / "above.csv", repr(math.nextafter(exact, 1.0)))["zero.png"]

    assert (at["label"], at["status"]) == ("0", "ok")
    assert (above["label"], above["status"]) == ("0", "low_confidence")
    assert at["confidence"] == above["confidence"] == f"{exact:.6f}"
