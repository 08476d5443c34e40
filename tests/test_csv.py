"""The CSV: columns, paths, numbers, awkward file names, reproducibility."""

from __future__ import annotations

import io
import os
import re

import pytest

from helpers import COLUMNS, read_csv, run_cli, run_script
from imagemaker import make_image, save_digit


def small_folder(folder):
    save_digit(folder / "one.png", "one")
    save_digit(folder / "sub" / "deeper" / "zero.jpg", "zero", "RGB")
    save_digit(folder / "sub" / "blank.png", "blank")
    (folder / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def test_header_columns_and_line_format(tmp_path):
    folder = small_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    run_cli("classify", folder, "--out", out, "--jobs", "1")

    raw = out.read_bytes()
    assert raw.startswith(b"path,label,confidence,status,error\n")
    assert b"\r" not in raw
    raw.decode("utf-8")  # valid UTF-8
    rows = read_csv(out)  # asserts the header is exactly COLUMNS
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 4


def test_paths_are_relative_with_forward_slashes(tmp_path):
    folder = small_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    run_cli("classify", folder, "--out", out, "--jobs", "1")

    paths = [r["path"] for r in read_csv(out)]
    assert paths == ["one.png", "sub/blank.png", "sub/broken.png", "sub/deeper/zero.jpg"]
    assert not any(str(tmp_path) in p for p in paths)


def test_confidence_has_four_decimals_and_label_only_when_classified(tmp_path):
    folder = small_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    run_cli("classify", folder, "--out", out, "--jobs", "1")

    rows = {r["path"]: r for r in read_csv(out)}
    for name in ("one.png", "sub/deeper/zero.jpg"):
        row = rows[name]
        assert row["status"] in ("ok", "low_confidence")
        assert re.fullmatch(r"[01]\.\d{6}", row["confidence"]), row
        assert 0.0 <= float(row["confidence"]) <= 1.0
        assert re.fullmatch(r"\d", row["label"]), row
        assert row["error"] == ""
    blank, error = rows["sub/blank.png"], rows["sub/broken.png"]
    assert (blank["status"], blank["label"], blank["confidence"], blank["error"]) == ("blank", "", "", "")
    assert (error["status"], error["label"], error["confidence"]) == ("error", "", "")
    assert error["error"]


AWKWARD = [
    "comma,name.png",
    'double"quote.png',
    "new\nline.png",
    "=SUM(A1)*2.png",
    "+cmd.png",
    "café é.png",
    "数字.png",
    "spaces  and\ttab.png",
    "dir,with,commas/inner.png",
]


def png_bytes(shape: str) -> bytes:
    buf = io.BytesIO()
    make_image(shape).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("runner", ["in-process", "console-script"])
def test_awkward_file_names_round_trip(tmp_path, runner):
    folder = tmp_path / "in"
    for i, name in enumerate(AWKWARD):
        save_digit(folder / name, "one" if i % 2 else "zero")
    # a name that is not UTF-8: only possible as bytes
    with open(os.path.join(os.fsencode(folder), b"bad\xff.png"), "wb") as fh:
        fh.write(png_bytes("one"))
    out = tmp_path / "out.csv"

    if runner == "in-process":
        code = run_cli("classify", folder, "--out", out, "--jobs", "1").exit_code
    else:
        code = run_script("classify", folder, "--out", out, "--jobs", "1").returncode

    assert code == 0
    rows = read_csv(out)
    expected = sorted([*AWKWARD, "bad\\xff.png"])  # the byte 0xff as the text \xff
    assert [r["path"] for r in rows] == expected
    for row in rows:
        assert row["status"] in ("ok", "low_confidence") and row["label"], row


def varied_folder(folder, n=150):
    """More files than two chunks of work (so workers are used), of every outcome."""
    for i in range(n):
        kind = i % 5
        if kind == 3:
            save_digit(folder / f"d{i // 10}" / f"blank{i:02d}.png", "blank")
        elif kind == 4:
            (folder / f"bad{i:02d}.png").write_text("no image here")
        else:
            shape = "one" if kind == 1 else "zero"
            mode = ("L", "RGB", "P")[i % 3]
            save_digit(folder / f"d{i // 10}" / f"img{i:02d}.png", shape, mode)
    return folder


def test_runs_are_byte_identical_whatever_jobs_and_batch_size(tmp_path):
    folder = varied_folder(tmp_path / "in")
    settings = [
        ("--jobs", "1"),
        ("--jobs", "1"),
        ("--jobs", "1", "--batch-size", "1"),
        ("--jobs", "1", "--batch-size", "7"),
        ("--jobs", "2"),
        ("--jobs", "2", "--batch-size", "3"),
    ]
    outputs = []
    for i, args in enumerate(settings):
        out = tmp_path / f"out{i}.csv"
        result = run_cli("classify", folder, "--out", out, *args)
        assert result.exit_code == 1, result.stderr  # the bad files
        outputs.append(out.read_bytes())

    assert len(read_csv(tmp_path / "out0.csv")) == 150
    assert all(data == outputs[0] for data in outputs[1:])


def test_a_second_run_replaces_the_csv_in_full(tmp_path):
    """A run rewrites the CSV in full: a second run over a changed folder
    reflects the change (nothing is appended to the old file)."""
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    out = tmp_path / "out.csv"
    run_cli("classify", folder, "--out", out, "--jobs", "1")
    assert [r["path"] for r in read_csv(out)] == ["a.png"]

    (folder / "a.png").unlink()
    save_digit(folder / "b.png", "zero")
    run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert [r["path"] for r in read_csv(out)] == ["b.png"]


def test_rows_written_a_batch_at_a_time_are_the_bytes_of_one_row_at_a_time(tmp_path):
    """A run writes its CSV a batch at a time (``CsvOut.write_rows``): the same bytes and
    hash as row by row, awkward names included -- a name holding ``\\r\\n`` falls back to
    row by row, since the batch is formatted with ``\\r\\n`` ends turned into ``\\n``."""
    from batchdigits.run.write import CsvOut, Row

    names = ["plain.png", "comma,name.png", 'quote"d.png', "cr\rname.png", "lf\nname.png",
             "crlf\r\nname.png", "back\\\\slash.png", "bad\\xff.png", "ünï.png"]
    batches = [
        [Row(n, i % 10, 0.5 + i / 100, "ok") for i, n in enumerate(names) if "\r" not in n],  # the fast path
        [Row(n, None, None, "error", f"cannot decode {n}") for n in names],  # the fallback
        [],
        [Row("blank.png", None, None, "blank"), Row("x.png", 7, 0.9999996, "low_confidence")],
    ]
    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    with open(one, "w", encoding="utf-8", newline="") as fh_one, \
            open(many, "w", encoding="utf-8", newline="") as fh_many:
        by_row, by_batch = CsvOut(fh_one), CsvOut(fh_many)
        for batch in batches:
            for row in batch:
                by_row.write(row)
            by_batch.write_rows(batch)
        assert by_batch.sha256() == by_row.sha256()

    assert many.read_bytes() == one.read_bytes()
    rows = read_csv(many)
    assert [r["path"] for r in rows] == [row.path for batch in batches for row in batch]
