"""Plain PNG, JPEG, BMP and TIFF files decoded by OpenCV, to exactly the pixels Pillow gives.

Most scans are plain files: an 8-bit grey, colour or palette PNG, a baseline
or progressive JPEG of one or three components, an uncompressed BMP, with no
transparency and no orientation to apply, a TIFF of 8-bit grey or RGB strips,
uncompressed, LZW, Deflate or PackBits.  Pillow spends most of its time on
such a small file in Python (opening, identifying, its plugins), OpenCV in C:
on 3000 small scans of the benchmark's mix, 0.36 ms per file for Pillow's
``open().convert("L")`` against 0.09 ms for OpenCV's ``imdecode`` (this
machine, a 2-core EPYC VM).  :func:`decode_plain` reads the header itself and
decodes only files whose every pixel it can promise is the one
:func:`~batchdigits.image.load.load_image`'s Pillow path gives:

* the colour reduced to grey by Pillow itself (``convert("L")``: ITU-R 601-2
  luma, integer rounding), a palette through its colours;
* a JPEG decoded by libjpeg at the scale Pillow's ``draft`` picks, luma only
  (the same library, so the same integer IDCT);
* a picture over ``max_side`` shrunk by Pillow's own box filter.

Anything else returns ``None`` and Pillow decodes it: 16-bit samples, alpha or
a transparent colour, an EXIF or XMP orientation, CMYK and Adobe JPEGs, MPO,
animation, a size over ``max_pixels``, a file whose structure does not add up
(a bad chunk CRC, no end marker, too few pixel bytes), and every other format.
So a damaged file is always judged by Pillow, with its words.
``tests/test_plain_decode.py`` checks the promise on every mode and option.

>>> gray = decode_plain(open("samples/scan_000_0.png", "rb").read(), 64, 10**8)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..io.concurrency import in_worker

PLAIN_BYTES = 1 << 22  # larger files go to Pillow, which streams them (scans are a few KB)

# chunks Pillow reads and ignores for these pixels (text is checked for EXIF/XMP apart)
_PNG_QUIET = frozenset(b"PLTE IDAT IEND gAMA cHRM sRGB iCCP pHYs sBIT bKGD hIST tIME tEXt zTXt iTXt".split())
_PNG_TEXT = frozenset((b"tEXt", b"zTXt", b"iTXt"))
_PNG_PLAIN = {0: (1, 2, 4, 8), 2: (8,), 3: (1, 2, 4, 8)}  # colour type -> bit depths (grey, RGB, palette)
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2))  # baseline, extended, progressive Huffman; 8-bit
_JPEG_NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM: markers without a segment
_REDUCED = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
            8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
LOG_SILENT = 0  # OpenCV's LOG_LEVEL_SILENT
# OpenCV 4.x has cv2.setLogLevel; 5.x only cv2.utils.logging's (a submodule, imported by cv2 itself)
_LOGGING: Any = cv2 if hasattr(cv2, "setLogLevel") else cv2.utils.logging
_get_log_level, _set_log_level = _LOGGING.getLogLevel, _LOGGING.setLogLevel
_RAW = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION  # the samples as stored (we checked orientation)


def decode_plain(data: bytes, max_side: int, max_pixels: int) -> np.ndarray | None:
    """The 2-D ``uint8`` grey of a plain PNG, JPEG, BMP or TIFF held in ``data``, or ``None``.

    The array is what :func:`~batchdigits.image.load.load_image` would return
    for the same ``max_side`` and ``max_pixels``, pixel for pixel; ``None``
    means "not plain: ask Pillow" (see the module docstring), never an error.
    """
    if len(data) > PLAIN_BYTES:
        return None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        size = _png_size(data)
        decoded, flags = size, _RAW
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
        decoded, flags = _draft(size, max_side) if size else (None, _RAW)
    elif data.startswith(b"BM"):
        size = _bmp_size(data)
        decoded, flags = size, _RAW
    elif data[:4] in (b"II*\0", b"MM\0*"):
        size = _tiff_size(data)
        decoded, flags = size, _RAW
    else:
        return None
    if size is None or decoded is None or not _allowed(size, decoded, max_pixels):
        return None
    try:
        with _quiet():
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # OpenCV's own limits (a side over 2**20 px, ...): Pillow's to judge
        return None
    if pixels is None or pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        return None
    if pixels.ndim == 3 and pixels.shape[2] != 3:
        return None
    return _grey_within(pixels, max_side)


def _allowed(size: tuple[int, int], decoded: tuple[int, int], max_pixels: int) -> bool:
    """Within Pillow's decompression-bomb limit (the file's size) and ``--max-pixels`` (the size decoded,
    as :func:`~batchdigits.image.load.check_pixels`); else Pillow says why."""
    bomb = Image.MAX_IMAGE_PIXELS
    return min(size) > 0 and (bomb is None or size[0] * size[1] <= bomb) and decoded[0] * decoded[1] <= max_pixels


def _grey_within(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Grey as Pillow's ``convert("L")`` makes it, then shrunk as ``load.shrink`` does."""
    height, width = pixels.shape[:2]
    if pixels.ndim == 3:  # OpenCV's BGR: Pillow unpacks it and reduces it to L itself
        image = Image.frombuffer("RGB", (width, height), np.ascontiguousarray(pixels), "raw", "BGR", 0, 1)
        image = image.convert("L")
    elif max(width, height) <= max_side:
        return pixels
    else:
        image = Image.fromarray(pixels)
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8)


