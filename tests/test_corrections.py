"""``classify --corrections``: a person's labels become ``reviewed`` rows.

Everything runs through the real CLI (CliRunner, and once the console script
in a subprocess) and the CSV is read back with ``csv``.  The corrections
file is made by :func:`batchdigits.run.corrections.write_corrections`, the
function the review page saves with, with paths relative to its own folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from batchdigits.run.corrections import Correction, write_corrections
from helpers import one_line_error, read_csv, run_cli, run_script
from imagemaker import save_digit


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "b.png", "zero")
    save_digit(folder / "c.png", "one", size=(40, 60))
    save_digit(folder / "sub" / "blank.png", "blank")
    return folder


@pytest.fixture
def fixes(tmp_path: Path, folder: Path) -> Path:
    """a.png -> 7 and b.png -> not a digit (both with their hash), blank -> 4 (no hash)."""
    path = tmp_path / "predictions.corrections.csv"
    write_corrections(
        str(path),
        {
            "scans/a.png": Correction(7, "2026-11-25T10:00:00Z", sha256(folder / "a.png")),
            "scans/b.png": Correction(None, "2026-11-25T10:00:01Z", sha256(folder / "b.png")),
            "scans/sub/blank.png": Correction(4, "2026-11-25T10:00:02Z"),
        },
    )
    return path


def by_path(out: Path) -> dict[str, dict[str, str]]:
    return {row["path"]: row for row in read_csv(out)}


def test_labelled_files_become_reviewed_rows_through_the_console_script(tmp_path, folder, fixes):
    out = tmp_path / "predictions.csv"
    plain = tmp_path / "plain.csv"
    assert run_cli("classify", folder, "--out", plain, "--jobs", "1").exit_code == 0

    proc = run_script("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes)

    assert proc.returncode == 0, proc.stderr
    rows = by_path(out)
    assert rows["a.png"] == {"path": "a.png", "label": "7", "confidence": "1.000000",
                             "status": "reviewed", "error": ""}
    assert rows["b.png"] == {"path": "b.png", "label": "", "confidence": "",
                             "status": "reviewed", "error": ""}
    assert rows["sub/blank.png"]["label"] == "4" and rows["sub/blank.png"]["status"] == "reviewed"
    assert rows["c.png"] == by_path(plain)["c.png"]  # no correction: the model's row
    assert "3 reviewed" in proc.stderr
    assert "warning" not in proc.stderr


def test_summary_counts_reviewed_rows_as_classified(tmp_path, folder, fixes):
    out, summary = tmp_path / "p.csv", tmp_path / "summary.json"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes,
                     "--summary-json", summary)

    assert result.exit_code == 0, result.stderr
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["statuses"]["reviewed"] == 3
    assert data["statuses"]["blank"] == 0  # the blank one was labelled 4 by a person
    assert data["classified"] == 4 and data["stale_reviews"] == 0
    assert "reviewed by a person" in result.stderr


def test_a_correction_for_a_changed_file_is_not_applied_and_warned(tmp_path, folder, fixes):
    save_digit(folder / "a.png", "zero")  # new content: the 7 was about the old scan
    out, summary = tmp_path / "p.csv", tmp_path / "summary.json"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes,
                     "--summary-json", summary)

    assert result.exit_code == 0
    row = by_path(out)["a.png"]
    assert row["status"] in ("ok", "low_confidence") and row["label"] != "7"
    assert "warning: 1 correction not applied" in result.stderr
    assert json.loads(summary.read_text(encoding="utf-8"))["stale_reviews"] == 1


def test_incremental_keeps_reviewed_rows_while_the_file_is_unchanged(tmp_path, folder, fixes):
    out = tmp_path / "p.csv"
    args = ("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert run_cli(*args).exit_code == 0
    model_row = by_path(out)["a.png"]

    first = run_cli(*args, "--corrections", fixes)
    again = run_cli(*args, "--corrections", fixes)

    assert first.exit_code == again.exit_code == 0
    assert by_path(out)["a.png"]["status"] == "reviewed" and by_path(out)["a.png"]["label"] == "7"
    assert "warning" not in again.stderr
    fresh = tmp_path / "fresh.csv"
    run_cli("classify", folder, "--out", fresh, "--jobs", "1", "--corrections", fixes)
    assert out.read_bytes() == fresh.read_bytes()  # the same CSV a full run writes

    save_digit(folder / "a.png", "zero", size=(50, 70))  # the file changes
    changed = run_cli(*args, "--corrections", fixes)

    assert changed.exit_code == 0
    row = by_path(out)["a.png"]
    assert row["status"] in ("ok", "low_confidence") and row["label"] != "7"
    assert row != model_row  # the model's answer for the new scan
    assert "warning: 1 correction not applied: the file changed" in changed.stderr
    assert by_path(out)["b.png"]["status"] == "reviewed"  # the others stay reviewed


def test_incremental_without_corrections_drops_reviewed_rows_back_to_the_model(
    tmp_path, folder, fixes
):
    out = tmp_path / "p.csv"
    args = ("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    run_cli(*args)
    model_rows = by_path(out)
    run_cli(*args, "--corrections", fixes)
    assert by_path(out)["a.png"]["status"] == "reviewed"

    result = run_cli(*args)

    assert result.exit_code == 0
    assert by_path(out) == model_rows


def test_a_later_decision_replaces_the_earlier_one(tmp_path, folder, fixes):
    with open(fixes, "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(["scans/a.png", "1", "2026-11-25T11:00:00Z", ""])
    out = tmp_path / "p.csv"

    run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes)

    assert by_path(out)["a.png"]["label"] == "1"


def test_corrections_outside_the_folder_or_for_missing_files_are_ignored(tmp_path, folder):
    fixes = tmp_path / "other" / "fixes.csv"
    fixes.parent.mkdir()
    fixes.write_text(
        "path,label\n../scans/c.png,9\n../elsewhere/a.png,2\n../scans/gone.png,3\n../scans,5\n",
        encoding="utf-8",
    )
    out = tmp_path / "p.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes)

    assert result.exit_code == 0
    rows = by_path(out)
    assert [p for p, r in rows.items() if r["status"] == "reviewed"] == ["c.png"]
    assert rows["c.png"]["label"] == "9" and len(rows) == 4


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "corrections file not found"),
        ("file,digit\na.png,1\n", "needs a header with 'path' and 'label'"),
        ("path,label\nscans/a.png,12\n", "line 2: label must be a digit 0-9 or empty"),
        ("path,label\nscans/a.png,\u0663\n", "line 2: label must be a digit 0-9 or empty"),
        ("path,label\nscans/a.png, 7x\n", "line 2: label must be a digit 0-9 or empty"),
        (b"path,label\n\xff.png,1\n", "is not UTF-8 text"),
    ],
)
def test_an_unusable_corrections_file_exits_2_with_one_line(tmp_path, folder, content, message):
    fixes = tmp_path / "fixes.csv"
    if isinstance(content, bytes):
        fixes.write_bytes(content)
    elif content is not None:
        fixes.write_text(content, encoding="utf-8")
    out = tmp_path / "p.csv"

    result = run_cli("classify", folder, "--out", out, "--corrections", fixes)

    assert result.exit_code == 2
    assert message in one_line_error(result.stderr)
    assert not out.exists()


def test_train_learns_from_a_corrections_file_and_skips_not_a_digit(tmp_path):
    from batchdigits.learn.model import load_model

    entries = {}
    for i in range(6):
        for shape, digit in (("one", 1), ("zero", 0)):
            save_digit(tmp_path / "scans" / f"{shape}{i}.png", shape, size=(40 + 3 * i, 60))
            entries[f"scans/{shape}{i}.png"] = Correction(digit, "2026-11-25T10:00:00Z")
    save_digit(tmp_path / "scans" / "smudge.png", "one", size=(30, 60))
    entries["scans/smudge.png"] = Correction(None, "2026-11-25T10:00:00Z")  # "not a digit"
    fixes = tmp_path / "reviews" / "p.corrections.csv"
    fixes.parent.mkdir()
    write_corrections(str(fixes), {f"../{k}": v for k, v in entries.items()})
    model = tmp_path / "ours.skops"

    result = run_cli("train", "--labels", fixes, "--no-builtin", "--no-augment",
                     "--classifier", "logistic", "--jobs", "1", "--out", model)

    assert result.exit_code == 0, result.stderr
    assert "12 labelled scans converted, 0 left out" in result.stderr
    counts = load_model(model).metadata["class_counts"]
    assert (counts[0], counts[1], sum(counts)) == (6, 6, 12)  # the smudge taught nothing


def test_odd_file_names_round_trip_from_the_review_to_classify_and_train(tmp_path, default_model):
    """A backslash, a comma, a newline and a byte that is not UTF-8 in the names."""
    import os

    from batchdigits.web.reviewsession import ReviewSession

    folder = tmp_path / "scans"
    folder.mkdir()
    names = [b"back\\slash,1.png", b"new\nline.png", b"bad\xff.png", b"plain.png"]
    for i, name in enumerate(names):
        save_digit(os.fsdecode(bytes(folder) + b"/" + name), ("one", "zero")[i % 2])
    out = tmp_path / "predictions.csv"
    assert run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code == 0
    session = ReviewSession.open(str(out), str(folder), model=default_model)
    csv_paths = [row["path"] for row in read_csv(out)]
    for path in csv_paths[:3]:
        session.decide(path, "7")
    fixes = tmp_path / "predictions.corrections.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--corrections", fixes)

    assert result.exit_code == 0
    rows = by_path(out)
    assert [rows[p]["status"] for p in csv_paths[:3]] == ["reviewed"] * 3
    trained = run_cli("train", "--labels", fixes, "--no-builtin", "--no-augment",
                      "--classifier", "knn", "--jobs", "1", "--out", tmp_path / "m.skops")
    assert "3 labelled scans converted, 0 left out" in trained.stderr
