"""Synthetic scanned-digit renderer for cross-domain benchmarks.

Everything here is reproducible from a :class:`numpy.random.Generator`:
the same generator state always gives the same image (for a given Pillow
build, since glyph rasterisation and JPEG/WebP encoders may differ across
builds).

Two kinds of *sources* draw a clean digit:

* :func:`stroke_digit` -- hand-designed pen-stroke templates (several
  allographs per digit, control points jittered, round pen of random width,
  random slant/aspect/rotation).  This is the main stand-in for real
  handwriting.
* :func:`render_font_digit` -- a glyph from an installed font, see
  :func:`find_fonts` ("handwriting" or "print" fonts).

*Distortions* each take and return a grayscale ``uint8`` array with dark ink
on white paper (255) -- except :func:`colorize`, which returns an RGB array.
:func:`make_scan` combines a source with a named profile from
:data:`PROFILES` and returns a PIL image (mode ``L`` or ``RGB``).

No public handwritten-digit data set is used anywhere.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

Array = np.ndarray
Rng = np.random.Generator

DIGITS = "0123456789"
SOURCES = ("stroke", "handwriting-font", "print-font")

# ---------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------

FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)

_HANDWRITING_RE = re.compile(
    r"^(humor-sans|dkg(bd|bi|it)?|breip(font)?|becausewe\w+-regular"
    r"|femkeklaver|comicneue-\w+|kristi|dancingscript-\w+|ecolier-court"
    r"|kaushanscript-regular|andika-\w+)\.(ttf|otf)$"
)
_PRINT_RE = re.compile(
    r"^(dejavu(sans|serif)(condensed)?(-(bold|oblique|italic|boldoblique|bolditalic))?"
    r"|liberation(sans|serif|sansnarrow)-(regular|bold|italic|bolditalic)"
    r"|free(sans|serif)(bold|oblique|italic|boldoblique|bolditalic)?"
    r"|(nimbussans|nimbussansnarrow|nimbusroman|c059|p052|urwbookman|urwgothic)-\w+"
    r"|noto(sans|serif)-(regular|bold|italic|bolditalic)"
    r"|arial\w*|times\w*|verdana\w*)\.(ttf|otf)$"
)
FONT_PATTERNS = {"handwriting": _HANDWRITING_RE, "print": _PRINT_RE}
# Fonts that pass the checks but are poor proxies: femkeklaver has hollow
# (outline) digits, which no pen produces.
EXCLUDED_FONTS = frozenset({"femkeklaver.ttf"})


def _font_files() -> list[str]:
    """All font files below the usual font directories, sorted."""
    found: set[str] = set()
    for base in FONT_DIRS:
        root = Path(os.path.expanduser(base))
        if root.is_dir():
            found.update(str(p) for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    return sorted(found)


def _glyph(font: ImageFont.FreeTypeFont, text: str) -> Array | None:
    """Rasterise ``text`` with ``font`` and return the ink crop (1 = ink) or None."""
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((80, 80), text, font=font, fill=255, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        return None
    return np.asarray(canvas.crop(box), dtype=np.float32) / 255.0


def _thumb(glyph: Array) -> Array:
    """Normalise a glyph crop to a 20x20 thumbnail for comparisons."""
    img = Image.fromarray((glyph * 255).astype(np.uint8))
    return np.asarray(img.resize((20, 20), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def _digit_fingerprint(path: str) -> bytes | None:
    """Fingerprint of the digit glyphs of a font, or None if unusable.

    A font is usable when every digit renders some ink, no digit looks like
    the font's missing-glyph box, and the ten digits are pairwise distinct.
    """
    try:
        font = ImageFont.truetype(path, 64)
        glyphs = [_glyph(font, ch) for ch in DIGITS]
        notdef = _glyph(font, "\U0010fffd")
    except (OSError, ValueError):
        return None
    valid = [g for g in glyphs if g is not None and g.sum() >= 15]
    if len(valid) < len(glyphs):
        return None
    thumbs = np.stack([_thumb(g) for g in valid])
    diff = np.abs(thumbs[:, None] - thumbs[None]).mean(axis=(2, 3))
    if (diff + np.eye(10)).min() < 0.04:
        return None
    if notdef is not None and np.abs(thumbs - _thumb(notdef)).mean(axis=(1, 2)).min() < 0.02:
        return None
    return np.round(thumbs * 8).astype(np.uint8).tobytes()


@functools.cache
def find_fonts(kind: str = "print") -> list[str]:
    """Return sorted font paths of ``kind`` ("handwriting", "print" or "all").

    Only fonts whose digits 0-9 render as ten distinct, non-empty glyphs are
    kept; fonts that fail to load are skipped, and fonts rendering exactly
    like an earlier one (same font in another file) are dropped.
    """
    if kind == "all":
        return sorted(find_fonts("handwriting") + find_fonts("print"))
    pattern = FONT_PATTERNS[kind]
    seen: set[bytes] = set()
    fonts = []
    for path in _font_files():
        name = os.path.basename(path).lower()
        if not pattern.match(name) or name in EXCLUDED_FONTS:
            continue
        fp = _digit_fingerprint(path)
        if fp is not None and fp not in seen:
            seen.add(fp)
            fonts.append(path)
    return fonts


# ---------------------------------------------------------------------------
# Common helpers
# ---------------------------------------------------------------------------


def ink_bbox(img: Array, thresh: int = 200) -> tuple[int, int, int, int] | None:
    """Bounding box ``(y0, y1, x0, x1)`` (exclusive ends) of dark pixels."""
    mask = img < thresh
    if not mask.any():
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def pad_white(img: Array, top: int, bottom: int, left: int, right: int) -> Array:
    """Pad (positive) or crop (negative) each side, filling with white."""
    h, w = img.shape[:2]
    out = np.full((max(1, h + top + bottom), max(1, w + left + right)), 255, np.uint8)
    sy0, sx0 = max(0, -top), max(0, -left)
    sy1, sx1 = min(h, h + bottom), min(w, w + right)
    dy0, dx0 = max(0, top), max(0, left)
    part = img[sy0:sy1, sx0:sx1]
    out[dy0 : dy0 + part.shape[0], dx0 : dx0 + part.shape[1]] = part
    return out


def fit_to_square(img: Array, size: int, margin: float = 0.12) -> Array:
    """Crop ``img`` to its ink and centre it in a ``size``-square white box."""
    box = ink_bbox(img, 250)
    if box is None:
        return np.full((size, size), 255, np.uint8)
    crop = Image.fromarray(img[box[0] : box[1], box[2] : box[3]])
    scale = size * (1 - 2 * margin) / max(crop.size)
    new = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    crop = crop.resize(new, Image.Resampling.LANCZOS)
    out = Image.new("L", (size, size), 255)
    out.paste(crop, ((size - new[0]) // 2, (size - new[1]) // 2))
    return np.asarray(out).copy()


def to_uint8(x: Array) -> Array:
    """Round and clip a float array to ``uint8``."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _disk(radius: int) -> Array:
    """Boolean disk footprint."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx * xx + yy * yy <= radius * radius + radius


# ---------------------------------------------------------------------------
# Pen-stroke digits
# ---------------------------------------------------------------------------

# Each allograph is a list of strokes; a stroke is an SVG-like path in a
# 100x100 box (y down) using M (move), L (line), Q (quadratic Bezier) and
# C (cubic Bezier).  Every control point is jittered independently.
TEMPLATES: dict[int, list[list[str]]] = {
    0: [
        ["M 55 5 C 22 2, 8 35, 10 55 C 12 82, 32 97, 52 96 C 78 95, 92 70, 90 45 C 88 20, 72 3, 46 9"],
        ["M 48 5 C 80 3, 92 30, 90 52 C 88 80, 70 97, 48 96 C 22 95, 8 72, 10 48 C 12 22, 30 6, 58 9"],
        ["M 62 10 C 40 -2, 12 25, 12 55 C 12 85, 35 98, 55 95 C 82 90, 92 60, 86 35 C 82 15, 66 4, 50 14"],
    ],
    1: [
        ["M 50 4 L 50 96"],
        ["M 28 24 L 56 4 L 52 96"],
        ["M 28 24 L 56 4 L 52 96", "M 28 96 L 76 96"],
        ["M 30 22 Q 46 15 56 3 Q 53 50 52 96"],
    ],
    2: [
        ["M 14 26 C 18 4, 80 -2, 82 26 C 84 50, 42 70, 12 95 L 88 93"],
        ["M 14 26 C 18 4, 80 -2, 82 26 C 84 50, 48 72, 24 89 C 8 100, 4 80, 26 81 C 48 82, 68 96, 90 92"],
        ["M 16 18 Q 48 -6 76 14 Q 92 32 62 58 L 14 94 Q 50 88 88 95"],
        ["M 12 30 C 14 8, 48 0, 68 8 C 90 18, 80 42, 60 58 C 42 72, 22 84, 14 95 C 40 92, 66 92, 90 96"],
    ],
    3: [
        ["M 15 16 C 34 -2, 80 0, 78 22 C 76 40, 56 46, 38 47 C 62 46, 86 56, 84 74 C 82 96, 40 102, 12 84"],
        ["M 14 6 L 82 6 L 44 42 C 74 38, 90 58, 84 76 C 78 97, 38 100, 12 84"],
        ["M 18 14 C 35 -2, 78 2, 74 24 C 72 40, 52 46, 36 46", "M 40 46 C 70 44, 88 58, 84 76 C 80 97, 38 100, 12 86"],
    ],
    4: [
        ["M 22 4 L 14 58 L 90 58", "M 70 6 L 68 97"],
        ["M 64 4 L 10 66 L 90 66", "M 64 4 L 62 97"],
        ["M 60 4 L 10 64 L 88 64", "M 68 32 L 66 97"],
        ["M 26 4 Q 16 40 14 60 Q 50 62 90 56", "M 70 4 Q 66 50 68 97"],
    ],
    5: [
        ["M 26 6 L 20 46 C 40 32, 86 38, 84 66 C 82 94, 44 102, 12 86", "M 26 6 L 82 5"],
        ["M 84 6 L 26 6 L 20 44 C 40 32, 86 38, 84 66 C 82 94, 44 102, 12 86"],
        ["M 24 8 L 20 42 C 46 30, 90 42, 82 70 C 74 96, 32 96, 14 80", "M 24 8 Q 54 2 86 4"],
    ],
    6: [
        ["M 74 5 C 44 10, 15 45, 15 70 C 15 90, 35 98, 52 97 C 76 96, 86 80, 84 67 "
         "C 81 50, 60 45, 45 48 C 32 51, 20 60, 17 72"],
        ["M 66 3 Q 24 34 18 68 C 14 92, 42 100, 60 95 C 82 88, 84 62, 68 54 C 52 46, 30 52, 20 68"],
        ["M 70 4 L 22 60 C 12 80, 30 98, 52 96 C 74 94, 84 74, 74 60 C 62 46, 36 50, 22 62"],
    ],
    7: [
        ["M 12 8 L 86 8 L 40 96"],
        ["M 12 10 Q 50 3 86 8 Q 60 45 42 96"],
        ["M 12 8 L 86 8 L 40 96", "M 32 52 L 78 50"],
        ["M 12 20 L 14 8 L 86 8 L 44 96"],
    ],
    8: [
        ["M 78 16 C 70 0, 24 2, 22 20 C 20 40, 80 50, 80 74 C 80 96, 20 98, 18 74 C 18 52, 78 40, 78 18"],
        ["M 50 5 C 24 5, 24 45, 50 45 C 76 45, 76 5, 50 5", "M 50 45 C 14 45, 14 97, 50 97 C 86 97, 86 45, 50 45"],
        ["M 60 6 C 20 0, 18 38, 50 48 C 86 58, 84 96, 50 96 C 16 96, 14 58, 50 48 C 82 38, 84 8, 58 6"],
    ],
    9: [
        ["M 80 18 C 70 0, 22 4, 22 26 C 22 46, 68 50, 80 22 L 77 97"],
        ["M 80 18 C 70 0, 22 4, 22 26 C 22 46, 68 50, 80 22 C 82 56, 72 86, 34 96"],
        ["M 78 14 C 64 0, 20 6, 22 28 C 24 50, 74 48, 78 22", "M 80 8 L 76 97"],
        ["M 80 20 C 72 2, 24 2, 22 24 C 20 44, 64 52, 80 24 Q 78 70 68 97"],
    ],
}

_ARITY = {"L": 1, "Q": 2, "C": 3}


def parse_path(path: str) -> tuple[Array, list[tuple[int, ...]]]:
    """Parse a template path into points (unit box) and segment index tuples.

    Each segment is a tuple of point indices: 2 for a line, 3 for a
    quadratic and 4 for a cubic Bezier.  Consecutive segments share their
    end/start point, so jittering points keeps a stroke connected.
    """
    tokens = re.findall(r"[MLQC]|-?\d+(?:\.\d+)?", path)
    points: list[tuple[float, float]] = []
    segments: list[tuple[int, ...]] = []
    i = 0
    while i < len(tokens):
        cmd = tokens[i]
        n = 1 if cmd == "M" else _ARITY[cmd]
        coords = [float(t) / 100 for t in tokens[i + 1 : i + 1 + 2 * n]]
        new = list(zip(coords[::2], coords[1::2], strict=True))
        if cmd != "M":
            segments.append(tuple(range(len(points) - 1, len(points) + n)))
        points.extend(new)
        i += 1 + 2 * n
    return np.array(points), segments


def _bezier(ctrl: Array, n: int) -> Array:
    """Evaluate a Bezier curve of any degree at ``n`` parameter values."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = ctrl.copy()
    out = np.repeat(pts[None], n, axis=0)
    for _ in range(len(ctrl) - 1):
        out = out[:, :-1] * (1 - t[..., None]) + out[:, 1:] * t[..., None]
    return out[:, 0]


