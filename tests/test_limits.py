"""Resource bombs: files of a few KB that claim or need huge images are error rows,
checked from the header before anything is decoded (``--max-pixels``, default 25 MP),
and a local worker cannot allocate more than its budget."""

from __future__ import annotations

import pytest
from PIL import Image, ImageFile

from batchdigits.run.pipeline import CHUNK_SIZE
from batchdigits.defaults import DEFAULT_MAX_PIXELS
from batchdigits.image.load import ImageError, load_image
from helpers import read_csv, run_cli
from imagemaker import save_digit

SIDE = 5001  # 5001 x 5001 = 25.01 million pixels: just over the default cap


def pgm_header(path):
    """118 bytes claiming a 9000 x 9000 grayscale image."""
    data = b"P5\n9000 9000\n255\n"
    path.write_bytes(data + bytes(118 - len(data)))
    return path


def small_png(path):
    Image.new("L", (SIDE, SIDE), 255).save(path, optimize=True)
    return path


def small_webp(path):
    Image.new("L", (SIDE, SIDE), 255).save(path, lossless=True)
    return path


@pytest.mark.parametrize("make", [pgm_header, small_png, small_webp], ids=["pgm", "png", "webp"])
def test_an_image_over_the_pixel_cap_is_refused_from_its_header(tmp_path, monkeypatch, make):
    path = make(tmp_path / f"bomb.{make.__name__.split('_')[-1]}")
    assert path.stat().st_size < 200_000
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))

    with pytest.raises(ImageError, match=r"too large: \d+x\d+ is [\d,]+ pixels, over the limit of 25,000,000"):
        load_image(path)

    assert decoded == []  # the pixels were never decoded


def test_max_pixels_sets_the_cap(tmp_path):
    save_digit(tmp_path / "in" / "a.png", "one", size=(100, 80))  # 8000 pixels
    out = tmp_path / "p.csv"

    assert run_cli("classify", tmp_path / "in", "-o", out, "--jobs", "1").exit_code == 0
    result = run_cli("classify", tmp_path / "in", "-o", out, "--jobs", "1", "--max-pixels", "7999")

    assert result.exit_code == 1
    row = read_csv(out)[0]
    assert row["status"] == "error"
    assert row["error"] == "too large: 100x80 is 8,000 pixels, over the limit of 7,999 (--max-pixels)"
    assert run_cli("classify", tmp_path / "in", "-o", out, "--max-pixels", "0").exit_code == 2
    assert DEFAULT_MAX_PIXELS == 25_000_000


def test_a_worker_cannot_use_more_than_its_memory_budget(tmp_path):
    """A 1 x 16 million TIFF (20 KB, under the pixel cap) needs hundreds of MB to shrink."""
    folder = tmp_path / "in"
    for i in range(2 * CHUNK_SIZE):
        save_digit(folder / f"d{i:03d}.png", ("one", "zero")[i % 2])
    Image.new("L", (1, 16_000_000), 255).save(folder / "strip.tif", compression="tiff_deflate")
    assert (folder / "strip.tif").stat().st_size < 100_000
    out = tmp_path / "p.csv"

    result = run_cli("classify", folder, "-o", out, "--jobs", "2")

    assert result.exit_code == 1, result.stderr
    rows = {r["path"]: r for r in read_csv(out)}
    assert rows["strip.tif"]["error"] == "cannot decode image: it needs more memory than a worker may use"
    assert sum(r["status"] == "error" for r in rows.values()) == 1