_QUIET_DEPTH = 0  # inside quiet_decoders(): _quiet() has nothing left to do


@contextmanager
def quiet_decoders() -> Iterator[None]:
    """:func:`_quiet` for a whole chunk of decodes (``image.convert.convert_chunk``): its system
    calls once a chunk instead of once a file (7.8 us a file, about 2 % of a small scan's CPU)."""
    global _QUIET_DEPTH
    with _quiet():
        _QUIET_DEPTH += 1
        try:
            yield
        finally:
            _QUIET_DEPTH -= 1


@contextmanager
def _quiet() -> Iterator[None]:
    """OpenCV's log off while decoding (a failed decode is answered by Pillow, with its words), and the
    decoders' own lines too (libjpeg's "Corrupt JPEG data: ...", libpng's warnings, printed on file
    descriptor 2: Pillow decodes the same pixels, or refuses the file, and says nothing) whenever no
    other thread can be writing there: in a worker, or a main process without a live display."""
    if _QUIET_DEPTH:
        yield
        return
    level = _get_log_level()
    _set_log_level(LOG_SILENT)
    saved = os.dup(2) if in_worker() or threading.active_count() == 1 else None  # not cached: fd 2 may move
    if saved is not None:
        os.dup2(_null(), 2)
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        _set_log_level(level)


@functools.cache
def _null() -> int:
    """A descriptor of the null device, opened once per process."""
    return os.open(os.devnull, os.O_WRONLY)