def _sample_stroke(points: Array, segments: list[tuple[int, ...]], step: float) -> Array:
    """Densely sample a stroke (unit coordinates) with roughly ``step`` spacing."""
    parts = []
    for seg in segments:
        ctrl = points[list(seg)]
        length = np.linalg.norm(np.diff(ctrl, axis=0), axis=1).sum()
        parts.append(_bezier(ctrl, max(2, int(length / step) + 1)))
    return np.concatenate(parts)


def _writer_transform(rng: Rng) -> Array:
    """Random 2x2 linear map: aspect ratio, slant and small rotation."""
    aspect = rng.uniform(0.55, 0.9)
    slant = float(np.clip(rng.normal(0.12, 0.14), -0.25, 0.45))
    angle = np.deg2rad(rng.uniform(-6, 6))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, -slant], [0.0, 1.0]])  # x' = x - slant*y: top leans right
    return rot @ shear @ np.diag([aspect, 1.0])


def _proportion_warp(pts: Array, mid: float, taper: float) -> Array:
    """Move the digit's midline by ``mid`` and widen top vs bottom by ``taper``."""
    x, y = pts[:, 0], pts[:, 1]
    y = y + mid * 4 * np.clip(y, 0, 1) * (1 - np.clip(y, 0, 1))
    x = 0.5 + (x - 0.5) * (1 + taper * (0.5 - y))
    return np.stack([x, y], axis=1)


