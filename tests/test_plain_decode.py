"""Plain files decoded by OpenCV give exactly the pixels of the Pillow path, and only plain files are."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from batchdigits.image import load
from batchdigits.image.load import ImageError, load_image
from batchdigits.image.plain import decode_plain
from helpers import read_csv, run_script
from imagemaker import png_chunk

SIDES = (64, 512)  # the workers' conversion side, and load_image's default


def scan(size: tuple[int, int] = (57, 71), seed: int = 0) -> np.ndarray:
    """A paper-and-ink RGB picture with noise, every value of every channel in use."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    ring = np.abs(np.hypot((x - w / 2) / w, (y - h / 2) / h) - 0.3) < 0.08
    base = np.where(ring, 40, 215)[..., None] + rng.normal(0, 25, (h, w, 3))
    return np.clip(base + np.array([10, -5, 20]), 0, 255).astype(np.uint8)


def pillow_path(path: Path, side: int, monkeypatch: pytest.MonkeyPatch) -> np.ndarray | str:
    with monkeypatch.context() as m:
        m.setattr(load, "PLAIN_BYTES", -1)  # nothing is plain: Pillow decodes it all
        try:
            return load_image(path, max_side=side)
        except ImageError as exc:
            return str(exc)


def check_same(path: Path, monkeypatch: pytest.MonkeyPatch, plain: bool) -> None:
    """load_image equals the Pillow path at both sides; ``plain``: OpenCV decoded it."""
    data = path.read_bytes()
    for side in SIDES:
        expected = pillow_path(path, side, monkeypatch)
        assert (decode_plain(data, side, 10**9) is not None) == plain, (path.name, side)
        try:
            got: np.ndarray | str = load_image(path, max_side=side)
        except ImageError as exc:
            got = str(exc)
        if isinstance(expected, str) or isinstance(got, str):
            assert got == expected
        else:
            assert got.dtype == np.uint8 and got.shape == expected.shape and np.array_equal(got, expected), path.name


def save(path: Path, image: Image.Image, **options: object) -> Path:
    image.save(path, **options)
    return path


PLAIN = {
    "L.png": lambda rgb: (Image.fromarray(rgb).convert("L"), {}),
    "RGB.png": lambda rgb: (Image.fromarray(rgb), {}),
    "P.png": lambda rgb: (Image.fromarray(rgb).quantize(37), {}),
    "P-2bit.png": lambda rgb: (Image.fromarray(rgb).quantize(4), {"bits": 2}),
    "1.png": lambda rgb: (Image.fromarray(rgb).convert("1"), {}),
    "L-small.png": lambda rgb: (Image.fromarray(rgb[:30, :20]).convert("L"), {}),
    "L.jpg": lambda rgb: (Image.fromarray(rgb).convert("L"), {"quality": 85}),
    "RGB.jpg": lambda rgb: (Image.fromarray(rgb), {"quality": 90}),
    "RGB-444.jpg": lambda rgb: (Image.fromarray(rgb), {"subsampling": 0}),
    "RGB-progressive.jpg": lambda rgb: (Image.fromarray(rgb), {"progressive": True, "optimize": True}),
    "RGB-restarts.jpg": lambda rgb: (Image.fromarray(rgb), {"restart_marker_blocks": 3}),
    "RGB-orientation-1.jpg": lambda rgb: (Image.fromarray(rgb), {"exif": _exif(1)}),
    "RGB-comment.jpg": lambda rgb: (Image.fromarray(rgb), {"comment": b"scanner 7"}),
    "L.bmp": lambda rgb: (Image.fromarray(rgb).convert("L"), {}),
    "RGB.bmp": lambda rgb: (Image.fromarray(rgb), {}),
    "P.bmp": lambda rgb: (Image.fromarray(rgb).quantize(200), {}),
    "1.bmp": lambda rgb: (Image.fromarray(rgb).convert("1"), {}),
    "L.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {}),
    "RGB.tif": lambda rgb: (Image.fromarray(rgb), {}),
    "L-lzw.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {"compression": "tiff_lzw"}),
    "RGB-deflate.tif": lambda rgb: (Image.fromarray(rgb), {"compression": "tiff_adobe_deflate"}),
    "L-packbits.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {"compression": "packbits"}),
    "RGB-strips.tif": lambda rgb: (Image.fromarray(rgb), {"compression": "tiff_lzw", "strip_size": 1024}),
    "L-orientation-1.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {"tiffinfo": {274: 1}}),
}


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("name", sorted(PLAIN))
@pytest.mark.parametrize("size", [(57, 71), (140, 130), (530, 515)], ids=["small", "draft-2", "draft-8"])
def test_plain_files_are_decoded_by_opencv_to_pillows_pixels(tmp_path, monkeypatch, name, size):
    image, options = PLAIN[name](scan(size))
    check_same(save(tmp_path / name, image, **options), monkeypatch, plain=True)


