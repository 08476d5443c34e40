"""Discovery: which files a run sees, in which order, and what it never reads."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from batchdigits import classify_folder
from batchdigits.run.pipeline import Settings
from batchdigits.io.files import IMAGE_EXTENSIONS, is_image_name, walk
from helpers import deny_access, read_csv, run_cli, run_script, statuses
from imagemaker import save_digit

EXTENSIONS = "png jpg jpeg bmp gif tif tiff webp pgm ppm pbm pnm".split()


def mixed_case(text: str) -> str:
    return "".join(c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(text))


def walked(root: Path, **kwargs) -> list[tuple[str, str]]:
    # islice: a walk that loops forever fails instead of hanging the suite
    found = list(itertools.islice(walk(str(root), **kwargs), 10_000))
    assert len(found) < 10_000
    return [(f.rel, f.kind) for f in found]


def test_every_image_extension_in_any_case_is_an_image(tmp_path):
    assert {e.lstrip(".") for e in IMAGE_EXTENSIONS} == set(EXTENSIONS)
    images = []
    for ext in EXTENSIONS:
        for variant in (ext.lower(), ext.upper(), mixed_case(ext)):
            name = f"{ext}_{variant}.{variant}"
            (tmp_path / name).write_bytes(b"")
            images.append(name)
    (tmp_path / "x.JpEg").write_bytes(b"")
    images.append("x.JpEg")
    others = ["notes.txt", "README", "scan.png.bak", "archive.tar.gz", "png", "photo.svg"]
    for name in others:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "album.png").mkdir()  # a folder is descended into, whatever its name
    (tmp_path / "album.png" / "inner.gif").write_bytes(b"")
    images.append("album.png/inner.gif")

    kinds = dict(walked(tmp_path))

    assert kinds == {**dict.fromkeys(images, "image"), **dict.fromkeys(others, "other")}


def test_non_image_files_are_skipped_and_get_no_row(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "sub" / "zero.png", "zero")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub" / "data.json").write_text("{}")
    (folder / "zz-last.csv").write_text("a,b\n")  # after the last image in order
    out = tmp_path / "out.csv"

    report = classify_folder(folder, out=out, settings=Settings(jobs=1))

    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["one.png", "sub/zero.png"]
    assert report.skipped == 3
    assert report.found == 2


def test_skipped_count_is_complete_with_worker_processes(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    for name in ("m.txt", "y.txt", "z.txt"):
        (folder / name).write_text("x")

    report = classify_folder(folder, out=None, settings=Settings(jobs=2))

    assert report.found == 1
    assert report.skipped == 3


def nested_folder(root: Path) -> Path:
    save_digit(root / "top.png", "one")
    save_digit(root / "sub" / "mid.png", "zero")
    save_digit(root / "sub" / "deeper" / "low.png", "one")
    return root


def test_recursive_by_default(tmp_path):
    folder = nested_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == ["sub/deeper/low.png", "sub/mid.png", "top.png"]


def test_no_recursive_reads_only_the_top_folder(tmp_path):
    folder = nested_folder(tmp_path / "in")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--no-recursive")

    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == ["top.png"]


TRICKY_NAMES = [
    "a.png",
    "a/b.png",
    "a/a.png",
    "a/a/z.png",
    "a-b.png",
    "a0.png",
    "a b.png",
    "a!.png",
    "A.png",
    "B/c.png",
    "b.png",
    "ab/c.png",
    "_x.png",
    "~.png",
    "Z.png",
    "é.png",
    "z/é/1.png",
]


def test_walk_order_equals_sorted_relative_paths(tmp_path):
    for rel in TRICKY_NAMES:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    rels = [rel for rel, _ in walked(tmp_path)]

    assert rels == sorted(TRICKY_NAMES)


def test_csv_rows_come_in_sorted_path_order(tmp_path):
    folder = tmp_path / "in"
    for i, rel in enumerate(TRICKY_NAMES):
        save_digit(folder / rel, "one" if i % 2 else "zero")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1", "--batch-size", "3")

    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == sorted(TRICKY_NAMES)


def test_directory_symlink_loop_terminates_and_lists_each_file_once(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "sub" / "b.png", "zero")
    os.symlink("..", folder / "sub" / "loop")
    os.symlink(".", folder / "sub" / "self")

    assert walked(folder) == [("a.png", "image"), ("sub/b.png", "image")]

    out = tmp_path / "out.csv"
    result = run_cli("classify", folder, "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in read_csv(out)] == ["a.png", "sub/b.png"]


@pytest.mark.parametrize(
    ("name", "target", "reason"),
    [("x.png", "missing.png", "broken symbolic link"), ("loop.png", "loop.png", "symbolic link loop")],
)
def test_a_bad_symlink_gives_an_error_row(tmp_path, name, target, reason):
    folder = tmp_path / "in"
    save_digit(folder / "good.png", "one")
    os.symlink(target, folder / name)
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert result.exit_code == 1
    rows = {r["path"]: r for r in read_csv(out)}
    assert rows[name]["status"] == "error"
    assert reason in rows[name]["error"]
    assert rows["good.png"]["status"] in ("ok", "low_confidence")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_named_like_an_image_is_an_error_row_and_never_opened(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "good.png", "one")
    os.mkfifo(folder / "pipe.png")
    os.symlink("pipe.png", folder / "to-pipe.png")

    found = {f.rel: f for f in walk(str(folder))}
    assert found["pipe.png"].reason and found["to-pipe.png"].reason
    assert found["good.png"].reason == ""

    # opening the FIFO would block for ever: run in a subprocess with a timeout;
    # the review sheet draws the error rows' files, so it must not open it either
    out = tmp_path / "out.csv"
    sheet = tmp_path / "review.png"
    proc = run_script(
        "classify", folder, "--out", out, "--jobs", "1", "--quiet", "--review-sheet", sheet,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert sheet.stat().st_size > 0
    rows = statuses(read_csv(out))
    assert rows["pipe.png"] == rows["to-pipe.png"] == "error"
    assert rows["good.png"] in ("ok", "low_confidence")


def skipped_in_summary(stderr: str) -> int:
    match = re.search(r"(\d+) other files? skipped", stderr)
    assert match, stderr
    return int(match.group(1))


def test_output_and_its_own_files_inside_the_folder_are_never_read(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "one.png", "one")
    save_digit(folder / "zero.png", "zero")
    (folder / "notes.txt").write_text("the only other file")
    # leftovers a killed earlier run could have left beside the CSV
    (folder / ".predictions.csv.state.json").write_text("{}")
    (folder / ".predictions.csv.lock").write_text("")
    (folder / ".predictions.csv.k3j4h5.tmp").write_text("path,label\n")
    out = folder / "predictions.csv"

    first = run_cli("classify", folder, "--out", out, "--jobs", "1")
    first_csv = out.read_bytes()
    second = run_cli("classify", folder, "--out", out, "--jobs", "1")

    assert first.exit_code == second.exit_code == 0
    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["one.png", "zero.png"]
    assert not any("predictions" in r["path"] for r in rows)
    assert out.read_bytes() == first_csv
    assert skipped_in_summary(first.stderr) == skipped_in_summary(second.stderr) == 1


def test_output_given_by_a_relative_path_inside_the_folder_is_not_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_digit(tmp_path / "in" / "one.png", "one")

    for _ in range(2):
        report = classify_folder("in", out="in/predictions.csv", settings=Settings(jobs=1))
        assert (report.found, report.skipped) == (1, 0)
    assert [r["path"] for r in read_csv(tmp_path / "in" / "predictions.csv")] == ["one.png"]


def test_unlistable_subfolder_gives_one_error_row_and_the_run_goes_on(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    save_digit(folder / "locked" / "hidden.png", "zero")
    save_digit(folder / "z.png", "zero")
    deny_access(monkeypatch, unreadable=[folder / "locked"])  # as chmod 0, for root too
    out = tmp_path / "out.csv"

    report = classify_folder(folder, out=out, settings=Settings(jobs=1))

    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["a.png", "locked", "z.png"]
    assert (rows[1]["status"], rows[1]["label"]) == ("error", "")
    assert "cannot list directory" in rows[1]["error"]
    assert rows[0]["status"] in ("ok", "low_confidence")
    assert rows[2]["status"] in ("ok", "low_confidence")
    assert report.exit_code() == 1


def test_a_signal_while_a_file_is_opened_stops_the_run_and_is_never_an_error_row(tmp_path, monkeypatch):
    # CI run of 2026-12-02: a SIGTERM landed inside os.fdopen, which closes the descriptor itself as it
    # fails; open_input closed it again, the EBADF OSError replaced the KeyboardInterrupt, the file
    # became an error row ("bad file descriptor") and the run went on to exit 1 instead of 130.
    import batchdigits.io.files as files
    from batchdigits.image.load import load_image

    save_digit(tmp_path / "in" / "a.png")
    real_fdopen = os.fdopen

    def interrupted(fd: int, *args: object, **kwargs: object):
        real_fdopen(fd, *args, **kwargs).close()  # as io.open does when a signal handler raises in it
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fdopen", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_image(tmp_path / "in" / "a.png")
    with pytest.raises(KeyboardInterrupt):
        classify_folder(tmp_path / "in", out=tmp_path / "p.csv", settings=Settings(jobs=1))
    assert not (tmp_path / "p.csv").exists()


NAME_PARTS = st.sampled_from(["", ".", "..", "a", "scan", ".png", ".PNG", ".jpeg", ".Tiff", ".webp", ".txt", "png",
                              ".pngx", "x.", " ", ".tar.gz", ".jp", "é"])


@given(st.lists(NAME_PARTS, max_size=5).map("".join))
def test_an_image_name_is_one_whose_splitext_extension_is_an_image_extension(name):
    # is_image_name finds the extension without os.path.splitext (every walked file asks): the same answer,
    # hidden files (".png", "..png") and a trailing dot included
    assert is_image_name(name) == (os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