def _jittered_strokes(d: int, rng: Rng, variant: int | None) -> list[tuple[Array, list]]:
    """Pick an allograph of ``d``, warp its proportions and jitter its points."""
    templates = TEMPLATES[d]
    idx = int(rng.integers(len(templates))) if variant is None else variant % len(templates)
    sloppiness = rng.uniform(0.015, 0.045)
    mid, taper = rng.uniform(-0.08, 0.08), rng.uniform(-0.35, 0.35)
    mat = _writer_transform(rng)
    strokes = []
    for path in templates[idx]:
        pts, segs = parse_path(path)
        pts = _proportion_warp(pts, mid, taper)
        pts = pts + rng.normal(0, sloppiness, pts.shape) + rng.normal(0, sloppiness / 2, 2)
        strokes.append(((pts - 0.5) @ mat.T, segs))
    return strokes


def _pen_radii(curve: Array, base: float, rng: Rng) -> Array:
    """Pen radius along a sampled stroke: slow pressure waves, soft start."""
    seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    wave = 1 + rng.uniform(0, 0.18) * np.sin(2 * np.pi * s / rng.uniform(0.6, 1.5) + rng.uniform(0, 6.3))
    start = np.clip(0.75 + s / 0.15, 0, 1)
    return base * wave * start


def _draw_curves(curves: list[Array], radii: list[Array], canvas: int) -> Image.Image:
    """Stamp round pen dots along curves (canvas pixel coordinates)."""
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for curve, rad in zip(curves, radii, strict=True):
        for (x, y), r in zip(curve, rad, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return img


def stroke_digit(d: int, rng: Rng, size: int = 64, variant: int | None = None,
                 pen: float | None = None, margin: float = 0.12) -> Array:
    """Render digit ``d`` as synthetic handwriting (dark ink on white).

    ``pen`` is the pen width relative to the digit height (random when
    None); ``variant`` selects an allograph from :data:`TEMPLATES`.
    Returns a ``size`` x ``size`` uint8 array.
    """
    strokes = _jittered_strokes(d, rng, variant)
    pen = float(np.clip(rng.lognormal(np.log(0.09), 0.35), 0.035, 0.2)) if pen is None else pen
    ss = int(np.clip(round(384 / size), 1, 4))
    canvas = size * ss
    curves = [_sample_stroke(p, s, 0.004) for p, s in strokes]
    allpts = np.concatenate(curves)
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    rad = pen * (hi[1] - lo[1]) / 2
    scale = canvas * (1 - 2 * margin) / (max(hi - lo) + 2 * rad)
    centre = (lo + hi) / 2
    curves = [(c - centre) * scale + canvas / 2 for c in curves]
    radii = [_pen_radii(c / scale, rad * scale, rng) for c in curves]
    cover = _draw_curves(curves, radii, canvas).reduce(ss) if ss > 1 else _draw_curves(curves, radii, canvas)
    ink = rng.uniform(0, 45)
    return to_uint8(255 - np.asarray(cover, np.float32) * (255 - ink) / 255)


# ---------------------------------------------------------------------------
# Font digits
# ---------------------------------------------------------------------------


def render_font_digit(d: int, font_path: str, rng: Rng, size: int = 64, margin: float = 0.12) -> Array:
    """Render digit ``d`` in ``font_path`` (random weight/aspect), dark on white."""
    font = ImageFont.truetype(font_path, 160)
    canvas = Image.new("L", (320, 320), 255)
    bold = int(rng.choice([0, 0, 0, 1, 2]))
    ImageDraw.Draw(canvas).text((160, 160), DIGITS[d], font=font, fill=0, anchor="mm",
                                stroke_width=bold, stroke_fill=0)
    arr = np.asarray(canvas)
    box = ink_bbox(arr, 250)
    if box is None:
        return np.full((size, size), 255, np.uint8)
    crop = Image.fromarray(arr[box[0] : box[1], box[2] : box[3]])
    stretch = rng.uniform(0.85, 1.15)
    crop = crop.resize((max(1, round(crop.width * stretch)), crop.height), Image.Resampling.LANCZOS)
    return fit_to_square(np.asarray(crop), size, margin)


# ---------------------------------------------------------------------------
# Geometric distortions (work-resolution images)
# ---------------------------------------------------------------------------


def rotate(img: Array, rng: Rng, max_deg: float = 25.0) -> Array:
    """Rotate by a random angle in ``[-max_deg, max_deg]``, canvas expanded."""
    angle = rng.uniform(-max_deg, max_deg)
    out = Image.fromarray(img).rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return np.asarray(out).copy()


def shear(img: Array, rng: Rng, lo: float = 0.15, hi: float = 0.5) -> Array:
    """Horizontal shear (slant) by a random factor with random sign."""
    s = rng.uniform(lo, hi) * rng.choice([-1, 1])
    h, w = img.shape
    extra = int(abs(s) * h / 2) + 1
    padded = pad_white(img, 0, 0, extra, extra)
    wp = padded.shape[1]
    data = (1, s, -s * h / 2, 0, 1, 0)  # x_in = x + s*(y - h/2)
    out = Image.fromarray(padded).transform((wp, h), Image.Transform.AFFINE, data,
                                            Image.Resampling.BICUBIC, fillcolor=255)
    return np.asarray(out).copy()


def elastic(img: Array, rng: Rng, amp: tuple[float, float] = (0.015, 0.035),
            smooth: tuple[float, float] = (0.09, 0.15)) -> Array:
    """Elastic distortion: smoothed random displacement field.

    ``amp`` is the displacement std and ``smooth`` the field's Gaussian
    sigma, both as fractions of the image size.
    """
    h, w = img.shape
    size = max(h, w)
    sigma, a = size * rng.uniform(*smooth), size * rng.uniform(*amp)
    field = [ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) for _ in range(2)]
    dy, dx = (f / (f.std() + 1e-9) * a for f in field)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = ndimage.map_coordinates(img.astype(np.float32), [yy + dy, xx + dx], order=1, cval=255.0)
    return to_uint8(out)


