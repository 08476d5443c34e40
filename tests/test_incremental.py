"""``classify --incremental``: rows of unchanged files come from the previous run.

The invariant checked after every change to the folder: the incremental CSV
is byte-identical to the CSV of a fresh full run on the same folder (written
elsewhere), and only new or changed files were converted again.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import batchdigits.image.convert as convert_module
from batchdigits import classify_folder
from batchdigits.run.pipeline import Settings
from batchdigits.learn.model import load_model, save_model
from helpers import deny_access, read_csv, run_cli
from imagemaker import save_digit

JOBS1 = Settings(jobs=1)


# --- helpers ---------------------------------------------------------------


def make_folder(folder: Path) -> Path:
    """Seven image files (one of them broken, one blank, two in a subfolder) and a text file."""
    save_digit(folder / "a.png", "one")
    save_digit(folder / "b.png", "zero")
    save_digit(folder / "c.jpg", "one", "RGB")
    save_digit(folder / "name, with comma.png", "zero", size=(40, 60))
    save_digit(folder / "sub" / "d.png", "zero", "P")
    save_digit(folder / "sub" / "e.gif", "blank")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "in")


@pytest.fixture
def out(tmp_path):
    """The incremental CSV, in its own folder outside the input folder."""
    directory = tmp_path / "out"
    directory.mkdir()
    return directory / "predictions.csv"


@pytest.fixture
def conversions(monkeypatch):
    """Every path decoded for a conversion (in this process: jobs=1)."""
    calls: list[str] = []
    real = convert_module.decode_file

    def counting(path, *args):
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(convert_module, "decode_file", counting)
    return calls


def rel_paths(paths, folder) -> list[str]:
    return sorted(os.path.relpath(p, folder).replace(os.sep, "/") for p in paths)


def run_settings(min_confidence: float | None) -> Settings:
    if min_confidence is None:
        return JOBS1  # the default threshold
    return Settings(jobs=1, min_confidence=min_confidence)


def incremental(folder, out, calls, min_confidence=None, **kwargs):
    """One library run with incremental=True; returns (report, converted rel paths)."""
    calls.clear()
    report = classify_folder(
        folder, out=out, settings=run_settings(min_confidence), incremental=True, **kwargs
    )
    converted = rel_paths(calls, folder)
    calls.clear()
    return report, converted


def full_csv(folder, where, min_confidence=None, **kwargs) -> bytes:
    """The CSV of a fresh, non-incremental run written to a new file under ``where``."""
    target = Path(tempfile.mkdtemp(prefix="full-", dir=where)) / "full.csv"
    classify_folder(folder, out=target, settings=run_settings(min_confidence), **kwargs)
    return target.read_bytes()


def image_rels(folder) -> list[str]:
    exts = {".png", ".jpg", ".gif", ".bmp"}
    return sorted(
        p.relative_to(folder).as_posix()
        for p in Path(folder).rglob("*")
        if p.suffix.lower() in exts and (p.is_symlink() or p.is_file())
    )


def state_file(out: Path) -> Path:
    return out.parent / f".{out.name}.state.json"


def state_header(out: Path) -> dict:
    with open(state_file(out), encoding="utf-8") as fh:
        return json.loads(fh.readline())


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def rows_by_path(path) -> dict[str, dict[str, str]]:
    return {row["path"]: row for row in read_csv(path)}


def bump_mtime(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


# --- first run, unchanged folder ------------------------------------------


def test_first_run_classifies_everything_and_writes_the_state_beside_the_csv(
    folder, out, tmp_path, conversions
):
    before = listing(folder)

    report, converted = incremental(folder, out, conversions)

    assert converted == image_rels(folder)
    assert report.reused == 0
    assert report.found == 7 and report.skipped == 1
    assert out.read_bytes() == full_csv(folder, tmp_path)
    # the state lives beside the CSV, never in the input folder
    assert listing(folder) == before
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["predictions.csv", ".predictions.csv.state.json", ".predictions.csv.lock", ".predictions.csv.folder.json"]
    )
    lines = state_file(out).read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["csv_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert header["folder"] == os.path.realpath(folder)
    body = [json.loads(line) for line in lines[1:]]
    assert [entry[0] for entry in body] == [row["path"] for row in read_csv(out)]
    sizes = {entry[0]: entry[1] for entry in body}
    assert sizes["a.png"] == (folder / "a.png").stat().st_size


def test_second_run_on_an_unchanged_folder_converts_nothing(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)
    first = out.read_bytes()

    report, converted = incremental(folder, out, conversions)

    assert converted == []
    assert report.reused == report.found == 7
    assert report.counts["error"] == 1  # the broken file's row is kept too
    assert out.read_bytes() == first == full_csv(folder, tmp_path)
    assert report.exit_code() == 1


# --- changes between runs ---------------------------------------------------


def add_file(folder):
    save_digit(folder / "new.png", "zero")
    return ["new.png"]


def add_in_new_subfolder(folder):
    save_digit(folder / "aa" / "x.bmp", "one")
    return ["aa/x.bmp"]


def rewrite_other_digit_and_size(folder):
    save_digit(folder / "a.png", "zero", size=(40, 56))
    return ["a.png"]


def bump_mtime_only(folder):
    bump_mtime(folder / "b.png")
    return ["b.png"]


def delete_file(folder):
    (folder / "b.png").unlink()
    return []


def delete_subfolder(folder):
    shutil.rmtree(folder / "sub")
    return []


def break_a_good_file(folder):
    (folder / "c.jpg").write_bytes(b"\xff\xd8\xff truncated")
    return ["c.jpg"]


def repair_the_broken_file(folder):
    save_digit(folder / "broken.png", "one")
    return ["broken.png"]


MUTATIONS = [
    pytest.param(add_file, id="add"),
    pytest.param(add_in_new_subfolder, id="add-in-new-subfolder"),
    pytest.param(rewrite_other_digit_and_size, id="rewrite-other-digit-and-size"),
    pytest.param(bump_mtime_only, id="bump-mtime"),
    pytest.param(delete_file, id="delete"),
    pytest.param(delete_subfolder, id="delete-subfolder"),
    pytest.param(break_a_good_file, id="break-a-file"),
    pytest.param(repair_the_broken_file, id="repair-the-broken-file"),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_only_changed_files_are_converted_and_the_csv_matches_a_full_run(
    folder, out, tmp_path, conversions, mutate
):
    incremental(folder, out, conversions)
    old_rows = rows_by_path(out)

    changed = mutate(folder)
    report, converted = incremental(folder, out, conversions)

    assert converted == changed
    assert report.found == len(image_rels(folder))
    assert report.reused == report.found - len(changed)
    assert out.read_bytes() == full_csv(folder, tmp_path)
    new_rows = rows_by_path(out)
    assert set(new_rows) == set(image_rels(folder))
    for path in set(new_rows) & set(old_rows) - set(changed):
        assert new_rows[path] == old_rows[path]
    assert state_header(out)["csv_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_rewritten_file_gets_its_new_prediction(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)
    assert rows_by_path(out)["a.png"]["label"] == "1"

    save_digit(folder / "a.png", "zero", size=(40, 56))
    incremental(folder, out, conversions)

    assert rows_by_path(out)["a.png"]["label"] == "0"


def test_a_sequence_of_runs_tracks_the_folder(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)
    steps = [
        (add_file, 7),
        (rewrite_other_digit_and_size, 7),
        (bump_mtime_only, 7),
        (delete_file, 7),
        (lambda f: [], 7),  # nothing changed
        (repair_the_broken_file, 6),
    ]
    for mutate, reused in steps:
        changed = mutate(folder)
        report, converted = incremental(folder, out, conversions)
        assert converted == changed
        assert report.reused == reused
        assert out.read_bytes() == full_csv(folder, tmp_path)


def test_cli_reports_how_many_rows_were_reused(folder, out, tmp_path):
    first = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert first.exit_code == 1, first.stderr  # the broken file
    assert "0 unchanged rows reused" in first.stderr

    add_file(folder)
    bump_mtime(folder / "a.png")
    second = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")

    assert second.exit_code == 1, second.stderr
    assert "6 unchanged rows reused" in second.stderr
    assert "8 images:" in second.stderr
    assert out.read_bytes() == full_csv(folder, tmp_path)


def test_dangling_symlink_that_later_resolves_is_classified(tmp_path, out, conversions):
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    target = tmp_path / "elsewhere" / "target.png"
    (folder / "link.png").symlink_to(target)

    incremental(folder, out, conversions)
    assert rows_by_path(out)["link.png"]["status"] == "error"

    save_digit(target, "zero")
    report, converted = incremental(folder, out, conversions)

    assert converted == ["link.png"]
    assert rows_by_path(out)["link.png"]["status"] in ("ok", "low_confidence")
    assert out.read_bytes() == full_csv(folder, tmp_path)

    # pointing the link at another file is a change, too
    other = save_digit(tmp_path / "elsewhere" / "other.png", "one", size=(30, 70))
    (folder / "link.png").unlink()
    (folder / "link.png").symlink_to(other)
    report, converted = incremental(folder, out, conversions)
    assert converted == ["link.png"]
    assert out.read_bytes() == full_csv(folder, tmp_path)


# --- what must match for rows to be reused ---------------------------------


def test_another_model_file_reclassifies_everything(
    folder, out, tmp_path, conversions, default_model
):
    path = tmp_path / "copy.skops"
    meta = {**default_model.metadata, "note": "the same classifier in another file"}
    save_model(dataclasses.replace(default_model, metadata=meta), path)
    other = load_model(path)
    assert other.sha256 != default_model.sha256
    everything = image_rels(folder)

    incremental(folder, out, conversions)
    report, converted = incremental(folder, out, conversions, model=other)
    assert converted == everything and report.reused == 0
    assert state_header(out)["model_sha256"] == other.sha256

    report, converted = incremental(folder, out, conversions, model=other)
    assert converted == [] and report.reused == 7

    report, converted = incremental(folder, out, conversions)  # back to the built-in model
    assert converted == everything and report.reused == 0
    assert out.read_bytes() == full_csv(folder, tmp_path)


def test_cli_with_another_model_file_reclassifies_everything(folder, out, tmp_path, default_model):
    path = tmp_path / "copy.skops"
    meta = {**default_model.metadata, "copy": True}
    save_model(dataclasses.replace(default_model, metadata=meta), path)

    run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    result = run_cli(
        "classify", folder, "--out", out, "--jobs", "1", "--incremental", "--model", path
    )

    assert result.exit_code == 1, result.stderr
    assert "0 unchanged rows reused" in result.stderr
    assert out.read_bytes() == full_csv(folder, tmp_path, model=load_model(path))


def test_changed_min_confidence_reclassifies_everything(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)  # the default threshold

    report, converted = incremental(folder, out, conversions, min_confidence=0.999)

    assert converted == image_rels(folder)
    assert report.reused == 0
    assert out.read_bytes() == full_csv(folder, tmp_path, min_confidence=0.999)
    assert "low_confidence" in {row["status"] for row in read_csv(out)}


def test_cli_changed_min_confidence_reclassifies_everything(folder, out, tmp_path):
    run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    result = run_cli(
        "classify", folder, "--out", out, "--jobs", "1", "--incremental",
        "--min-confidence", "0.999",
    )
    assert "0 unchanged rows reused" in result.stderr
    assert out.read_bytes() == full_csv(folder, tmp_path, min_confidence=0.999)


def test_switching_recursion_reclassifies_everything(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)

    report, converted = incremental(folder, out, conversions, recursive=False)

    assert converted == [p for p in image_rels(folder) if "/" not in p]
    assert report.reused == 0
    assert out.read_bytes() == full_csv(folder, tmp_path, recursive=False)


def test_another_folder_with_the_same_names_sizes_and_mtimes_is_not_reused(
    tmp_path, out, conversions
):
    first = tmp_path / "first"
    save_digit(first / "x.bmp", "one")
    save_digit(first / "y.bmp", "zero")
    second = tmp_path / "second"
    second.mkdir()
    for name, shape in (("x.bmp", "zero"), ("y.bmp", "one")):  # same size: uncompressed BMP
        save_digit(second / name, shape)
        st = (first / name).stat()
        os.utime(second / name, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert (second / name).stat().st_size == st.st_size

    incremental(first, out, conversions)
    report, converted = incremental(second, out, conversions)

    assert converted == ["x.bmp", "y.bmp"] and report.reused == 0
    assert out.read_bytes() == full_csv(second, tmp_path)
    assert [r["label"] for r in read_csv(out)] == ["0", "1"]


# --- --verify-content -------------------------------------------------------


def same_size_rewrite(path: Path, shape: str) -> None:
    """Rewrite a BMP with another drawing of the same size; put the old mtime back."""
    st = path.stat()
    save_digit(path, shape)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.fixture
def bmp_folder(tmp_path):
    folder = tmp_path / "bmp"
    save_digit(folder / "p.bmp", "one")
    save_digit(folder / "q.bmp", "zero")
    save_digit(folder / "r.bmp", "one", size=(40, 60))
    return folder


def test_same_size_and_mtime_rewrite_is_not_noticed_without_verify_content(
    bmp_folder, out, tmp_path, conversions
):
    incremental(bmp_folder, out, conversions)
    old = out.read_bytes()

    same_size_rewrite(bmp_folder / "p.bmp", "zero")
    report, converted = incremental(bmp_folder, out, conversions)

    assert converted == [] and report.reused == 3
    assert out.read_bytes() == old  # the documented limit of size+mtime
    assert out.read_bytes() != full_csv(bmp_folder, tmp_path)


def test_verify_content_reclassifies_a_same_size_same_mtime_rewrite(
    bmp_folder, out, tmp_path, conversions
):
    report, converted = incremental(bmp_folder, out, conversions, verify_content=True)
    assert converted == ["p.bmp", "q.bmp", "r.bmp"]
    body = state_file(out).read_text(encoding="utf-8").splitlines()[1:]
    hashes = {json.loads(line)[0]: json.loads(line)[3] for line in body}
    assert hashes["p.bmp"] == hashlib.sha256((bmp_folder / "p.bmp").read_bytes()).hexdigest()

    same_size_rewrite(bmp_folder / "p.bmp", "zero")
    report, converted = incremental(bmp_folder, out, conversions, verify_content=True)

    assert converted == ["p.bmp"]  # the others were hashed, not converted
    assert report.reused == 2
    assert rows_by_path(out)["p.bmp"]["label"] == "0"
    assert out.read_bytes() == full_csv(bmp_folder, tmp_path)

    report, converted = incremental(bmp_folder, out, conversions, verify_content=True)
    assert converted == [] and report.reused == 3


def test_cli_verify_content(bmp_folder, out, tmp_path):
    args = ("classify", bmp_folder, "--out", out, "--jobs", "1", "--incremental")
    run_cli(*args, "--verify-content")
    same_size_rewrite(bmp_folder / "q.bmp", "one")

    result = run_cli(*args, "--verify-content")

    assert result.exit_code == 0, result.stderr
    assert "2 unchanged rows reused" in result.stderr
    assert out.read_bytes() == full_csv(bmp_folder, tmp_path)


# --- a state that does not describe the CSV is ignored -----------------------


def edit_a_label(out: Path) -> None:
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        if row[1]:
            row[1] = str((int(row[1]) + 3) % 10)
            break
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def drop_a_row(out: Path) -> None:
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:1] + lines[2:]))


def replace_by_other_text(out: Path) -> None:
    out.write_text("this is not the CSV the state describes\n", encoding="utf-8")


def delete_the_csv(out: Path) -> None:
    out.unlink()


def garble_the_state(out: Path) -> None:
    state_file(out).write_text("{not json\n", encoding="utf-8")


def empty_the_state(out: Path) -> None:
    state_file(out).write_bytes(b"")


@pytest.mark.parametrize(
    "tamper",
    [edit_a_label, drop_a_row, replace_by_other_text, delete_the_csv, garble_the_state,
     empty_the_state],
)
def test_a_state_that_does_not_match_its_csv_is_ignored(folder, out, tmp_path, conversions, tamper):
    incremental(folder, out, conversions)
    tamper(out)

    report, converted = incremental(folder, out, conversions)

    assert converted == image_rels(folder)
    assert report.reused == 0
    assert out.read_bytes() == full_csv(folder, tmp_path)
    assert state_header(out)["csv_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_plain_run_in_between_makes_the_state_stale(folder, out, tmp_path, conversions):
    incremental(folder, out, conversions)
    add_file(folder)
    classify_folder(folder, out=out, settings=JOBS1)  # not incremental: state not updated

    report, converted = incremental(folder, out, conversions)

    assert converted == image_rels(folder) and report.reused == 0
    assert out.read_bytes() == full_csv(folder, tmp_path)


# --- where the files go ----------------------------------------------------


def test_csv_inside_the_input_folder_keeps_its_state_out_of_the_rows(tmp_path, conversions):
    folder = make_folder(tmp_path / "in")
    out = folder / "predictions.csv"

    incremental(folder, out, conversions)
    report, converted = incremental(folder, out, conversions)

    assert converted == [] and report.reused == 7
    assert state_file(out).is_file()
    paths = [row["path"] for row in read_csv(out)]
    assert not any("predictions.csv" in p for p in paths)
    assert out.read_bytes() == full_csv(folder, tmp_path)


def test_relative_output_path_keeps_the_state_beside_it(folder, tmp_path, monkeypatch, conversions):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    incremental(folder, "p.csv", conversions)
    report, converted = incremental(folder, "p.csv", conversions)

    assert converted == [] and report.reused == 7
    assert (work / ".p.csv.state.json").is_file()
    assert sorted(os.listdir(work)) == [".p.csv.folder.json", ".p.csv.lock", ".p.csv.state.json", "p.csv"]


def test_read_only_input_folder(folder, out, tmp_path, conversions, monkeypatch):
    full = full_csv(folder, tmp_path)
    deny_access(monkeypatch, read_only=[folder / "sub", folder])  # as chmod 555, for root too

    report, converted = incremental(folder, out, conversions)
    assert converted == image_rels(folder) and report.counts["error"] == 1
    report, converted = incremental(folder, out, conversions)
    assert converted == [] and report.reused == 7
    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--incremental")
    assert result.exit_code == 1, result.stderr
    assert "7 unchanged rows reused" in result.stderr
    assert out.read_bytes() == full


def test_an_error_row_from_an_unreadable_file_is_retried_once_it_is_readable(
    folder, out, tmp_path, conversions
):
    """A chmod changes neither size nor mtime: a 'permission denied' row must be retried."""
    with pytest.MonkeyPatch.context() as denied:
        deny_access(denied, unreadable=[folder / "a.png"])  # as chmod 0 does, for root too
        incremental(folder, out, conversions)
        assert rows_by_path(out)["a.png"]["error"] == "permission denied"
        report, converted = incremental(folder, out, conversions)
        assert converted == ["a.png"] and report.reused == 6  # tried again, still denied
        assert rows_by_path(out)["a.png"]["error"] == "permission denied"

    report, converted = incremental(folder, out, conversions)

    assert converted == ["a.png"] and report.reused == 6
    assert rows_by_path(out)["a.png"]["status"] in ("ok", "low_confidence")
    assert out.read_bytes() == full_csv(folder, tmp_path)


# --- the state is read a block of lines at a time ------------------------------


def _state_pair(tmp_path: Path, body: list[str], rows: int) -> tuple[str, str]:
    from batchdigits.run.write import COLUMNS

    csv_path, state = tmp_path / "p.csv", tmp_path / ".p.csv.state.json"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow([f"s{i:05d}.png", i % 10, "0.990000", "ok", ""])
    state.write_text("{}\n" + "".join(line + "\n" for line in body), encoding="utf-8")
    return str(csv_path), str(state)


@pytest.mark.parametrize("damage", ["{not json", "", '["s00700.png", 7, 7, ""], ["x", 1, 1, ""]', "7"])
def test_a_damaged_state_line_stops_the_reuse_at_that_line(tmp_path, damage):
    from batchdigits.run.incremental import STATE_BLOCK, _pairs

    rows = 2 * STATE_BLOCK + 5
    body = [json.dumps([f"s{i:05d}.png", 100 + i, 10**18 + i, ""]) for i in range(rows)]
    whole = list(_pairs(*_state_pair(tmp_path, body, rows)))
    assert [(r.path, s.size, s.mtime_ns, s.sha256) for r, s in whole] == [
        (f"s{i:05d}.png", 100 + i, 10**18 + i, "") for i in range(rows)
    ]
    body[STATE_BLOCK + 700] = damage
    assert list(_pairs(*_state_pair(tmp_path, body, rows))) == whole[:STATE_BLOCK + 700]
    assert list(_pairs(*_state_pair(tmp_path, body[:-1], rows))) == whole[:STATE_BLOCK + 700]