def test_a_gamma_and_text_chunks_change_nothing_and_stay_plain(tmp_path, monkeypatch):
    data = _png_bytes(Image.fromarray(scan()).convert("L"))
    extra = png_chunk(b"gAMA", struct.pack(">I", 45455)) + png_chunk(b"tEXt", b"Software\0scanner")
    path = tmp_path / "gamma.png"
    path.write_bytes(data[:33] + extra + data[33:])
    check_same(path, monkeypatch, plain=True)


def test_an_interlaced_png_is_plain(tmp_path, monkeypatch):
    grey = np.asarray(Image.fromarray(scan()).convert("L"))
    path = tmp_path / "adam7.png"
    path.write_bytes(_adam7_png(grey))
    assert np.array_equal(np.asarray(Image.open(path)), grey)  # a true interlaced file
    check_same(path, monkeypatch, plain=True)


def test_a_top_down_bmp_is_plain(tmp_path, monkeypatch):
    data = bytearray(_bmp_bytes(Image.fromarray(scan())))
    height = struct.unpack_from("<i", data, 22)[0]
    offset = struct.unpack_from("<I", data, 10)[0]
    stride = (len(data) - offset) // height
    rows = [data[offset + i * stride : offset + (i + 1) * stride] for i in range(height)]
    data[offset:] = b"".join(reversed(rows))
    struct.pack_into("<i", data, 22, -height)
    path = tmp_path / "top-down.bmp"
    path.write_bytes(bytes(data))
    check_same(path, monkeypatch, plain=True)


NOT_PLAIN = {
    "RGBA.png": lambda rgb: (Image.fromarray(rgb).convert("RGBA"), {}),
    "LA.png": lambda rgb: (Image.fromarray(rgb).convert("LA"), {}),
    "P-transparent.png": lambda rgb: (Image.fromarray(rgb).quantize(16), {"transparency": 3}),
    "L-transparent.png": lambda rgb: (Image.fromarray(rgb).convert("L"), {"transparency": 215}),
    "I16.png": lambda rgb: (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), {}),
    "L-orientation-6.png": lambda rgb: (Image.fromarray(rgb).convert("L"), {"exif": _exif(6)}),
    "RGB-orientation-6.jpg": lambda rgb: (Image.fromarray(rgb), {"exif": _exif(6)}),
    "RGB-orientation-3.jpg": lambda rgb: (Image.fromarray(rgb), {"exif": _exif(3)}),
    "xmp.jpg": lambda rgb: (Image.fromarray(rgb), {"xmp": b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/>'}),
    "CMYK.jpg": lambda rgb: (Image.fromarray(rgb).convert("CMYK"), {}),
    "L-orientation-6.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {"tiffinfo": {274: 6}}),
    "RGBA.tif": lambda rgb: (Image.fromarray(rgb).convert("RGBA"), {}),
    "CMYK.tif": lambda rgb: (Image.fromarray(rgb).convert("CMYK"), {}),
    "I16.tif": lambda rgb: (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), {}),
    "P.tif": lambda rgb: (Image.fromarray(rgb).quantize(16), {}),
    "1.tif": lambda rgb: (Image.fromarray(rgb).convert("1"), {}),
    "L-jpeg.tif": lambda rgb: (Image.fromarray(rgb).convert("L"), {"compression": "jpeg"}),
    "L.gif": lambda rgb: (Image.fromarray(rgb).convert("L"), {}),
    "RGB.webp": lambda rgb: (Image.fromarray(rgb), {}),
    "L.pgm": lambda rgb: (Image.fromarray(rgb).convert("L"), {}),
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_other_files_are_left_to_pillow(tmp_path, monkeypatch, name):
    image, options = NOT_PLAIN[name](scan())
    check_same(save(tmp_path / name, image, **options), monkeypatch, plain=False)


def test_a_multi_page_tiff_is_read_at_its_first_page(tmp_path, monkeypatch):
    pages = [Image.fromarray(scan(seed=i)).convert("L") for i in range(3)]
    path = save(tmp_path / "pages.tif", pages[0], save_all=True, append_images=pages[1:])
    check_same(path, monkeypatch, plain=True)
    assert np.array_equal(load_image(path), np.asarray(pages[0]))


def test_an_animated_png_is_left_to_pillow(tmp_path, monkeypatch):
    frames = [Image.fromarray(scan(seed=i)).convert("L") for i in range(3)]
    path = save(tmp_path / "animated.png", frames[0], save_all=True, append_images=frames[1:])
    check_same(path, monkeypatch, plain=False)


def test_a_32_bit_or_compressed_bmp_is_left_to_pillow(tmp_path, monkeypatch):
    check_same(save(tmp_path / "rgba.bmp", Image.fromarray(scan()).convert("RGBA")), monkeypatch, plain=False)
    rle = bytearray(_bmp_bytes(Image.fromarray(scan()).quantize(16)))
    struct.pack_into("<I", rle, 30, 1)  # BI_RLE8 claimed
    (tmp_path / "rle.bmp").write_bytes(bytes(rle))
    check_same(tmp_path / "rle.bmp", monkeypatch, plain=False)


@pytest.mark.parametrize("ext", ["png", "jpg", "bmp", "tif"])
@pytest.mark.parametrize("keep", [0.3, 0.9, -1])
def test_damaged_files_are_judged_by_pillow(tmp_path, monkeypatch, ext, keep):
    data = _file_bytes(Image.fromarray(scan()), ext)
    cut = data[: int(len(data) * keep)] if keep > 0 else data[:-1]
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(cut)
    check_same(path, monkeypatch, plain=False)


def test_a_png_chunk_with_a_wrong_crc_is_judged_by_pillow(tmp_path, monkeypatch):
    data = bytearray(_png_bytes(Image.fromarray(scan()).convert("L")))
    data[-13] ^= 0x01  # the last IDAT chunk's CRC
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    check_same(path, monkeypatch, plain=False)


def test_sizes_over_the_limits_are_left_to_pillow_and_refused(tmp_path):
    path = save(tmp_path / "big.png", Image.fromarray(scan((120, 100))).convert("L"))
    assert decode_plain(path.read_bytes(), 64, 120 * 100 - 1) is None
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_pixels=120 * 100 - 1)
    jpeg = save(tmp_path / "big.jpg", Image.fromarray(scan((1100, 1030))))
    assert decode_plain(jpeg.read_bytes(), 64, 138 * 129) is not None  # decoded at 1/8: its draft size counts
    assert decode_plain(jpeg.read_bytes(), 64, 138 * 129 - 1) is None


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_a_side_over_opencvs_limit_is_left_to_pillow(tmp_path, monkeypatch, ext):
    """OpenCV refuses a side over 2**20 px with an exception; Pillow reads such a strip."""
    path = save(tmp_path / f"strip.{ext}", Image.new("L", (1, 1_100_000), 255))
    assert decode_plain(path.read_bytes(), 64, 10**9) is None
    check_same(path, monkeypatch, plain=False)