def stroke_width(img: Array, rng: Rng, delta: int | None = None, keep: float = 0.35) -> Array:
    """Thicken (``delta`` > 0, grey erosion) or thin (< 0, grey dilation) ink.

    Thinning uses the largest radius up to ``-delta`` that still leaves at
    least ``keep`` of the original ink (possibly none).
    """
    if delta is None:
        delta = int(rng.choice([-2, -1, 1, 2, 3]))
    if delta > 0:
        return ndimage.grey_erosion(img, footprint=_disk(delta))
    before, best = (255.0 - img).sum(), img
    for r in range(1, -delta + 1):
        out = ndimage.grey_dilation(img, footprint=_disk(r))
        if (255.0 - out).sum() < keep * before:
            break
        best = out
    return best


def thick(img: Array, rng: Rng) -> Array:
    """Thicker strokes: erosion by ~2-5 % of the image size."""
    return stroke_width(img, rng, max(1, round(max(img.shape) * rng.uniform(0.02, 0.05))))


def thin(img: Array, rng: Rng) -> Array:
    """Thinner strokes: the strongest dilation (up to 10 % of the size) keeping 35-60 % of the ink."""
    return stroke_width(img, rng, -max(1, round(max(img.shape) * 0.1)), keep=rng.uniform(0.35, 0.6))