# ---------------------------------------------------------------------------
# headers: the size of a plain file, or None
# ---------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Every chunk whole with its CRC, IHDR first, IEND reached, nothing but quiet chunks."""
    view, pos, size = memoryview(data), 8, None
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(view[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        body = view[pos + 8 : end - 4]
        if size is None:
            if kind != b"IHDR" or length != 13:
                return None
            width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", body)
            if depth not in _PNG_PLAIN.get(colour, ()):
                return None
            size = (width, height)
        elif kind not in _PNG_QUIET:
            return None
        elif kind in _PNG_TEXT and _names_orientation(bytes(body[:80]).split(b"\0", 1)[0]):
            return None
        elif kind == b"IEND":
            return size
        pos = end
    return None


def _names_orientation(keyword: bytes) -> bool:
    """A text chunk Pillow may read an orientation from (raw EXIF profiles, XMP)."""
    keyword = keyword.lower()
    return b"exif" in keyword or b"xmp" in keyword or b"app1" in keyword


def _draft(size: tuple[int, int], max_side: int) -> tuple[tuple[int, int], int]:
    """The size Pillow's ``draft(mode, (max_side, max_side))`` decodes a JPEG at, and OpenCV's flag for it:
    the smallest of 1/8, 1/4, 1/2 that keeps both sides at least ``max_side``."""
    scale = min(size[0] // max_side, size[1] // max_side)
    s = next((s for s in (8, 4, 2) if scale >= s), 1)
    return ((size[0] + s - 1) // s, (size[1] + s - 1) // s), _REDUCED[s]


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size of a plain JPEG.

    Segments are walked up to the first scan: one SOF0-2 of 8 bits with 1 or 3
    components, no Adobe (APP14) or MPF (APP2) segment, an EXIF orientation of
    1 or none and no XMP orientation; the file must end with its EOI marker.
    """
    pos, size = 2, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None
        if marker == 0xDA:  # start of scan
            break
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame
            if marker not in _JPEG_SOF or size is not None or len(body) < 6:
                return None
            precision, height, width, components = struct.unpack_from(">BHHB", body)
            if precision != 8 or components not in (1, 3):
                return None
            size = (width, height)
        elif marker == 0xEE or (marker == 0xE2 and body.startswith(b"MPF\0")):
            return None
        elif marker == 0xE1 and (b"Orientation" in body or (body.startswith(b"Exif\0\0") and _exif_turns(body[6:]))):
            return None
        pos += 2 + length
    else:
        return None
    return size if data.endswith(b"\xff\xd9") else None


def _exif_turns(tiff: bytes) -> bool:
    """True unless the EXIF block's first IFD holds no Orientation or Orientation 1 (unreadable: True)."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\0", b"MM\0*"):
        return True
    order = "<" if tiff[0] == 0x49 else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return True
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    if ifd + 2 + 12 * count > len(tiff):
        return True
    for i in range(count):
        tag, kind, _ = struct.unpack_from(order + "HHI", tiff, ifd + 2 + 12 * i)
        if tag == 0x0112:
            (value,) = struct.unpack_from(order + "H", tiff, ifd + 2 + 12 * i + 8)
            return kind != 3 or value != 1
    return False


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    """A BITMAPINFOHEADER bitmap of 1, 4, 8 or 24 bits, uncompressed, with all its pixel bytes."""
    if len(data) < 54:
        return None
    offset, header, width, height, planes, bits, compression = struct.unpack_from("<I I i i H H I", data, 10)
    (colours,) = struct.unpack_from("<I", data, 46)
    if header != 40 or planes != 1 or bits not in (1, 4, 8, 24) or compression != 0 or width <= 0 or height == 0:
        return None
    if bits <= 8 and not (0 <= colours <= 1 << bits and 54 + 4 * (colours or 1 << bits) <= offset):  # its palette
        return None
    if len(data) < offset + (width * bits + 31) // 32 * 4 * abs(height):
        return None
    return width, abs(height)


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4)}  # SHORT, LONG: the only types the tags read here may have
_TIFF_PACKINGS = frozenset((1, 5, 8, 32773, 32946))  # none, LZW, Deflate (both codes), PackBits
# tags with these values (or absent: the default) only; any other tag in the first IFD is free
_TIFF_PLAIN = {274: (1,), 284: (1,), 339: (1,), 266: (1,), 317: (1, 2)}
_TIFF_REFUSED = frozenset((322, 323, 324, 325, 338, 700, 320))  # tiles, extra samples (alpha), XMP, a palette


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """A classic TIFF whose first IFD is 8-bit grey (BlackIsZero) or RGB in strips, chunky, packed as
    :data:`_TIFF_PACKINGS`, no orientation but 1, no alpha or XMP, and every strip inside the file."""
    order = "<" if data[0] == 0x49 else ">"
    try:
        tags = _ifd(data, order, struct.unpack_from(order + "I", data, 4)[0])
        photometric, samples = tags.get(262, [-1])[0], tags.get(277, [1])[0]
        packing, size = tags.get(259, [1])[0], (tags[256][0], tags[257][0])
        bits = tags.get(258, [1])  # BitsPerSample: 1 if absent
    except (struct.error, ValueError, KeyError, IndexError):
        return None
    if (photometric, samples) not in ((1, 1), (2, 3)) or packing not in _TIFF_PACKINGS or set(bits) != {8}:
        return None
    if _TIFF_REFUSED & tags.keys() or any(set(tags.get(tag, v)) - set(v) for tag, v in _TIFF_PLAIN.items()):
        return None
    offsets, counts = tags.get(273, []), tags.get(279, [])
    if not offsets or len(offsets) != len(counts) or min(counts) <= 0:
        return None
    if max(o + c for o, c in zip(offsets, counts, strict=True)) > len(data):
        return None
    return size


def _ifd(data: bytes, order: str, at: int) -> dict[int, list[int]]:
    """The SHORT and LONG tags of the IFD at ``at`` (other types: an empty list)."""
    (count,) = struct.unpack_from(order + "H", data, at)
    tags: dict[int, list[int]] = {}
    for i in range(count):
        tag, kind, n = struct.unpack_from(order + "HHI", data, at + 2 + 12 * i)
        code, width = _TIFF_TYPES.get(kind, ("", 0))
        if not code:
            tags[tag] = []
            continue
        where = at + 2 + 12 * i + 8 if n * width <= 4 else struct.unpack_from(order + "I", data, at + 10 + 12 * i)[0]
        if where + n * width > len(data):
            raise ValueError("a tag's values lie outside the file")
        tags[tag] = list(struct.unpack_from(f"{order}{n}{code}", data, where))
    return tags
