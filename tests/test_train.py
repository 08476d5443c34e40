"""train --data/--labels, evaluate, show and the review sheet, on real files."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from batchdigits.image.convert import convert_file
from batchdigits.learn.model import load_model
from batchdigits.image.render import grid_to_image
from batchdigits.cli.ui import Steps
from helpers import LOG_TIMESTAMP, read_csv, run_cli, run_script

DIGITS = load_digits()
TEST_IDX = train_test_split(np.arange(len(DIGITS.target)), test_size=0.2, random_state=0)[1]


def labelled_tree(root: Path, per_digit: int = 3) -> list[tuple[Path, int]]:
    """Held-out load_digits grids drawn as PNG scans in root/<digit>/."""
    items = []
    for d in range(10):
        for k, i in enumerate(TEST_IDX[DIGITS.target[TEST_IDX] == d][:per_digit]):
            path = root / str(d) / f"scan_{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid_to_image(DIGITS.images[i], 56)).save(path)
            items.append((path, d))
    return items


def test_train_on_a_folder_per_digit_tree(tmp_path):
    """Through the console script: your scans' figure first, each step said as it begins."""
    labelled_tree(tmp_path / "data")
    more = tmp_path / "more"
    more.mkdir()
    Image.fromarray(grid_to_image(DIGITS.images[TEST_IDX[0]], 56)).save(more / "x.png")
    (more / "labels.csv").write_text(f"path,label\nx.png,{DIGITS.target[TEST_IDX[0]]}\nsmudge.png,\n")
    out = tmp_path / "m.skops"
    proc = run_script("train", "--data", tmp_path / "data", "--labels", more / "labels.csv", "--no-augment",
                      "--out", out, "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    # the report (stdout, no terminal): timestamped lines, your held-out scans before load_digits
    report = [line for line in proc.stdout.splitlines() if line.strip()]
    assert all(LOG_TIMESTAMP.match(line) for line in report), proc.stdout
    report = [LOG_TIMESTAMP.sub("", line) for line in report]
    assert re.fullmatch(r"accuracy on your held-out scans [01]\.\d{4} on 7 \(20 % of your labelled scans, "
                        r"not trained on\)", report[0]), report[:3]
    assert re.fullmatch(r"accuracy on the load_digits holdout 0\.9\d{3} on 360", report[1]), report[:3]
    assert report[2].endswith("on 367 held-out images (yours and load_digits' together)")
    assert "Confusion matrix (rows: true, columns: predicted)" in report and "precision" in proc.stdout
    # what it is doing (stderr): a timestamped line as each step begins, in order
    talk = [LOG_TIMESTAMP.sub("", line) for line in proc.stderr.splitlines()]
    assert f"1 row of {more / 'labels.csv'} labelled 'not a digit' skipped" in talk
    steps = ["converting 31 labelled scans...", "making shifted copies of load_digits...",
             "fitting the svc model twice, side by side", f"saving the model to {out}..."]
    where = [next(i for i, line in enumerate(talk) if line.startswith(step)) for step in steps]
    assert where == sorted(where) and all(LOG_TIMESTAMP.match(proc.stderr.splitlines()[i]) for i in where)
    model = load_model(out)
    meta = model.metadata
    assert "31 labelled scans" in meta["training_data"] and "load_digits" in meta["training_data"]
    assert meta["class_counts"][3] > 3 and meta["holdout_accuracy"] > 0.95
    assert list(model.classes) == list(range(10))


def test_train_steps_animate_on_a_terminal_only():
    tty = Console(file=io.StringIO(), force_terminal=True, width=100)
    pipe = Console(file=io.StringIO(), force_terminal=False, width=100)
    for console in (tty, pipe):
        with Steps(console) as step:
            step("making copies")
            step("fitting")
    on_tty, on_pipe = tty.file.getvalue(), pipe.file.getvalue()
    assert re.search(r"making copies: \d+\.\ds\s.*fitting: \d+\.\ds", on_tty, re.S)  # each step's time
    assert "\x1b[" in on_tty  # drawn live (cursor codes)
    lines = on_pipe.splitlines()
    assert [LOG_TIMESTAMP.sub("", line) for line in lines] == ["making copies...", "fitting..."]
    assert all(LOG_TIMESTAMP.match(line) for line in lines) and "\x1b[" not in on_pipe


def test_train_on_a_labels_csv_without_the_builtin_set(tmp_path):
    items = labelled_tree(tmp_path / "scans", per_digit=4)
    labels = tmp_path / "scans" / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        for path, d in items:
            writer.writerow([path.relative_to(labels.parent).as_posix(), d])
    out = tmp_path / "mine.skops"
    result = run_cli("train", "--labels", labels, "--no-builtin", "--out", out)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    # each scan of the user's also enters as 2 shifted and 3 distorted copies (train.user_grids)
    assert model.metadata["n_train"] == 40 * 6 and "load_digits" not in model.metadata["training_data"]
    assert "40 labelled scans" in model.metadata["training_data"]
    grids = np.array([convert_file(str(p))[0].ravel() for p, _ in items])
    assert np.mean(model.predict(grids)[0] == [d for _, d in items]) > 0.6  # 40 scans only; chance is 0.1


def test_train_refuses_no_data_at_all(tmp_path):
    result = run_cli("train", "--no-builtin", "--out", tmp_path / "m.skops")
    assert result.exit_code == 2
    assert not (tmp_path / "m.skops").exists()


def test_evaluate_reports_the_numbers_the_model_gives(tmp_path, default_model):
    items = labelled_tree(tmp_path / "eval", per_digit=5)
    (tmp_path / "eval" / "7" / "broken.png").write_bytes(b"not an image")
    report = tmp_path / "ev.json"
    result = run_cli("evaluate", tmp_path / "eval", "--json", report, "--jobs", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    grids = np.array([convert_file(str(p))[0].ravel() for p, _ in items])
    right = int(np.sum(default_model.predict(grids)[0] == [d for _, d in items]))
    assert data["n"] == 51  # the broken file counts, as wrong
    assert abs(data["accuracy"] - right / 51) < 1e-9
    assert np.trace(np.array(data["confusion"])) == right
    assert [m["path"] for m in data["unreadable_or_blank"]][0].endswith("broken.png")
    assert "Confusion matrix" in result.output


def test_show_prints_the_grid_and_the_prediction(tmp_path, default_model):
    path = labelled_tree(tmp_path / "s", per_digit=1)[4][0]
    grid = convert_file(str(path))[0]
    result = run_cli("show", path)
    assert result.exit_code == 0, result.output
    digit = int(default_model.predict(grid.reshape(1, 64))[0][0])
    assert f"prediction {digit}" in result.output
    first_row = " ".join(f"{int(v):>2}" for v in grid[0])
    assert " ".join(result.output.split()).count(" ".join(first_row.split())) >= 1


def test_review_sheet_png_and_html(tmp_path):
    labelled_tree(tmp_path / "in", per_digit=1)
    Image.new("L", (40, 40), 255).save(tmp_path / "in" / "blank.png")
    (tmp_path / "in" / "bad.png").write_bytes(b"")
    png, html = tmp_path / "review.png", tmp_path / "review.html"
    for sheet in (png, html):
        result = run_cli(
            "classify", tmp_path / "in", "--out", tmp_path / "p.csv", "--jobs", "1",
            "--min-confidence", "1.0", "--review-sheet", sheet,
        )
        assert result.exit_code == 1, result.output  # bad.png is an error row
    rows = read_csv(tmp_path / "p.csv")
    assert len(rows) == 12
    with Image.open(png) as img:
        assert img.width == 8 * 128
        # three groups (low_confidence: 10 -> 2 rows, blank: 1, error: 1) plus their titles;
        # captions: the label and the path in one or two lines
        assert 3 * 26 + 4 * (96 + 4 + 2 * 15) <= img.height <= 3 * 26 + 4 * (96 + 4 + 3 * 15)
        pixels = np.asarray(img.convert("L"))
        assert pixels.min() < 50 and pixels.max() > 200
    text = html.read_text()
    assert text.count("data:image/png;base64") == 12
    assert "low_confidence: 10" in text and "blank: 1" in text and "error: 1" in text