# ---------------------------------------------------------------------------
# Layout: margins, off-centre placement, form lines
# ---------------------------------------------------------------------------


def margins(img: Array, rng: Rng, lo: float = 0.04, hi: float = 0.3, squarish: bool = True) -> Array:
    """Crop to the ink and add random (unequal) margins on each side.

    Margins are fractions of the ink's larger side; ``squarish`` widens the
    narrower dimension so the canvas is roughly square, as a cell crop is.
    """
    box = ink_bbox(img)
    if box is None:
        return img
    crop = img[box[0] : box[1], box[2] : box[3]]
    h, w = crop.shape
    base = max(h, w)
    top, bottom, left, right = (int(round(base * rng.uniform(lo, hi))) for _ in range(4))
    if squarish:
        target = int(round((h + top + bottom) * rng.uniform(0.85, 1.15)))
        extra = max(0, target - (w + left + right))
        share = int(extra * rng.uniform(0.2, 0.8))
        left, right = left + share, right + extra - share
    return pad_white(crop, top, bottom, left, right)


def offcenter(img: Array, rng: Rng) -> Array:
    """Small digit (30-60 % of the canvas) placed at a random position."""
    box = ink_bbox(img)
    if box is None:
        return img
    crop = img[box[0] : box[1], box[2] : box[3]]
    h, w = crop.shape
    side = int(max(h, w) / rng.uniform(0.3, 0.6))
    top, left = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
    return pad_white(crop, top, side - h - top, left, side - w - left)


def tight(img: Array, rng: Rng) -> Array:
    """Crop tightly to the ink (0-3 % margins, sometimes clipping 1-2 %)."""
    return margins(img, rng, lo=-0.02, hi=0.03, squarish=False)


def _line_params(base: int, rng: Rng) -> tuple[int, int]:
    """Random line thickness and grey level for form lines."""
    return max(1, round(base * rng.uniform(0.012, 0.04))), int(rng.uniform(0, 90))


