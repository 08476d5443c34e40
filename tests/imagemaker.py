"""Make real digit-like image files for the tests.

Everything starts from :func:`digit_array`: a grayscale ``uint8`` drawing
(dark ink 0 on white paper 255) of a thick "1" bar, an "0" ellipse, or
nothing.  :func:`make_image` turns it into a Pillow image of any mode and
:func:`save_digit` writes it to a file in any format.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = (48, 64)  # width, height: about the proportions of a scanned digit
SHAPES = ("one", "zero", "blank")


def digit_array(shape: str = "one", size: tuple[int, int] = SIZE) -> np.ndarray:
    """A ``(height, width)`` uint8 array: ``shape`` drawn in black on white."""
    w, h = size
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    if shape == "one":
        bar = max(w // 7, 2)
        draw.rectangle([w // 2 - bar // 2, h // 8, w // 2 + bar // 2, h - h // 8], fill=0)
    elif shape == "zero":
        draw.ellipse([w // 6, h // 12, w - w // 6, h - h // 12], outline=0, width=max(w // 9, 2))
    elif shape != "blank":
        raise ValueError(f"unknown shape {shape!r}")
    return np.asarray(img, dtype=np.uint8)


def make_image(
    shape: str = "one",
    mode: str = "L",
    size: tuple[int, int] = SIZE,
    invert: bool = False,
) -> Image.Image:
    """``shape`` as a Pillow image of ``mode``; ``invert`` draws white on black."""
    gray = digit_array(shape, size)
    if invert:
        gray = 255 - gray
    if mode == "I;16":
        return Image.fromarray(gray.astype(np.uint16) * 257)  # full 16-bit range
    if mode == "I":
        return Image.fromarray(gray.astype(np.int32) * 257)
    if mode == "F":
        return Image.fromarray(gray.astype(np.float32) / 255.0)  # 0.0 .. 1.0
    img = Image.fromarray(gray)  # mode L
    if mode == "L":
        return img
    if mode == "1":
        return img.convert("1", dither=Image.Dither.NONE)
    if mode == "LA":
        return Image.merge("LA", (img, Image.new("L", img.size, 255)))
    return img.convert(mode)  # P, RGB, RGBA, CMYK


def save_digit(
    path: str | os.PathLike[str],
    shape: str = "one",
    mode: str = "L",
    fmt: str | None = None,
    size: tuple[int, int] = SIZE,
    invert: bool = False,
    **save_options: object,
) -> Path:
    """Draw ``shape`` in ``mode`` and save it to ``path`` (format from the name
    unless ``fmt`` is given); creates parent folders; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_image(shape, mode, size, invert).save(path, format=fmt, **save_options)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: str | os.PathLike[str], width: int = 20000, height: int = 20000) -> Path:
    """A real decompression bomb: a valid 1-bit PNG of ``width x height`` white
    pixels that is only a few hundred kilobytes on disk."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte + packed pixels
    comp = zlib.compressobj(9)
    rows_per_piece = 1000
    piece = row * rows_per_piece
    parts = [comp.compress(piece) for _ in range(height // rows_per_piece)]
    parts.append(comp.compress(row * (height % rows_per_piece)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )
    path = Path(path)
    path.write_bytes(data)
    return path


def write_truncated(
    path: str | os.PathLike[str], keep: float = 0.5, size: tuple[int, int] = (56, 72)
) -> Path:
    """A real PNG/JPEG (format from the name) cut off after ``keep`` of its bytes."""
    path = Path(path)
    save_digit(path, "zero", size=size)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def save_grid(path: str | os.PathLike[str], grid: np.ndarray) -> Path:
    """An 8x8 grayscale PNG holding a load_digits-style grid (values 0..16)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.asarray(grid, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(values).save(path)
    return path
