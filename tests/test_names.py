"""Any file name, with any bytes, round-trips: through the CSV, the incremental state
and back to the real file (``batchdigits.io.files.path_from_csv``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from batchdigits.io.files import csv_name, path_from_csv
from helpers import read_csv, run_cli, run_script
from imagemaker import save_digit

# names as the bytes on disk, each with the digit drawn in it
ODD_NAMES: dict[bytes, str] = {
    b"cr\rret.png": "one",  # a bare carriage return used to split the row in two
    b"nl\nline.png": "zero",
    b"crlf\r\n.png": "one",
    b'q"uote,comma.png': "zero",
    b"=lead.png": "one",
    b"tab\t.png": "zero",
    b"vt\x0bff\x0cfs\x1c.png": "one",
    "nel\u0085ls\u2028.png".encode(): "zero",
    b"back\\slash.png": "one",
    b"bad\xff.png": "one",  # not UTF-8 ...
    b"bad\\xff.png": "zero",  # ... and the literal text \xff: used to give the same path
    b"bad\\\\xff.png": "one",
    b"sub\xe9\\x/inner.png": "zero",
}


def make_folder(folder: Path) -> dict[str, bytes]:
    """Write ODD_NAMES under ``folder``; ``{real path: content}``."""
    files = {}
    for name, shape in ODD_NAMES.items():
        path = os.fsdecode(os.fsencode(folder) + b"/" + name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_digit(path, shape)
        with open(path, "rb") as fh:
            files[path] = fh.read()
    return files


def content(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def test_every_odd_name_gets_one_unique_row_that_leads_back_to_its_file(tmp_path):
    folder = tmp_path / "in"
    files = make_folder(folder)
    out = tmp_path / "p.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    rows = read_csv(out)  # the csv module: exactly one row per file
    paths = [r["path"] for r in rows]
    assert len(paths) == len(files) == len(set(paths))
    assert paths == sorted(paths)
    assert {path_from_csv(folder, p) for p in paths} == set(files)
    for row in rows:
        real = path_from_csv(folder, row["path"])
        shape = ODD_NAMES[os.fsencode(real)[len(os.fsencode(folder)) + 1 :]]
        assert row["label"] == {"one": "1", "zero": "0"}[shape], row
        assert content(real) == files[real]


def test_carriage_return_and_lookalike_names_survive_incremental_runs(tmp_path):
    """Was: the CSV read back with an extra row and every later --incremental run
    exited 70; and ``bad\\xff.png`` got the row of the file named with byte 0xFF."""
    folder = tmp_path / "in"
    make_folder(folder)
    out = tmp_path / "p.csv"
    full = tmp_path / "full.csv"
    run_cli("classify", folder, "--out", full, "--jobs", "1")

    first = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    second = run_script("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert (first.exit_code, second.returncode) == (0, 0), second.stderr
    assert f"{len(ODD_NAMES)} unchanged rows reused" in second.stderr
    assert out.read_bytes() == full.read_bytes()
    with open(out, encoding="utf-8", newline="") as fh:
        assert len(list(csv.reader(fh))) == len(ODD_NAMES) + 1


def test_a_changed_lookalike_file_keeps_its_own_row(tmp_path):
    folder = tmp_path / "in"
    raw = os.fsdecode(os.fsencode(folder) + b"/bad\xff.png")
    text = folder / "bad\\xff.png"
    save_digit(raw, "one")
    save_digit(text, "zero")
    out = tmp_path / "p.csv"
    run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    save_digit(text, "one")  # only the literal-text name changes
    os.utime(text, ns=(1, 1))

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert result.exit_code == 0, result.stderr
    labels = {path_from_csv(folder, r["path"]): r["label"] for r in read_csv(out)}
    assert labels == {raw: "1", str(text): "1"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (b"plain.png", "plain.png"),
        (b"a\\b.png", "a\\\\b.png"),
        (b"a\xff.png", "a\\xff.png"),
        (b"a\\xff.png", "a\\\\xff.png"),
        ("ü\r€.png".encode(), "ü\r€.png"),
        (b"\xed\xa0\x80.png", "\\xed\\xa0\\x80.png"),  # an encoded surrogate is not UTF-8
    ],
)
def test_csv_name_and_path_from_csv_are_inverse(name, text):
    assert csv_name(os.fsdecode(name)) == text
    assert os.fsencode(path_from_csv("f", text)) == b"f/" + name


@pytest.mark.parametrize("text", ["a\\b.png", "a\\xFF.png", "a\\x41.png", "a\\x4.png", "end\\"])
def test_path_from_csv_refuses_text_csv_name_never_writes(text):
    with pytest.raises(ValueError, match="not a path written by batchdigits"):
        path_from_csv("f", text)


def test_a_state_written_with_the_old_path_rule_costs_one_full_run(tmp_path):
    """Format 1 wrote ``bad\\xff.png`` for both the byte 0xFF and the text ``\\xff``:
    such a state must not be trusted to map rows to files."""
    import json

    from batchdigits import classify_folder
    from batchdigits.run.pipeline import Settings

    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    out = tmp_path / "p.csv"
    classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    state = tmp_path / ".p.csv.state.json"
    header, *body = state.read_text(encoding="utf-8").splitlines(keepends=True)
    state.write_text(json.dumps({**json.loads(header), "format": 1}) + "\n" + "".join(body))

    report = classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)

    assert report.reused == 0
    again = classify_folder(folder, out=out, settings=Settings(jobs=1), incremental=True)
    assert again.reused == 1