def border(img: Array, rng: Rng) -> Array:
    """Draw a form-cell rectangle around the digit, touching it on one side."""
    box = ink_bbox(img)
    if box is None:
        return img
    y0, y1, x0, x1 = box
    base = max(y1 - y0, x1 - x0)
    gaps = [base * rng.uniform(-0.01, 0.18) for _ in range(4)]
    gaps[int(rng.integers(4))] = base * rng.uniform(-0.04, 0.0)
    thick_, grey = _line_params(base, rng)
    out = [base * rng.uniform(0.0, 0.08) for _ in range(4)]
    pads = [int(round(g + o + thick_)) for g, o in zip(gaps, out, strict=True)]
    canvas = Image.fromarray(pad_white(img[y0:y1, x0:x1], *pads))
    rect = [out[2], out[0], canvas.width - 1 - out[3], canvas.height - 1 - out[1]]
    _draw_rect(canvas, rect, thick_, grey, skip=int(rng.integers(4)) if rng.random() < 0.25 else -1)
    return np.asarray(canvas).copy()


def _draw_rect(canvas: Image.Image, rect: Sequence[float], width: int, grey: int, skip: int) -> None:
    """Draw a rectangle as four lines; side ``skip`` (0-3) is left out."""
    x0, y0, x1, y1 = rect
    sides = [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))]
    draw = ImageDraw.Draw(canvas)
    for i, side in enumerate(sides):
        if i != skip:
            draw.line(side, fill=grey, width=width)


def underline(img: Array, rng: Rng) -> Array:
    """Draw a slightly tilted horizontal form line touching the digit's bottom."""
    box = ink_bbox(img)
    if box is None:
        return img
    y0, y1, x0, x1 = box
    base = max(y1 - y0, x1 - x0)
    thick_, grey = _line_params(base, rng)
    y = y1 + base * rng.uniform(-0.06, 0.02)
    need = int(y + thick_ + base * rng.uniform(0.02, 0.15)) - img.shape[0]
    canvas = Image.fromarray(pad_white(img, 0, max(0, need), 0, 0))
    w = canvas.width
    tilt = np.tan(np.deg2rad(rng.uniform(-2.5, 2.5))) * w / 2
    xa, xb = w * rng.uniform(-0.1, 0.15), w * rng.uniform(0.85, 1.1)
    ImageDraw.Draw(canvas).line(((xa, y - tilt), (xb, y + tilt)), fill=grey, width=thick_)
    return np.asarray(canvas).copy()


def scanner_edge(img: Array, rng: Rng) -> Array:
    """A dark strip along one side (lid shadow, page edge) or a dark folded corner."""
    out = img.copy()
    h, w = out.shape
    dark = int(rng.integers(0, 70))
    if rng.random() < 0.6:
        side = int(rng.integers(4))
        depth = max(2, int(rng.uniform(0.03, 0.09) * (w if side < 2 else h)))
        edge = (np.s_[:, :depth], np.s_[:, w - depth :], np.s_[:depth, :], np.s_[h - depth :, :])[side]
        out[edge] = dark
    else:
        size = int(rng.uniform(0.08, 0.2) * min(h, w))
        yy, xx = np.mgrid[0:size, 0:size]
        tri = xx + yy < size
        corner = int(rng.integers(4))
        block = out[:size, :size] if corner == 0 else out[:size, w - size :] if corner == 1 else (
            out[h - size :, :size] if corner == 2 else out[h - size :, w - size :])
        flip = tri[:, ::-1] if corner in (1, 3) else tri
        flip = flip[::-1] if corner in (2, 3) else flip
        block[flip] = dark
    return out


# ---------------------------------------------------------------------------
# Size
# ---------------------------------------------------------------------------


def resize_to(img: Array, size: int, rng: Rng | None = None) -> Array:
    """Resize so the longer side is ``size`` px (aspect kept)."""
    h, w = img.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if scale < 1:
        method = Image.Resampling.LANCZOS
        if rng is not None and rng.random() < 0.3:
            method = Image.Resampling.BOX
    else:
        method = Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(img).resize(new, method)).copy()


def tiny(img: Array, rng: Rng) -> Array:
    """Downscale to 16-28 px on the longer side."""
    return resize_to(img, int(rng.integers(16, 29)), rng)


def huge(img: Array, rng: Rng) -> Array:
    """Upscale to 300-600 px on the longer side."""
    return resize_to(img, int(rng.integers(300, 601)), rng)


# ---------------------------------------------------------------------------
# Photometric distortions (final-resolution images)
# ---------------------------------------------------------------------------


def _ink_extent(img: Array) -> int:
    """Larger side of the ink's bounding box (the whole image if no clear ink)."""
    grey = img if img.ndim == 2 else img.mean(axis=2)
    box = ink_bbox(grey, int(np.percentile(grey, 50)) - 30)
    return max(img.shape[:2]) if box is None else max(box[1] - box[0], box[3] - box[2])


