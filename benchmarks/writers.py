"""Writer-level synthetic handwriting: the accuracy proxy for real scans.

Usage::

    python benchmarks/writers.py OUTDIR [--seed test|dev|N] [--writers 40] [--per-digit 13] [--jobs 2]

Each synthetic *writer* has one consistent style, drawn from its seed:
slant, width, size, pen (ballpoint, gel, marker, pencil; stroke width and
pressure), the paper and scanner (tone, colour, blur, noise, JPEG quality,
resolution 28-200 px), whether they write in form boxes or on a line, how
sloppy they are, and for every digit ONE letter form out of realistic
variants (open or closed 4, flat-topped or round 3, 7 with or without a
bar, ...) plus their personal deformation of it.  Every sample of a writer
then adds its own jitter (shape wobble, proportions, position, size).

The set is deterministic from a seed: ``DEV_SEED`` is for tuning models,
``TEST_SEED`` is the one reported by ``accuracy.py``.  Writer ``w`` of seed
``s`` is drawn from ``SeedSequence([s, w])``, each sample from
``SeedSequence([s, w, digit, k])``, so output never depends on the number
of worker processes.  Files are written as
``OUTDIR/wNN/<digit>_<k>.<ext>`` in mixed formats (one writer = one
scanner = mostly one format) plus ``OUTDIR/labels.csv`` with
``path,label,writer``.

The glyphs are this module's own (nothing shared with the training
augmentation in ``batchdigits/learn/augment.py``, so the proxy stays an independent
test).  No MNIST, EMNIST, USPS or other public handwritten-digit set is used.

>>> w = make_writer(TEST_SEED, 0)
>>> img = render_sample(w, 3, 0)          # a PIL image of this writer's "3"
>>> img.mode in ("L", "RGB")
True
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402

Array = np.ndarray
Rng = np.random.Generator

DEV_SEED = 1
"""Writers for tuning (models, thresholds, augmentation): tune on these."""
TEST_SEED = 2
"""Writers reported by ``accuracy.py``: never tune on these."""
SEEDS = {"dev": DEV_SEED, "test": TEST_SEED}

N_WRITERS = 40
PER_DIGIT = 13
FORMATS = ("png", "jpg", "bmp", "tif", "webp", "gif", "pgm")

# ---------------------------------------------------------------------------
# Letter forms
# ---------------------------------------------------------------------------

# Each form is a list of strokes; a stroke is an SVG-like path in a 100x100
# box (y down) with M, L, Q and C commands (parsed by synth.parse_path).  The
# weight is how often a writer picks that form.
FORMS: dict[int, dict[str, tuple[float, list[str]]]] = {
    0: {
        "round": (3, ["M 52 6 C 22 6, 10 32, 10 52 C 10 78, 28 95, 50 95 C 74 95, 90 74, 90 50 "
                      "C 90 26, 76 6, 50 7"]),
        "narrow": (3, ["M 54 5 C 30 4, 20 30, 20 52 C 20 80, 36 96, 52 95 C 70 94, 80 72, 79 48 "
                       "C 78 24, 66 5, 46 10"]),
        "overlap": (2, ["M 64 10 C 36 -2, 12 28, 12 55 C 12 84, 34 97, 54 94 C 80 90, 90 62, 86 36 "
                        "C 82 14, 62 2, 36 16"]),
        "pointed": (1, ["M 52 4 C 34 20, 14 44, 14 66 C 14 88, 34 96, 50 96 C 68 96, 86 86, 86 62 "
                        "C 86 42, 70 22, 50 6"]),
    },
    1: {
        "plain": (4, ["M 50 4 L 50 96"]),
        "flag": (4, ["M 34 20 L 54 4 L 52 96"]),
        "flag_base": (1, ["M 30 24 L 54 4 L 52 96", "M 30 96 L 74 96"]),
        "long_flag": (2, ["M 20 40 Q 40 24 56 4 L 54 96"]),
    },
    2: {
        "curve": (3, ["M 14 26 C 18 4, 80 -2, 82 26 C 84 50, 42 70, 12 95 L 88 93"]),
        "loop": (2, ["M 14 26 C 18 4, 80 -2, 82 26 C 84 50, 48 72, 24 89 C 8 100, 4 80, 26 81 "
                     "C 48 82, 68 96, 90 92"]),
        "z": (2, ["M 14 14 Q 50 -2 80 14 Q 88 26 70 42 L 14 94 L 88 94"]),
        "hook": (2, ["M 20 22 C 30 4, 78 2, 80 24 C 82 46, 58 64, 40 78 C 30 86, 20 92, 14 95 "
                     "C 40 90, 66 92, 90 96"]),
        "short_base": (2, ["M 10 24 C 16 2, 86 0, 80 30 C 74 52, 30 80, 18 94 Q 40 90 62 94"]),
        "no_base": (1.5, ["M 12 20 C 20 2, 84 2, 80 26 C 76 50, 40 76, 26 96 L 40 96"]),
        "flat_top": (2, ["M 14 14 C 30 6, 70 4, 80 16 C 86 28, 60 56, 22 92 L 52 90"]),
    },
    3: {
        "round": (3, ["M 15 16 C 34 -2, 80 0, 78 22 C 76 40, 56 46, 38 47 C 62 46, 86 56, 84 74 "
                      "C 82 96, 40 102, 12 84"]),
        "flat_top": (2, ["M 14 6 L 82 6 L 44 42 C 74 38, 90 58, 84 76 C 78 97, 38 100, 12 84"]),
        "big_top": (1, ["M 12 20 C 26 -2, 86 -2, 84 28 C 82 52, 56 58, 40 58 C 64 58, 86 68, 84 82 "
                        "C 82 98, 40 100, 14 90"]),
        "curled": (3, ["M 30 34 C 12 22, 24 4, 50 4 C 76 4, 84 22, 74 36 C 66 46, 50 48, 42 48 "
                       "C 70 48, 86 60, 82 78 C 78 96, 44 100, 22 90"]),
        "two_arcs": (1, ["M 18 14 C 35 -2, 78 2, 74 24 C 72 40, 52 46, 36 46",
                         "M 40 46 C 70 44, 88 58, 84 76 C 80 97, 38 100, 12 86"]),
    },
    4: {
        "open": (3, ["M 24 4 L 14 60 L 90 60", "M 70 10 L 68 97"]),
        "closed": (3, ["M 64 4 L 6 66 L 94 66", "M 64 4 L 62 97"]),
        "open_curvy": (2, ["M 26 4 Q 16 40 14 60 Q 50 62 90 56", "M 70 4 Q 66 50 68 97"]),
        "closed_round": (3, ["M 66 8 C 40 18, 14 46, 14 62 L 88 60", "M 66 4 L 64 97"]),
        "looped": (2, ["M 70 40 C 56 14, 22 30, 16 58 L 90 58", "M 70 4 L 68 97"]),
        "one_stroke": (1, ["M 56 4 L 14 62 L 86 62 L 70 62 L 70 30 L 68 97"]),
    },
    5: {
        "detached": (2, ["M 26 6 L 20 50 C 40 36, 86 38, 84 66 C 82 94, 44 102, 12 86", "M 26 6 L 82 5"]),
        "joined": (3, ["M 84 6 L 26 6 L 20 50 C 40 36, 86 38, 84 66 C 82 94, 44 102, 12 86"]),
        "round_belly": (2, ["M 24 8 L 20 42 C 46 30, 90 42, 82 70 C 74 96, 32 96, 14 80",
                            "M 24 8 Q 54 2 86 4"]),
        "short_top": (0.5, ["M 30 4 L 22 44 C 44 30, 88 40, 84 68 C 80 96, 40 100, 14 84",
                          "M 30 4 L 66 4"]),
    },
    6: {
        "large_loop": (4, ["M 74 5 C 44 10, 15 45, 15 70 C 15 90, 35 98, 52 97 C 76 96, 86 80, 84 67 "
                           "C 81 50, 60 45, 45 48 C 32 51, 20 60, 17 72"]),
        "small_loop": (3, ["M 62 2 Q 28 34 20 72 C 18 92, 40 98, 54 94 C 70 90, 72 72, 60 66 "
                           "C 48 60, 30 66, 22 78"]),
        "straight": (2, ["M 70 4 L 22 60 C 12 80, 30 98, 52 96 C 74 94, 84 74, 74 60 "
                         "C 62 46, 36 50, 22 62"]),
        "hooked": (1, ["M 80 10 C 60 0, 30 20, 20 50 C 14 70, 18 92, 46 96 C 74 98, 86 80, 82 64 "
                       "C 78 48, 56 44, 40 50 C 28 54, 20 62, 18 70"]),
        "angular": (2, ["M 66 4 L 24 66 C 18 84, 28 96, 46 94 C 64 92, 70 74, 58 66 "
                        "C 46 60, 30 64, 22 74"]),
        "upright": (2, ["M 40 2 Q 26 40 24 70 C 24 92, 44 98, 60 92 C 78 84, 74 62, 56 60 "
                        "C 42 58, 30 64, 24 74"]),
        "open_loop": (2, ["M 66 3 Q 24 34 18 68 C 14 92, 42 100, 60 95 C 82 88, 84 62, 68 56 "
                          "C 54 50, 38 56, 30 64"]),
    },
    7: {
        "plain": (3, ["M 12 8 L 86 8 L 40 96"]),
        "curved": (3, ["M 12 10 Q 50 3 86 8 Q 60 45 42 96"]),
        "bar": (3, ["M 12 8 L 86 8 L 40 96", "M 30 52 L 76 50"]),
        "serif": (2, ["M 12 22 L 14 8 L 86 8 L 44 96"]),
    },
    8: {
        "figure": (3, ["M 78 16 C 70 0, 24 2, 22 20 C 20 40, 80 50, 80 74 C 80 96, 20 98, 18 74 "
                       "C 18 52, 78 40, 78 18"]),
        "stacked": (2, ["M 50 5 C 24 5, 24 45, 50 45 C 76 45, 76 5, 50 5",
                        "M 50 45 C 14 45, 14 97, 50 97 C 86 97, 86 45, 50 45"]),
        "snowman": (0.5, ["M 56 6 C 30 2, 28 34, 50 40 C 88 50, 90 96, 50 96 C 12 96, 14 52, 50 40 "
                        "C 72 34, 76 8, 52 6"]),
        "crossed": (1, ["M 80 10 C 60 -4, 20 4, 30 24 L 74 70 C 86 90, 60 100, 40 96 C 16 90, 16 70, 30 60 "
                        "L 70 26 C 80 12, 76 6, 60 5"]),
    },
    9: {
        "straight": (3, ["M 80 18 C 70 0, 22 4, 22 26 C 22 46, 68 50, 80 22 L 77 97"]),
        "curved": (3, ["M 80 18 C 70 0, 22 4, 22 26 C 22 46, 68 50, 80 22 C 82 56, 72 86, 34 96"]),
        "big_loop": (3, ["M 82 30 C 74 -2, 14 0, 16 34 C 18 62, 76 58, 82 30 Q 80 64 72 97"]),
        "two_strokes": (2, ["M 78 14 C 64 0, 20 6, 22 28 C 24 50, 74 48, 78 22", "M 80 8 L 76 97"]),
        "flat_loop": (3, ["M 78 10 C 50 8, 24 24, 22 36 C 24 46, 60 46, 80 36", "M 78 8 L 74 97"]),
        "open_top": (1, ["M 70 8 C 40 4, 20 16, 22 32 C 24 50, 66 50, 80 24 L 80 10 L 76 97"]),
    },
}

PEN_KINDS = ("ballpoint", "gel", "marker", "pencil")
# pen radius as a fraction of the digit height: (low, high); ink grey level (low, high)
PEN_RADIUS = {"ballpoint": (0.018, 0.032), "gel": (0.03, 0.05), "marker": (0.05, 0.09), "pencil": (0.02, 0.04)}
PEN_INK = {"ballpoint": (10, 70), "gel": (0, 40), "marker": (0, 30), "pencil": (80, 160)}


@dataclass(frozen=True)
class Writer:
    """One synthetic writer's consistent style (all drawn from ``SeedSequence([seed, index])``)."""

    seed: int
    index: int
    forms: tuple[str, ...]  # letter form per digit 0..9
    slant: float  # x shift per unit height (top right > 0)
    aspect: float  # width / height of the glyph box
    rotation: float  # degrees
    sloppiness: float  # std of the personal deformation of each form (unit box)
    jitter: float  # std of per-sample wobble
    waist: float  # shift of the digit's middle (down > 0)
    taper: float  # top wider than bottom (> 0)
    pen: str
    pen_radius: float
    ink: float  # grey level of the ink 0..255
    pressure: float  # amplitude of pressure waves along strokes
    size: int  # longer side of the scan, px
    margin: float  # mean margin around the digit, fraction of its size
    decor: str  # "none", "box" or "line"
    paper: float  # paper grey level
    color: bool  # coloured paper / ink (RGB files)
    blur: float  # Gaussian sigma in px at the final size
    noise: float  # noise std, grey levels
    jpeg_quality: int  # 0 = no JPEG round trip
    fmt: str  # the writer's usual file format

    @property
    def name(self) -> str:
        return f"w{self.index:02d}"


