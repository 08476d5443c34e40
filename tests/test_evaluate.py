"""evaluate: one path rule with train (paths relative to the CSV), per-status accuracy, reliability."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from batchdigits.defaults import DEFAULT_MIN_CONFIDENCE
from batchdigits.image.convert import convert_file
from batchdigits.image.render import grid_to_image
from helpers import one_line_error, run_cli

DIGITS = load_digits()
TEST_IDX = train_test_split(np.arange(len(DIGITS.target)), test_size=0.2, random_state=0)[1]


def write_scans(folder: Path, n: int = 30) -> list[tuple[Path, int]]:
    """``n`` held-out load_digits grids as PNG scans in ``folder/sub/``."""
    items = []
    for k, i in enumerate(TEST_IDX[:n]):
        path = folder / "sub" / f"s{k:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid_to_image(DIGITS.images[i], 48)).save(path)
        items.append((path, int(DIGITS.target[i])))
    return items


def write_labels(csv_path: Path, rows: list[tuple[str, int]]) -> None:
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows(rows)


def test_labels_csv_paths_are_relative_to_the_csv_and_mistakes_to_folder(tmp_path):
    items = write_scans(tmp_path / "scans")
    wrong_label = (items[0][1] + 1) % 10  # one deliberate mistake: the model reads the true digit
    rows = [(f"scans/sub/{p.name}", d) for p, d in items]
    rows[0] = (rows[0][0], wrong_label)
    labels = tmp_path / "labels.csv"  # beside FOLDER, not inside it: paths start with scans/
    write_labels(labels, rows)
    report = tmp_path / "ev.json"
    result = run_cli("evaluate", tmp_path / "scans", "--labels", labels, "--json", report, "--jobs", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["n"] == 30 and not data["unreadable_or_blank"]
    assert data["accuracy"] > 0.8  # resolved against FOLDER it was 0.0 (no file found)
    assert "sub/s00.png" in [m["path"] for m in data["mistakes"]]  # relative to FOLDER, as in the CSV
    assert "held-out" not in result.output and "on 30 labelled images" in result.output


def test_labels_csv_naming_mostly_missing_files_is_an_error(tmp_path):
    items = write_scans(tmp_path / "scans", n=6)
    labels = tmp_path / "scans" / "labels.csv"
    rows = [(f"elsewhere/{p.name}", d) for p, d in items[:4]] + [(f"sub/{p.name}", d) for p, d in items[4:]]
    write_labels(labels, rows)
    for command in (["evaluate", tmp_path / "scans"], ["train", "--no-augment", "--out", tmp_path / "m.skops"]):
        result = run_cli(*command, "--labels", labels)
        assert result.exit_code == 2, result.output
        line = one_line_error(result.output)
        assert "4 of 6 files listed" in line and str(tmp_path / "scans") in line
    assert not (tmp_path / "m.skops").exists()


def test_accuracy_per_status_and_reliability_table(tmp_path, default_model):
    items = write_scans(tmp_path / "eval", n=40)
    Image.new("L", (30, 30), 255).save(tmp_path / "eval" / "sub" / "blank.png")
    rows = [(f"sub/{p.name}", d) for p, d in items] + [("sub/blank.png", 3)]
    write_labels(tmp_path / "eval" / "labels.csv", rows)
    report = tmp_path / "ev.json"
    result = run_cli("evaluate", tmp_path / "eval", "--labels", tmp_path / "eval" / "labels.csv",
                     "--json", report, "--jobs", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    grids = np.array([convert_file(str(p))[0].ravel() for p, _ in items])
    pred, conf = default_model.predict(grids)
    right = pred == np.array([d for _, d in items])
    ok = conf >= DEFAULT_MIN_CONFIDENCE
    statuses = data["per_status"]
    assert statuses["ok"]["count"] == int(ok.sum())
    assert abs(statuses["ok"]["accuracy"] - right[ok].mean()) < 1e-9
    assert statuses["low_confidence"]["count"] == int((~ok).sum())
    assert statuses["blank"] == {"count": 1, "accuracy": 0.0}
    bins = data["reliability"]
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 40
    assert [b["low"] for b in bins] == sorted(b["low"] for b in bins)
    assert abs(sum(b["accuracy"] * b["count"] for b in bins) - right.sum()) < 1e-6
    gaps = [abs(b["confidence"] - b["accuracy"]) for b in bins]
    assert abs(data["ece"] - np.mean(gaps)) < 1e-3
    assert "Accuracy per status" in result.output and "Reliability" in result.output and "ECE" in result.output
    # the review effort over all 41 files: the blank one first (flagged, wrong), then rising confidence
    order = np.argsort(np.where(ok, 1.0, 0.0) + conf / 10, kind="stable")  # not ok first, then confidence
    wrong_left = (~right).sum() + 1 - np.concatenate([[1], 1 + np.cumsum(~right[order])])
    for x, share in data["effort"]["check"].items():
        checked = 1 + int(np.argmax(wrong_left <= float(x) * 41))  # the blank row is checked first
        assert share == pytest.approx(checked / 41), x
    assert data["effort"]["flagged"] == pytest.approx((1 + (~ok).sum()) / 41)
    assert (data["auroc"] is None) == bool(right.all())
    assert "Review effort" in result.output