def _contrast(img: Array) -> float:
    """Paper-minus-ink grey level difference (robust percentiles)."""
    lo, hi = np.percentile(img, [1, 90])
    return float(hi - lo)


def blur(img: Array, rng: Rng, lo: float = 0.012, hi: float = 0.035) -> Array:
    """Gaussian blur, sigma a random fraction of the digit size (>= 0.6 px)."""
    sigma = max(0.6, _ink_extent(img) * rng.uniform(lo, hi) * 1.25)
    return to_uint8(ndimage.gaussian_filter(img.astype(np.float32), sigma))


def noise(img: Array, rng: Rng, lo: float = 8.0, hi: float = 35.0) -> Array:
    """Additive Gaussian noise; std in grey levels, scaled down for low contrast."""
    std = rng.uniform(lo, hi) * min(1.0, _contrast(img) / 200)
    return to_uint8(img + rng.normal(0, std, img.shape))


def specks(img: Array, rng: Rng) -> Array:
    """Salt-and-pepper specks plus a few small dust blobs."""
    out = img.copy()
    pepper = rng.random(img.shape) < rng.uniform(0.002, 0.015)
    salt = rng.random(img.shape) < rng.uniform(0.0, 0.008)
    out[pepper] = rng.integers(0, 120, int(pepper.sum()))
    out[salt] = 255
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    h, w = img.shape
    for _ in range(int(rng.integers(1, 7))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.5, 0.02 * max(h, w) + 1)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(0, 140)))
    return np.asarray(canvas).copy()


def pencil(img: Array, rng: Rng) -> Array:
    """Low-contrast grainy pencil: grey ink (110-175) on light paper."""
    paper = rng.uniform(225, 252)
    ink = rng.uniform(110, 175)
    cover = (255.0 - img) / 255.0
    grain = ndimage.gaussian_filter(rng.normal(1.0, 0.35, img.shape), 0.7)
    return to_uint8(paper - np.clip(cover * grain, 0, 1) * (paper - ink))


def paper_tone(img: Array, rng: Rng) -> Array:
    """Grey paper with an uneven illumination gradient and vignette."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx / max(w - 1, 1) - 0.5, yy / max(h - 1, 1) - 0.5
    light = 1 + rng.uniform(-0.25, 0.25) * u + rng.uniform(-0.25, 0.25) * v
    light -= rng.uniform(0, 0.3) * (u * u + v * v)
    return to_uint8(img * (rng.uniform(0.7, 0.95) * light))


PAPER_RGB = ((255, 246, 212), (250, 240, 225), (242, 242, 236), (255, 250, 190), (232, 238, 245))
INK_RGB = ((20, 20, 25), (25, 40, 130), (15, 25, 75), (60, 60, 65), (90, 20, 30))


def colorize(img: Array, rng: Rng) -> Array:
    """Grey to RGB: coloured paper (yellowish/cream) and black/blue ink.

    Grey value 255 maps to the paper colour and 0 to the ink colour, so a
    previously toned/gradient background stays toned.  Returns (H, W, 3).
    """
    paper = np.array(PAPER_RGB[int(rng.integers(len(PAPER_RGB)))], np.float32)
    ink = np.array(INK_RGB[int(rng.integers(len(INK_RGB)))], np.float32)
    t = img.astype(np.float32)[..., None] / 255.0
    return to_uint8(ink + (paper - ink) * t)


def jpeg(img: Array, rng: Rng, lo: int = 5, hi: int = 30) -> Array:
    """JPEG encode/decode at a random low quality (works for L and RGB)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=int(rng.integers(lo, hi + 1)))
    buf.seek(0)
    return np.asarray(Image.open(buf)).copy()


def invert(img: Array, rng: Rng) -> Array:
    """White ink on a dark (board-like) background."""
    dark = rng.uniform(0, 60)
    bright = rng.uniform(215, 255)
    return to_uint8(dark + (bright - dark) * (255.0 - img) / 255.0)


# ---------------------------------------------------------------------------
# Profiles and the scan pipeline
# ---------------------------------------------------------------------------

Step = Callable[[Array, Rng], Array]

GEOMETRIC: dict[str, Step] = {"elastic": elastic, "rotate": rotate, "shear": shear,
                              "thick": thick, "thin": thin}
LAYOUT: dict[str, Step] = {"margins": margins, "offcenter": offcenter, "tight": tight}
DECOR: dict[str, Step] = {"border": border, "underline": underline, "edge": scanner_edge}
SIZES: dict[str, tuple[int, int]] = {"default": (40, 200), "tiny": (16, 28), "huge": (300, 600)}
PHOTOMETRIC: dict[str, Step] = {"blur": blur, "pencil": pencil, "paper": paper_tone, "noise": noise,
                                "specks": specks, "invert": invert, "color": colorize, "jpeg": jpeg}

