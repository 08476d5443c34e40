"""Bad files: each gives exactly one error row with a readable reason; the run goes on."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from batchdigits import classify_folder
from batchdigits.run.pipeline import Settings
from batchdigits.image.load import ImageError, load_image
from helpers import deny_access, read_csv, run_cli, run_script
from imagemaker import save_digit, write_png_bomb, write_truncated

# In-process tests lower Pillow's bomb limit so a small file counts as a bomb:
# above LIMIT pixels Pillow warns (refused by batchdigits), above 2*LIMIT it errors.
LIMIT = 5000  # the good 48x64 digits (3072 pixels) stay below it


def zero_byte(folder: Path) -> str:
    (folder / "empty.png").write_bytes(b"")
    return "empty.png"


def truncated_png(folder: Path) -> str:
    return write_truncated(folder / "cut.png").name


def truncated_jpeg(folder: Path) -> str:
    return write_truncated(folder / "cut.jpg").name


def text_named_png(folder: Path) -> str:
    (folder / "notes.png").write_text("shopping list: eggs, milk\n")
    return "notes.png"


def bomb_over_limit(folder: Path) -> str:
    return save_digit(folder / "bomb.png", size=(80, 80)).name  # 6400 > LIMIT: warning


def bomb_over_twice_limit(folder: Path) -> str:
    return save_digit(folder / "bomb.png", size=(120, 120)).name  # 14400 > 2*LIMIT: error


def broken_symlink(folder: Path) -> str:
    os.symlink("does-not-exist.png", folder / "link.png")
    return "link.png"


def symlink_loop(folder: Path) -> str:
    os.symlink("loop.png", folder / "loop.png")
    return "loop.png"


def unreadable(folder: Path) -> str:
    path = save_digit(folder / "secret.png")
    path.chmod(0)
    return path.name


BAD: dict[str, tuple[Callable[[Path], str], str]] = {
    "zero-byte": (zero_byte, "empty file"),
    "truncated-png": (truncated_png, "truncated"),
    "truncated-jpeg": (truncated_jpeg, "truncated"),
    "text-named-png": (text_named_png, "not a recognised image format"),
    "bomb-warning": (bomb_over_limit, "decompression bomb"),
    "bomb-error": (bomb_over_twice_limit, "decompression bomb"),
    "broken-symlink": (broken_symlink, "broken symbolic link"),
    "symlink-loop": (symlink_loop, "symbolic link loop"),
    "unreadable": (unreadable, "permission denied"),
}
BAD_PARAMS = list(BAD)


def deny_unreadable(monkeypatch: pytest.MonkeyPatch, kind: str, path: Path) -> None:
    """chmod 0 stops anyone but root: make it stop root too (CI runs as root)."""
    if kind == "unreadable":
        deny_access(monkeypatch, unreadable=[path])


def assert_readable(reason: str, expected: str) -> None:
    assert expected in reason
    assert "\n" not in reason and "Traceback" not in reason
    assert len(reason) < 300


@pytest.mark.parametrize("kind", BAD_PARAMS)
def test_load_image_raises_a_readable_image_error(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", LIMIT)
    make, expected = BAD[kind]
    name = make(tmp_path)
    deny_unreadable(monkeypatch, kind, tmp_path / name)

    with pytest.raises(ImageError) as err:
        load_image(tmp_path / name)

    assert_readable(str(err.value), expected)


@pytest.mark.parametrize("kind", BAD_PARAMS)
def test_bad_file_gives_one_error_row_and_the_run_goes_on(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", LIMIT)
    folder = tmp_path / "in"
    save_digit(folder / "a_good.png", "one")
    save_digit(folder / "z_good.png", "zero")
    make, expected = BAD[kind]
    name = make(folder)
    deny_unreadable(monkeypatch, kind, folder / name)
    out = tmp_path / "out.csv"

    report = classify_folder(folder, out=out, settings=Settings(jobs=1, batch_size=1))

    rows = read_csv(out)
    assert [r["path"] for r in rows] == ["a_good.png", name, "z_good.png"]
    bad = rows[1]
    assert (bad["status"], bad["label"], bad["confidence"]) == ("error", "", "")
    assert_readable(bad["error"], expected)
    for good in (rows[0], rows[2]):
        assert good["status"] in ("ok", "low_confidence") and good["label"] != ""
        assert good["error"] == ""
    assert report.counts["error"] == 1
    assert report.exit_code() == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_load_image_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)

    def writer():  # should load_image open the FIFO, it gets fed a non-image
        with open(fifo, "wb") as fh:
            fh.write(b"not an image")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ImageError) as err:
            load_image(fifo)
    finally:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # let the writer finish
        thread.join(30)
        os.close(fd)

    assert_readable(str(err.value), "not a regular file")


class FifoUnblocker:
    """After ``after`` seconds, keep opening the FIFO's writing end and closing it, so a
    run blocked reading it gets end-of-file and finishes; ``needed`` says if it had to."""

    def __init__(self, fifo: Path, after: float) -> None:
        self.fifo, self.after, self.needed = fifo, after, False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self._done.wait(self.after):
            return
        while not self._done.wait(0.1):
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO: no reader
                self.needed = True
            except OSError:
                pass

    def __enter__(self) -> FifoUnblocker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)


@pytest.mark.parametrize("options", [[], ["--incremental", "--verify-content"]])
def test_a_fifo_swapped_in_after_the_check_is_an_error_row_not_a_hang(tmp_path, monkeypatch, options):
    """The walk and every stat see a regular file; it is replaced by a FIFO before it is
    opened.  Opening it normally would block for ever (holding the lock)."""
    import batchdigits.run.classify as classify_module

    folder = tmp_path / "in"
    save_digit(folder / "a.png", "one")
    swapped = save_digit(folder / "b.png", "zero")
    save_digit(folder / "c.png", "one")
    checked = os.stat(swapped)  # what a check made just before the swap saw
    real_walk, real_stat = classify_module.walk, os.stat

    def walk_then_swap(*args, **kwargs):
        for found in real_walk(*args, **kwargs):
            if found.rel == "b.png":
                os.unlink(swapped)
                os.mkfifo(swapped)
            yield found

    def stat_before_the_swap(path, *args, **kwargs):
        if os.fspath(path) == str(swapped):
            return checked
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(classify_module, "walk", walk_then_swap)
    monkeypatch.setattr(os, "stat", stat_before_the_swap)
    out = tmp_path / "out.csv"

    with FifoUnblocker(swapped, after=10) as unblocker:
        result = run_cli("classify", folder, "--out", out, "--jobs", "1", *options)

    assert not unblocker.needed, "the run blocked opening the FIFO"
    assert result.exit_code == 1, result.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    assert (rows["b.png"]["status"], rows["b.png"]["error"]) == (
        "error", "not a regular file (FIFO, socket or device)",
    )
    assert rows["a.png"]["status"] in ("ok", "low_confidence")
    assert rows["c.png"]["status"] in ("ok", "low_confidence")


def test_real_decompression_bomb_is_refused_by_the_console_script(tmp_path):
    folder = tmp_path / "in"
    save_digit(folder / "good.png", "one")
    bomb = write_png_bomb(folder / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 1_000_000  # 400 megapixels in a small file
    out = tmp_path / "out.csv"

    proc = run_script("classify", folder, "--out", out, "--jobs", "1")

    assert proc.returncode == 1, proc.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    assert rows["bomb.png"]["status"] == "error"
    assert_readable(rows["bomb.png"]["error"], "decompression bomb")
    assert rows["good.png"]["status"] in ("ok", "low_confidence")


def test_folder_mixing_good_and_bad_files(tmp_path):
    folder = tmp_path / "in"
    good = [
        save_digit(folder / "good1.png", "one").name,
        save_digit(folder / "sub" / "good2.jpg", "zero", "RGB").name,
        save_digit(folder / "zz_good3.bmp", "one").name,
    ]
    bad = [
        zero_byte(folder),
        truncated_png(folder),
        truncated_jpeg(folder),
        text_named_png(folder),
        broken_symlink(folder),
        symlink_loop(folder),
        write_png_bomb(folder / "bomb.png").name,
    ]
    (folder / "readme.txt").write_text("not an image")
    out = tmp_path / "out.csv"

    result = run_cli("classify", folder, "--out", out, "--jobs", "2", "--batch-size", "2")

    assert result.exit_code == 1
    rows = read_csv(out)
    assert len(rows) == len(good) + len(bad)
    assert f"{len(good) + len(bad)} images:" in result.stderr
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    for name in good:
        assert by_name[name]["status"] in ("ok", "low_confidence"), by_name[name]
    for name in bad:
        assert by_name[name]["status"] == "error", by_name[name]
        assert by_name[name]["error"]
