"""Property tests: any image, any size, any bytes -- a grid, a blank or an error row, never a crash."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageDraw

from batchdigits import classify_folder
from batchdigits.run.pipeline import Settings
from batchdigits.image.convert import convert_file
from batchdigits.image.grid import image_to_grid
from helpers import read_csv
from imagemaker import make_image

PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# formats that store each mode as it is: (Pillow format, file extension)
FORMATS = {
    "1": [("PNG", ".png"), ("BMP", ".bmp"), ("GIF", ".gif"), ("TIFF", ".tif"), ("PPM", ".pbm")],
    "L": [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"), ("GIF", ".gif"), ("TIFF", ".tiff"),
          ("WEBP", ".webp"), ("PPM", ".pgm")],
    "P": [("PNG", ".png"), ("BMP", ".bmp"), ("GIF", ".gif"), ("TIFF", ".tif")],
    "LA": [("PNG", ".png"), ("TIFF", ".tif")],
    "RGB": [("PNG", ".png"), ("JPEG", ".jpeg"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp"),
            ("PPM", ".ppm")],
    "RGBA": [("PNG", ".PNG"), ("TIFF", ".tif"), ("WEBP", ".webp")],
    "CMYK": [("JPEG", ".jpg"), ("TIFF", ".tif")],
    "I;16": [("PNG", ".png"), ("TIFF", ".tif")],
    "I": [("TIFF", ".tif")],
    "F": [("TIFF", ".tif")],
}
EXTREME_SIZES = [(1, 1), (1, 2), (2, 1), (1, 300), (300, 1), (300, 2), (2, 300), (3, 500), (8, 8)]


@st.composite
def gray_pictures(draw) -> np.ndarray:
    """A uint8 (height, width) array: noise, a constant, or rectangles and lines."""
    if draw(st.booleans()):
        w, h = draw(st.sampled_from(EXTREME_SIZES))
    else:
        w, h = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    kind = draw(st.sampled_from(["noise", "constant", "shapes"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    img = Image.new("L", (w, h), draw(st.integers(0, 255)))
    if kind == "shapes":
        canvas = ImageDraw.Draw(img)
        for _ in range(draw(st.integers(1, 6))):
            x0, x1 = sorted(int(v) for v in rng.integers(0, w, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(0, h, 2))
            fill = int(rng.integers(0, 256))
            if rng.random() < 0.5:
                canvas.rectangle([x0, y0, x1, y1], fill=fill)
            else:
                canvas.line([x0, y0, x1, y1], fill=fill, width=int(rng.integers(1, 5)))
    return np.asarray(img, dtype=np.uint8)


def as_mode(gray: np.ndarray, mode: str, scale: float, alpha_seed: int) -> Image.Image:
    """The grayscale picture as a Pillow image of ``mode`` (numeric modes scaled by ``scale``)."""
    base = Image.fromarray(gray)
    if mode == "I;16":
        return Image.fromarray(np.clip(gray.astype(np.float64) * scale, 0, 65535).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((gray.astype(np.float64) * scale).astype(np.int32))
    if mode == "F":
        return Image.fromarray((gray.astype(np.float64) * scale / 255.0).astype(np.float32))
    alpha = Image.fromarray(
        np.random.default_rng(alpha_seed).integers(0, 256, gray.shape, dtype=np.uint8)
    )
    if mode == "LA":
        return Image.merge("LA", (base, alpha))
    if mode == "RGBA":
        img = base.convert("RGBA")
        img.putalpha(alpha)
        return img
    return base.convert(mode)


@st.composite
def image_files(draw):
    mode = draw(st.sampled_from(sorted(FORMATS)))
    fmt, ext = draw(st.sampled_from(FORMATS[mode]))
    scale = draw(st.sampled_from([1.0, 16.0, 257.0, -3.0, 1000.0])) if mode in ("I", "F") else (
        draw(st.sampled_from([1.0, 16.0, 257.0])) if mode == "I;16" else 1.0
    )
    img = as_mode(draw(gray_pictures()), mode, scale, draw(st.integers(0, 2**32 - 1)))
    return img, fmt, ext


def check_conversion(grid, error) -> None:
    if grid is None:
        assert isinstance(error, str)  # "" for a blank, a reason for an error
        return
    assert error == ""
    assert isinstance(grid, np.ndarray) and grid.shape == (8, 8)
    assert np.issubdtype(grid.dtype, np.integer)
    assert 0 <= int(grid.min()) and int(grid.max()) <= 16


@PROPERTY
@given(image_files())
def test_convert_file_on_any_saved_image_gives_a_grid_or_a_blank(case):
    img, fmt, ext = case
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digit" + ext)
        img.save(path, format=fmt)

        grid, error = convert_file(path)

    check_conversion(grid, error)
    # a file Pillow itself wrote is never an error row
    assert error == "", f"{img.mode} {img.size} as {fmt}: {error}"


@PROPERTY
@given(
    st.one_of(
        st.sampled_from(EXTREME_SIZES).map(lambda wh: (wh[1], wh[0])),
        st.tuples(st.integers(1, 80), st.integers(1, 80)),
    ).flatmap(
        lambda shape: arrays(
            np.float64, shape, elements=st.floats(0.0, 255.0, allow_nan=False, width=32)
        )
    )
)
def test_image_to_grid_on_any_float_array(gray):
    grid = image_to_grid(gray)

    if grid is not None:
        assert grid.shape == (8, 8)
        assert np.issubdtype(grid.dtype, np.integer)
        assert 0 <= int(grid.min()) and int(grid.max()) <= 16


@PROPERTY
@given(gray_pictures())
def test_image_to_grid_on_pictures_gives_a_grid_or_none_and_8x8_is_always_a_grid(gray):
    grid = image_to_grid(gray.astype(np.float32))

    if grid is not None:
        assert grid.shape == (8, 8) and 0 <= grid.min() and grid.max() <= 16
    else:
        assert gray.shape != (8, 8)  # an 8x8 input is always read as a grid


def _real_image_bytes() -> list[bytes]:
    out = []
    for fmt, mode in (("PNG", "L"), ("JPEG", "RGB"), ("GIF", "P"), ("TIFF", "RGB")):
        buf = io.BytesIO()
        make_image("zero", mode, size=(20, 24)).save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


REAL = _real_image_bytes()
MAGIC = [b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff"]


@st.composite
def junk_bytes(draw) -> bytes:
    """Random bytes, random bytes behind a real magic number, or a damaged real image."""
    kind = draw(st.sampled_from(["random", "magic", "damaged"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "magic":
        return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(REAL)))
    data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


junk_files = st.lists(
    st.tuples(st.sampled_from([".png", ".jpg", ".gif", ".tif"]), junk_bytes()),
    min_size=1,
    max_size=6,
)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on corrupt TIFF/EXIF data
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk_files, st.booleans())
def test_random_bytes_never_crash_a_run(files, write_csv):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        names = []
        for i, (ext, data) in enumerate(files):
            name = f"f{i}{ext}"
            (folder / name).write_bytes(data)
            names.append(name)
        out = Path(tmp) / "out.csv" if write_csv else None
        seen = []

        report = classify_folder(folder, out=out, settings=Settings(jobs=1), on_row=seen.append)

        assert report.found == len(files) == len(seen)
        assert sorted(row.path for row in seen) == sorted(names)
        for row in seen:
            assert row.status in ("ok", "low_confidence", "blank", "error")
            assert (row.status == "error") == bool(row.error)
        if out is not None:
            rows = read_csv(out)
            assert [r["path"] for r in rows] == sorted(names)
            assert [r["status"] for r in rows] == [row.status for row in seen]