PROFILES: dict[str, tuple[str, ...]] = {
    "clean": (),
    "rotate": ("rotate",),
    "shear": ("shear",),
    "elastic": ("elastic",),
    "thick": ("thick",),
    "thin": ("thin",),
    "blur": ("blur",),
    "noise": ("noise",),
    "specks": ("specks",),
    "paper": ("paper", "color"),
    "pencil": ("pencil",),
    "border": ("border",),
    "underline": ("underline",),
    "edge": ("edge",),
    "offcenter": ("offcenter",),
    "tight": ("tight",),
    "jpeg": ("jpeg",),
    "tiny": ("tiny",),
    "huge": ("huge",),
    "inverted": ("invert",),
    "mixed": (),  # drawn at random by mixed_steps()
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def mixed_steps(rng: Rng) -> tuple[str, ...]:
    """Draw a random combination of several distortions that stays legible."""
    n_geo = 1 if rng.random() < 0.7 else 2
    steps: list[str] = [str(g) for g in rng.choice(["rotate", "shear", "elastic"], n_geo, replace=False)]
    steps.append(str(rng.choice(["thick", "thin", "none", "none", "none"])))
    size = str(rng.choice(["default", "default", "tiny", "huge"]))
    layouts = ["margins", "tight", "border", "underline"] + ([] if size == "tiny" else ["offcenter"])
    steps += [str(rng.choice(layouts)), size]
    photo = ["pencil", "paper", "noise", "specks", "jpeg"] + ([] if "thick" in steps else ["blur"])
    n_photo = 1 if size == "tiny" else int(rng.integers(1, 4))
    steps += [str(p) for p in rng.choice(photo, n_photo, replace=False)]
    if "paper" in steps and rng.random() < 0.6:
        steps.append("color")
    elif rng.random() < 0.12:
        steps.append("invert")
    return tuple(steps)


def profile_steps(kind: str, rng: Rng) -> tuple[str, ...]:
    """Step names for profile ``kind`` (``mixed`` draws them from ``rng``)."""
    if kind not in PROFILES:
        raise ValueError(f"unknown profile {kind!r}; choose from {', '.join(PROFILE_NAMES)}")
    return mixed_steps(rng) if kind == "mixed" else PROFILES[kind]


def pick_font(source: str, rng: Rng) -> str:
    """Random font for a font source ("handwriting-font" or "print-font")."""
    fonts = find_fonts(source.split("-")[0])
    if not fonts:
        raise RuntimeError(f"no usable fonts for source {source!r}")
    return fonts[int(rng.integers(len(fonts)))]


def render_source(d: int, rng: Rng, source: str, size: int, font_path: str | None = None) -> Array:
    """Clean digit from ``source``: "stroke", "handwriting-font" or "print-font"."""
    if source == "stroke":
        return stroke_digit(d, rng, size, margin=0.2)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    return render_font_digit(d, font_path or pick_font(source, rng), rng, size, margin=0.2)


def _final_size(steps: Sequence[str], rng: Rng) -> int:
    """Longer side of the output image for the size step in ``steps``."""
    name = next((s for s in steps if s in SIZES), "default")
    lo, hi = SIZES[name]
    return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def _apply(img: Array, rng: Rng, steps: Sequence[str], table: dict[str, Step]) -> Array:
    """Apply the steps of ``table`` that are in ``steps``, in table order."""
    for name, fn in table.items():
        if name in steps:
            img = fn(img, rng)
    return img


def make_scan(d: int, rng: Rng, kind: str = "clean", *, source: str = "stroke",
              font_path: str | None = None, size: int | None = None) -> Image.Image:
    """Render digit ``d`` from ``source`` and distort it with profile ``kind``.

    Pipeline: source at work resolution -> geometric steps -> margins or
    other layout -> form lines -> resize to the final size (longer side
    ``size``, random when None) -> photometric steps.  Returns a PIL image,
    mode ``L`` or ``RGB`` (profiles using ``color``).
    """
    steps = profile_steps(kind, rng)
    final = size if size is not None else _final_size(steps, rng)
    img = render_source(d, rng, source, int(np.clip(final, 72, 256)), font_path)
    img = _apply(img, rng, steps, GEOMETRIC)
    layout = next((s for s in steps if s in LAYOUT), "margins")
    img = LAYOUT[layout](img, rng)
    img = _apply(img, rng, steps, DECOR)
    img = resize_to(img, final, rng)
    img = _apply(img, rng, steps, PHOTOMETRIC)
    return Image.fromarray(img)


def save_image(img: Image.Image, path: Path, jpeg_quality: int = 90, webp_quality: int = 85) -> None:
    """Save ``img`` with settings suited to the file extension."""
    ext = path.suffix.lower()
    if ext == ".jpg":
        img.save(path, "JPEG", quality=jpeg_quality)
    elif ext == ".webp":
        img.save(path, "WEBP", quality=webp_quality, method=4)
    elif ext == ".pgm":
        img.convert("L").save(path, "PPM")
    elif ext == ".tif":
        try:
            img.save(path, "TIFF", compression="tiff_deflate")
        except (OSError, ValueError):  # a Pillow built without zlib for TIFF
            img.save(path, "TIFF")
    else:
        img.save(path)
