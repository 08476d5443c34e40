"""Load one image file as a 2-D grayscale array, robustly.

``load_image(path)`` opens any file Pillow can read and returns a ``uint8``
array of shape ``(height, width)``:

* the EXIF orientation is applied;
* the first frame of an animated or multi-page file is used;
* every mode (1, L, P, LA, RGB, RGBA, CMYK, I;16, I, F, ...) is reduced to
  8-bit grayscale; transparency is composited on white;
* JPEGs are decoded at a reduced scale (and colour ones as luma only) with
  ``draft()`` when the full size is not needed, and every image
  is shrunk so that its longer side is at most ``max_side`` pixels.

Plain PNG, JPEG, BMP and TIFF files are decoded by OpenCV instead, to exactly the
same pixels (:mod:`batchdigits.image.plain`).

Any problem (unreadable, truncated, not an image, a decompression bomb) is
raised as :class:`ImageError` with a one-line reason meant for people.

>>> gray = load_image("samples/scan_000_0.png")   # doctest: +SKIP
>>> gray.dtype, gray.ndim                            # doctest: +SKIP
(dtype('uint8'), 2)
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..defaults import DEFAULT_MAX_PIXELS
from ..io.files import NotRegularFile, open_input
from .plain import PLAIN_BYTES, decode_plain

MAX_SIDE = 512
"""Longest side kept after loading; enough for a single digit."""


class ImageError(Exception):
    """A file that cannot be turned into an image; ``str(err)`` is the reason."""


def load_image(
    path: str | os.PathLike[str], max_side: int = MAX_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Return the image at ``path`` as a 2-D ``uint8`` grayscale array.

    An image that would decode to more than ``max_pixels`` pixels (its header
    says so, read before anything is decoded; the first frame's own size for
    multi-frame files; a JPEG's size at the reduced scale it is decoded at)
    is an :class:`ImageError`: a file of a few KB can claim gigabytes.
    """
    try:
        with open_input(os.fspath(path)) as fh:  # never blocks: a FIFO is refused once open
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise ImageError("empty file (0 bytes)")
            source: BinaryIO = fh
            if size <= PLAIN_BYTES:  # a plain file is decoded by OpenCV, to Pillow's pixels (JPEG 0.50 -> 0.27 ms)
                data = fh.read()
                gray = decode_plain(data, max_side, max_pixels)
                if gray is not None:
                    return gray
                source = io.BytesIO(data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's decoder chatter is not for users
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(source) as img:  # reads the header only
                    return _to_gray(img, max_side, max_pixels)
    except (ImageError, NotRegularFile) as exc:
        raise ImageError(str(exc)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError("not a recognised image format") from None
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "file not found"
        raise ImageError(reason) from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(_os_reason(exc)) from None
    except MemoryError:
        raise ImageError("cannot decode image: it needs more memory than a worker may use") from None
    except (ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        raise ImageError(f"cannot decode image: {exc}") from None


def _os_reason(exc: OSError) -> str:
    if exc.errno is not None and exc.strerror:
        return exc.strerror.lower() if exc.errno != 40 else "symbolic link loop"
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated or damaged file ({text})"
    return f"cannot decode image: {text}"


def check_pixels(img: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose (frame) size is over ``max_pixels``, before decoding it."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(
            f"too large: {width}x{height} is {width * height:,} pixels, "
            f"over the limit of {max_pixels:,} (--max-pixels)"
        )


def _to_gray(img: Image.Image, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    img.seek(0)  # decodes nothing yet
    if img.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that is enough,
        img.draft("L", (max_side, max_side))  # and of a colour JPEG only the luma
    check_pixels(img, max_pixels)  # the first frame's own size; a JPEG's at its draft scale
    img.load()
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I;16"):
        img = img.convert("I")
    if img.mode in ("I", "F"):  # numeric data: shrink first, then map to 0..255
        return _numeric_to_uint8(np.asarray(shrink(img, max_side), dtype=np.float64))
    return np.asarray(shrink(_gray(img), max_side), dtype=np.uint8)


def _gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale; transparency composited on white."""
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    if img.mode not in ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"):
        img = img.convert("RGB")  # LAB, HSV, ...: no direct way to L
    return img.convert("L")


def shrink(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink (area average) so that the longer side is at most ``max_side``."""
    w, h = img.size
    if max(w, h) <= max_side:
        return img
    scale = max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.BOX)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info


def _numeric_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map a 16/32-bit integer or float image to 0..255 by its likely range."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 1.0:
        scale = 255.0
    elif lo >= 0 and hi <= 255:
        scale = 1.0
    elif lo >= 0 and hi <= 65535:  # 9..16-bit data: the smallest bit depth that holds it
        scale = 255.0 / (2.0 ** np.ceil(np.log2(hi + 1.0)) - 1.0)
    else:
        values = values - lo
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