@pytest.mark.parametrize("files, jobs", [(3, "1"), (300, "2")], ids=["in-process", "workers"])
def test_a_decoders_complaint_about_corrupt_data_stays_out_of_the_terminal(tmp_path, files, jobs):
    """A JPEG whose entropy-coded data is damaged: libjpeg prints 'Corrupt JPEG data' on fd 2;
    Pillow decodes the same pixels silently, and so must a run (in its own process or in workers)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    data = bytearray(_file_bytes(Image.fromarray(scan((64, 64))), "jpg"))
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 2 + 5] ^= 0x55
    (folder / "corrupt.jpg").write_bytes(bytes(data))
    plain = _file_bytes(Image.fromarray(scan()).convert("L"), "png")
    for i in range(files):
        (folder / f"plain{i:03d}.png").write_bytes(plain)
    out = tmp_path / "out.csv"
    result = run_script("classify", folder, "--out", out, "--jobs", jobs)
    assert result.returncode in (0, 1), result.stderr
    assert "Corrupt JPEG" not in result.stderr
    rows = read_csv(out)
    assert len(rows) == files + 1 and rows[0]["path"] == "corrupt.jpg" and rows[0]["error"] == ""


def test_a_chunk_points_stderr_away_once_not_once_per_file(tmp_path, monkeypatch):
    """convert_chunk sets the decoders' silence up once for its chunk: four system calls a file
    were about 5 % of a small scan's CPU in a chunk (dup, dup2 twice, close)."""
    import threading

    from batchdigits.image import plain
    from batchdigits.image.convert import Task, convert_chunk

    data = _file_bytes(Image.fromarray(scan()).convert("L"), "png")
    tasks = []
    for i in range(20):
        (tmp_path / f"s{i:02d}.png").write_bytes(data)
        tasks.append(Task(str(tmp_path / f"s{i:02d}.png")))
    dups: list[int] = []
    real_dup = os.dup
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # as a worker's or a quiet main process's
    monkeypatch.setattr(plain.os, "dup", lambda fd: dups.append(fd) or real_dup(fd))
    converted = convert_chunk(tasks)
    assert len(converted) == 20 and all(c.grid is not None for c in converted)
    assert dups == [2]  # before: one per file


# ---------------------------------------------------------------------------
# files built by hand
# ---------------------------------------------------------------------------


def _file_bytes(image: Image.Image, ext: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format={"jpg": "JPEG", "png": "PNG", "bmp": "BMP", "tif": "TIFF"}[ext])
    return buffer.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    return _file_bytes(image, "png")


def _bmp_bytes(image: Image.Image) -> bytes:
    return _file_bytes(image, "bmp")


def _adam7_png(grey: np.ndarray) -> bytes:
    """An 8-bit grey PNG with Adam7 interlacing (Pillow cannot write one)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = grey[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    h, w = grey.shape
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