def _choose(rng: Rng, weights: dict[str, tuple[float, list[str]]]) -> str:
    names = list(weights)
    p = np.array([weights[n][0] for n in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def make_writer(seed: int, index: int) -> Writer:
    """Draw writer ``index`` of ``seed``: a consistent style for all its samples."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    forms = tuple(_choose(rng, FORMS[d]) for d in range(10))
    pen = str(rng.choice(PEN_KINDS, p=[0.4, 0.25, 0.15, 0.2]))
    size = int(round(np.exp(rng.uniform(np.log(28), np.log(200)))))
    jpeg_quality = int(rng.integers(20, 90)) if rng.random() < 0.5 else 0
    return Writer(
        seed=seed,
        index=index,
        forms=forms,
        slant=float(np.clip(rng.normal(0.15, 0.15), -0.2, 0.5)),
        aspect=float(rng.uniform(0.6, 1.0)),
        rotation=float(rng.normal(0, 4)),
        sloppiness=float(rng.uniform(0.03, 0.07)),
        jitter=float(rng.uniform(0.012, 0.03)),
        waist=float(rng.uniform(-0.1, 0.1)),
        taper=float(rng.uniform(-0.35, 0.35)),
        pen=pen,
        pen_radius=float(rng.uniform(*PEN_RADIUS[pen])),
        ink=float(rng.uniform(*PEN_INK[pen])),
        pressure=float(rng.uniform(0.0, 0.35)),
        size=size,
        margin=float(rng.uniform(0.05, 0.35)),
        decor=str(rng.choice(["none", "box", "line"], p=[0.84, 0.08, 0.08])),
        paper=float(rng.uniform(205, 252)),
        color=bool(rng.random() < 0.25),
        blur=float(rng.uniform(0.0, 1.0) * (0.3 + size / 120)),
        noise=float(rng.uniform(0, 12)),
        jpeg_quality=jpeg_quality,
        fmt=str(rng.choice(FORMATS)),
    )


def make_writers(seed: int, n: int = N_WRITERS) -> list[Writer]:
    """Writers ``0..n-1`` of ``seed``."""
    return [make_writer(seed, i) for i in range(n)]


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def _glyph_strokes(w: Writer, d: int, rng: Rng) -> list[tuple[Array, list[tuple[int, ...]]]]:
    """The writer's form of ``d``: personal deformation + this sample's jitter, transformed."""
    personal = np.random.default_rng(np.random.SeedSequence([w.seed, w.index, 100 + d]))
    waist = w.waist + rng.normal(0, 0.03)
    taper = w.taper + rng.normal(0, 0.08)
    aspect = w.aspect * np.exp(rng.normal(0, 0.06))
    slant = w.slant + rng.normal(0, 0.05)
    angle = np.deg2rad(w.rotation + rng.normal(0, 3))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mat = rot @ np.array([[1.0, -slant], [0.0, 1.0]]) @ np.diag([aspect, 1.0])
    strokes = []
    for path in FORMS[d][w.forms[d]][1]:
        pts, segs = synth.parse_path(path)
        pts = pts + personal.normal(0, w.sloppiness, pts.shape)
        pts = pts + rng.normal(0, w.jitter, pts.shape) + rng.normal(0, w.jitter, 2)
        x, y = pts[:, 0], pts[:, 1]
        yc = np.clip(y, 0, 1)
        y = y + waist * 4 * yc * (1 - yc)
        x = 0.5 + (x - 0.5) * (1 + taper * (0.5 - y))
        pts = np.stack([x, y], axis=1)
        strokes.append(((pts - 0.5) @ mat.T, segs))
    return strokes


def _pressure(curve: Array, w: Writer, rng: Rng) -> Array:
    """Relative pen width along a curve: slow pressure waves and a light start."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    wave = 1 + w.pressure * np.sin(2 * np.pi * s / rng.uniform(0.5, 1.5) + rng.uniform(0, 6.3))
    return wave * np.clip(0.7 + s / 0.12, 0, 1)


def draw_clean(w: Writer, d: int, rng: Rng, work: int = 96) -> Array:
    """Ink coverage 0..1 of the writer's ``d`` on a ``work``-px square (digit height ~ work)."""
    strokes = _glyph_strokes(w, d, rng)
    curves = [synth._sample_stroke(p, s, 0.006) for p, s in strokes]
    allpts = np.concatenate(curves)
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    ss = 2
    canvas = work * ss
    radius = w.pen_radius * np.exp(rng.normal(0, 0.08))
    scale = canvas * 0.8 / (max(hi - lo) + 2 * radius)
    centre = (lo + hi) / 2
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for curve in curves:
        pix = (curve - centre) * scale + canvas / 2
        radii = np.maximum(radius * scale * _pressure(curve, w, rng), 0.6 * ss)
        _pen_line(draw, pix, radii)
    return np.asarray(img.reduce(ss), np.float32) / 255.0


def _pen_line(draw: ImageDraw.ImageDraw, pix: Array, radii: Array, chunk: int = 4) -> None:
    """Draw a polyline whose width follows ``radii``: round dots at every ``chunk``-th
    point joined by lines of the local width (8x fewer calls than a dot per point)."""
    for i in range(0, len(pix), chunk):
        part, r = pix[i : i + chunk + 1], float(radii[i : i + chunk + 1].mean())
        x, y = part[0]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        if len(part) > 1:
            draw.line([tuple(p) for p in part], fill=255, width=max(1, round(2 * r)))
    x, y = pix[-1]
    r = float(radii[-1])
    draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _ink_layer(cover: Array, w: Writer, rng: Rng) -> Array:
    """Grey image (ink on white) from coverage, with the pen's texture."""
    strength = cover
    if w.pen == "pencil":
        grain = ndimage.gaussian_filter(rng.normal(1.0, 0.4, cover.shape), 0.8)
        strength = np.clip(cover * grain, 0, 1)
    elif w.pen == "ballpoint":
        skips = ndimage.gaussian_filter(rng.normal(1.0, 0.5, cover.shape), 2.0)
        strength = np.clip(cover * np.clip(skips, 0.55, 1.2), 0, 1)
    return synth.to_uint8(255 - strength * (255 - w.ink))


def _layout(img: Array, w: Writer, rng: Rng) -> Array:
    """Margins (writer's mean, per-sample variation) and the writer's form box or line."""
    if w.decor == "line" and rng.random() < 0.85:
        img = synth.underline(img, rng)
    img = synth.margins(img, rng, lo=w.margin * 0.4, hi=w.margin * 1.4 + 0.02)
    if w.decor == "box" and rng.random() < 0.85:
        img = _cell_box(img, rng)
    return img


def _cell_box(img: Array, rng: Rng) -> Array:
    """A form cell: a grey rectangle near the canvas edge, sometimes touching the digit."""
    h, wd = img.shape
    side = max(h, wd)
    thick = max(1, round(side * rng.uniform(0.012, 0.03)))
    out = synth.pad_white(img, *(int(round(side * rng.uniform(0.0, 0.06))) + thick for _ in range(4)))
    inset = [side * rng.uniform(0.0, 0.03) for _ in range(4)]
    canvas = Image.fromarray(out)
    rect = (inset[0], inset[1], canvas.width - 1 - inset[2], canvas.height - 1 - inset[3])
    ImageDraw.Draw(canvas).rectangle(rect, outline=int(rng.uniform(40, 140)), width=thick)
    return np.asarray(canvas).copy()


def _scan(img: Array, w: Writer, rng: Rng) -> Array:
    """Resize to the writer's resolution, paper tone, colour, blur, noise, JPEG."""
    size = int(np.clip(round(w.size * np.exp(rng.normal(0, 0.1))), 24, 220))
    img = synth.resize_to(img, size, rng).astype(np.float32)
    h, wd = img.shape
    yy, xx = np.mgrid[0:h, 0:wd]
    light = 1 + rng.uniform(-0.08, 0.08) * (xx / max(wd - 1, 1) - 0.5) + rng.uniform(-0.08, 0.08) * (
        yy / max(h - 1, 1) - 0.5)
    img = img * (w.paper / 255.0) * light
    if w.blur > 0.3:
        img = ndimage.gaussian_filter(img, w.blur)
    out: Array = synth.to_uint8(img)
    if w.color:
        out = synth.colorize(out, np.random.default_rng(np.random.SeedSequence([w.seed, w.index, 99])))
    if w.noise > 0:
        out = synth.to_uint8(out + rng.normal(0, w.noise, out.shape))
    if w.jpeg_quality:
        out = synth.jpeg(out, rng, w.jpeg_quality, w.jpeg_quality)
    return out


def render_sample(w: Writer, d: int, k: int) -> Image.Image:
    """Sample ``k`` of writer ``w``'s digit ``d``: a PIL image (``L`` or ``RGB``)."""
    rng = np.random.default_rng(np.random.SeedSequence([w.seed, w.index, d, k]))
    cover = draw_clean(w, d, rng)
    img = _layout(_ink_layer(cover, w, rng), w, rng)
    return Image.fromarray(_scan(img, w, rng))


# ---------------------------------------------------------------------------
# Writing a set
# ---------------------------------------------------------------------------


def _file_format(w: Writer, rng: Rng) -> str:
    """The writer's usual format, sometimes another one."""
    return w.fmt if rng.random() < 0.8 else str(rng.choice(FORMATS))


def write_writer(args: tuple[str, int, int, int]) -> list[tuple[str, int, str]]:
    """Write all samples of one writer; return its labels.csv rows."""
    outdir, seed, index, per_digit = args
    w = make_writer(seed, index)
    folder = Path(outdir) / w.name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in range(10):
        for k in range(per_digit):
            img = render_sample(w, d, k)
            rng = np.random.default_rng(np.random.SeedSequence([seed, index, d, k, 7]))
            rel = f"{w.name}/{d}_{k:02d}.{_file_format(w, rng)}"
            synth.save_image(img, Path(outdir) / rel)
            rows.append((rel, d, w.name))
    return rows


def write_set(outdir: Path, seed: int = TEST_SEED, writers: int = N_WRITERS, per_digit: int = PER_DIGIT,
              jobs: int = 2) -> list[tuple[str, int, str]]:
    """Generate the set into ``outdir`` (files + labels.csv); return the rows.

    >>> rows = write_set(Path("/tmp/ws"), writers=1, per_digit=1, jobs=1)   # doctest: +SKIP
    >>> rows[0]                                                             # doctest: +SKIP
    ('w00/0_00.png', 0, 'w00')
    """
    outdir.mkdir(parents=True, exist_ok=True)
    tasks = [(str(outdir), seed, i, per_digit) for i in range(writers)]
    if jobs <= 1:
        parts = [write_writer(t) for t in tasks]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(write_writer, tasks))
    rows = [r for part in parts for r in part]
    with open(outdir / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["path", "label", "writer"])
        out.writerows(rows)
    return rows


def parse_seed(text: str) -> int:
    """``dev``, ``test`` or an integer."""
    return SEEDS[text] if text in SEEDS else int(text)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--seed", default="test", help="dev, test or an integer (default test)")
    ap.add_argument("--writers", type=int, default=N_WRITERS)
    ap.add_argument("--per-digit", type=int, default=PER_DIGIT)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rows = write_set(args.outdir, parse_seed(args.seed), args.writers, args.per_digit, args.jobs)
    print(f"wrote {len(rows)} scans ({args.writers} writers x 10 digits x {args.per_digit}) to "
          f"{args.outdir} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
