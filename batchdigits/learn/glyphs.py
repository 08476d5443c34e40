"""Pen-stroke digit glyphs for training: letter forms people really write.

Each digit has several *forms* (open and closed 4, flat-topped, round, curled and big-topped 3,
2 with or without a loop or base, 7 with or without a bar, 1 with a flag or
a foot, 6 with a small or large loop, 9 with a straight or curled tail, 8 as
one figure or two loops, ...).  A form is a list of strokes; a stroke is a
list of control points ``(x, y)`` in a unit box (``y`` down) through which a
Catmull-Rom spline is drawn; a point repeated is a corner.

:func:`draw_digit` jitters a form's points, slants, rotates and stretches
it, draws it with a random pen, and returns a grayscale "scan" (dark ink on
light paper) for :func:`batchdigits.image.grid.image_to_grid`.  Everything is
drawn from the ``numpy`` generator it is given, so a seed gives one image.

This module is the training side only: the accuracy proxy
(``benchmarks/writers.py``) has its own glyphs and shares no code with it.

>>> import numpy as np
>>> img = draw_digit(4, np.random.default_rng(0))
>>> img.dtype.name, img.ndim
('uint8', 2)
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

Point = tuple[float, float]
Stroke = list[Point]

CANVAS = 96  # px of the drawing before the scan is resized
STEPS = 10  # spline samples per control-point segment

FORMS: dict[int, dict[str, tuple[float, list[Stroke]]]] = {
    # digit: {form name: (weight, strokes)}
    0: {
        "oval": (3.0, [[(0.5, 0.0), (0.15, 0.15), (0.02, 0.5), (0.18, 0.88), (0.5, 1.0), (0.84, 0.86),
                        (0.97, 0.5), (0.85, 0.13), (0.5, 0.0), (0.38, 0.06)]]),
        "open": (1.0, [[(0.6, 0.02), (0.25, 0.1), (0.05, 0.5), (0.2, 0.9), (0.55, 1.0), (0.88, 0.8),
                        (0.95, 0.4), (0.75, 0.08)]]),
        "pointed": (1.0, [[(0.5, 0.0), (0.5, 0.0), (0.12, 0.35), (0.1, 0.7), (0.5, 1.0), (0.9, 0.7),
                           (0.88, 0.35), (0.5, 0.0), (0.5, 0.0)]]),
    },
    1: {
        "stick": (3.0, [[(0.5, 0.0), (0.5, 1.0)]]),
        "flag": (2.0, [[(0.2, 0.28), (0.55, 0.0), (0.55, 0.0), (0.52, 1.0)]]),
        "flag_base": (1.0, [[(0.2, 0.28), (0.55, 0.0), (0.55, 0.0), (0.52, 1.0)], [(0.2, 1.0), (0.85, 1.0)]]),
        "serif": (0.6, [[(0.35, 0.08), (0.55, 0.0), (0.55, 0.0), (0.5, 1.0)]]),
    },
    2: {
        "plain": (3.0, [[(0.08, 0.25), (0.32, 0.02), (0.68, 0.0), (0.9, 0.22), (0.8, 0.48), (0.45, 0.75),
                         (0.06, 1.0), (0.06, 1.0), (0.5, 0.97), (0.95, 1.0)]]),
        "loop": (1.5, [[(0.1, 0.25), (0.38, 0.0), (0.75, 0.05), (0.85, 0.32), (0.6, 0.62), (0.25, 0.88),
                        (0.1, 0.98), (0.05, 0.86), (0.22, 0.8), (0.42, 0.93), (0.7, 1.0), (0.95, 0.96)]]),
        "nobase": (1.2, [[(0.1, 0.22), (0.38, 0.0), (0.75, 0.05), (0.88, 0.3), (0.62, 0.6), (0.28, 0.85),
                          (0.1, 1.0), (0.1, 1.0), (0.4, 0.96)]]),
        "z": (1.0, [[(0.12, 0.15), (0.45, 0.0), (0.8, 0.08), (0.85, 0.25), (0.1, 1.0), (0.1, 1.0), (0.92, 1.0)]]),
        "curly_base": (1.0, [[(0.1, 0.28), (0.35, 0.0), (0.72, 0.02), (0.85, 0.3), (0.55, 0.65), (0.12, 0.98),
                              (0.12, 0.98), (0.45, 0.88), (0.75, 1.0), (0.95, 0.85)]]),
    },
    3: {
        "round": (3.0, [[(0.1, 0.15), (0.45, 0.0), (0.85, 0.15), (0.8, 0.38), (0.42, 0.5), (0.42, 0.5),
                         (0.85, 0.62), (0.92, 0.85), (0.55, 1.0), (0.08, 0.88)]]),
        "flat": (2.0, [[(0.1, 0.0), (0.1, 0.0), (0.9, 0.0), (0.9, 0.0), (0.42, 0.42), (0.42, 0.42), (0.82, 0.55),
                        (0.93, 0.8), (0.6, 1.0), (0.1, 0.9)]]),
        "smooth": (1.5, [[(0.12, 0.12), (0.5, 0.0), (0.85, 0.2), (0.6, 0.45), (0.45, 0.5), (0.75, 0.58),
                          (0.9, 0.8), (0.55, 1.0), (0.1, 0.85)]]),
        "small_top": (1.2, [[(0.2, 0.1), (0.5, 0.0), (0.72, 0.15), (0.5, 0.35), (0.5, 0.35), (0.9, 0.6),
                             (0.85, 0.9), (0.5, 1.0), (0.08, 0.85)]]),
        "open_top": (1.0, [[(0.2, 0.25), (0.3, 0.05), (0.7, 0.0), (0.82, 0.25), (0.45, 0.47), (0.45, 0.47),
                            (0.88, 0.65), (0.85, 0.92), (0.45, 1.0), (0.15, 0.82)]]),
        "curled": (1.2, [[(0.3, 0.3), (0.32, 0.18), (0.2, 0.12), (0.38, 0.0), (0.75, 0.05), (0.82, 0.28),
                          (0.45, 0.48), (0.45, 0.48), (0.88, 0.65), (0.88, 0.88), (0.5, 1.0), (0.1, 0.86)]]),
        "big_top": (1.0, [[(0.08, 0.2), (0.45, 0.0), (0.9, 0.22), (0.75, 0.5), (0.45, 0.6), (0.45, 0.6),
                           (0.8, 0.72), (0.8, 0.9), (0.5, 1.0), (0.15, 0.92)]]),
    },
    4: {
        "open": (2.0, [[(0.55, 0.0), (0.55, 0.0), (0.05, 0.68), (0.05, 0.68), (0.95, 0.68)],
                       [(0.72, 0.28), (0.72, 1.0)]]),
        "closed": (2.0, [[(0.72, 1.0), (0.72, 0.0), (0.72, 0.0), (0.05, 0.68), (0.05, 0.68), (0.95, 0.68)]]),
        "upright": (1.5, [[(0.15, 0.0), (0.15, 0.0), (0.1, 0.58), (0.1, 0.58), (0.92, 0.58)],
                          [(0.72, 0.0), (0.72, 1.0)]]),
        "crossed": (1.0, [[(0.5, 0.0), (0.5, 0.0), (0.05, 0.62), (0.05, 0.62), (1.0, 0.6)],
                          [(0.68, 0.1), (0.66, 1.0)]]),
        "tall_open": (1.0, [[(0.3, 0.0), (0.3, 0.0), (0.08, 0.5), (0.08, 0.5), (0.9, 0.5)],
                            [(0.65, 0.05), (0.65, 1.0)]]),
    },
    5: {
        "two_strokes": (2.5, [[(0.22, 0.0), (0.22, 0.0), (0.15, 0.45), (0.15, 0.45), (0.5, 0.36), (0.85, 0.52),
                               (0.88, 0.82), (0.5, 1.0), (0.08, 0.9)], [(0.22, 0.0), (0.88, 0.0)]]),
        "one_stroke": (1.5, [[(0.88, 0.0), (0.88, 0.0), (0.22, 0.0), (0.22, 0.0), (0.15, 0.45), (0.15, 0.45),
                              (0.5, 0.36), (0.85, 0.52), (0.88, 0.82), (0.5, 1.0), (0.08, 0.9)]]),
        "round": (1.0, [[(0.25, 0.0), (0.25, 0.0), (0.2, 0.38), (0.5, 0.32), (0.9, 0.5), (0.92, 0.8),
                         (0.6, 1.0), (0.1, 0.92)], [(0.25, 0.0), (0.85, 0.02)]]),
        "s_like": (0.7, [[(0.9, 0.02), (0.4, 0.0), (0.15, 0.2), (0.3, 0.42), (0.75, 0.52), (0.85, 0.82),
                          (0.5, 1.0), (0.1, 0.88)]]),
    },
    6: {
        "classic": (2.5, [[(0.82, 0.05), (0.45, 0.05), (0.15, 0.45), (0.12, 0.8), (0.42, 1.0), (0.8, 0.88),
                           (0.82, 0.6), (0.5, 0.48), (0.18, 0.62)]]),
        "small_loop": (2.0, [[(0.75, 0.0), (0.4, 0.25), (0.2, 0.65), (0.28, 0.95), (0.55, 1.0), (0.72, 0.85),
                              (0.6, 0.68), (0.38, 0.7), (0.22, 0.82)]]),
        "straight": (1.5, [[(0.72, 0.0), (0.72, 0.0), (0.2, 0.68), (0.25, 0.95), (0.55, 1.0), (0.8, 0.82),
                            (0.68, 0.6), (0.4, 0.6), (0.2, 0.72)]]),
        "large_loop": (1.0, [[(0.8, 0.0), (0.3, 0.15), (0.08, 0.55), (0.2, 0.92), (0.55, 1.0), (0.9, 0.75),
                              (0.8, 0.42), (0.45, 0.35), (0.12, 0.5)]]),
        "hooked": (0.8, [[(0.85, 0.15), (0.65, 0.0), (0.3, 0.12), (0.12, 0.55), (0.2, 0.9), (0.5, 1.0),
                          (0.82, 0.85), (0.78, 0.6), (0.45, 0.55), (0.15, 0.7)]]),
    },
    7: {
        "plain": (3.0, [[(0.05, 0.02), (0.05, 0.02), (0.95, 0.0), (0.95, 0.0), (0.4, 1.0)]]),
        "bar": (1.5, [[(0.05, 0.02), (0.05, 0.02), (0.95, 0.0), (0.95, 0.0), (0.4, 1.0)], [(0.3, 0.52), (0.88, 0.5)]]),
        "serif": (1.0, [[(0.05, 0.22), (0.05, 0.22), (0.08, 0.0), (0.08, 0.0), (0.95, 0.02), (0.95, 0.02),
                         (0.45, 1.0)]]),
        "curved": (1.2, [[(0.05, 0.05), (0.05, 0.05), (0.92, 0.0), (0.92, 0.0), (0.62, 0.42), (0.48, 1.0)]]),
        "wavy_top": (0.8, [[(0.05, 0.1), (0.3, 0.0), (0.6, 0.08), (0.95, 0.0), (0.95, 0.0), (0.5, 1.0)]]),
    },
    8: {
        "figure": (3.0, [[(0.55, 0.48), (0.85, 0.22), (0.5, 0.0), (0.15, 0.22), (0.5, 0.48), (0.88, 0.75),
                          (0.5, 1.0), (0.12, 0.75), (0.5, 0.48), (0.6, 0.42)]]),
        "two_loops": (1.5, [[(0.5, 0.0), (0.2, 0.22), (0.5, 0.45), (0.8, 0.22), (0.5, 0.0)],
                            [(0.5, 0.45), (0.12, 0.72), (0.5, 1.0), (0.88, 0.72), (0.5, 0.45)]]),
        "small_top": (1.2, [[(0.5, 0.38), (0.75, 0.18), (0.5, 0.0), (0.25, 0.18), (0.5, 0.38), (0.9, 0.7),
                             (0.5, 1.0), (0.1, 0.7), (0.5, 0.38)]]),
        "slanted": (1.0, [[(0.8, 0.1), (0.5, 0.0), (0.2, 0.2), (0.5, 0.48), (0.8, 0.78), (0.5, 1.0),
                           (0.2, 0.78), (0.5, 0.48), (0.85, 0.18)]]),
    },
    9: {
        "straight": (3.0, [[(0.85, 0.2), (0.5, 0.0), (0.15, 0.18), (0.18, 0.42), (0.5, 0.5), (0.85, 0.32),
                            (0.85, 0.32), (0.82, 1.0)]]),
        "curved": (1.5, [[(0.85, 0.22), (0.5, 0.0), (0.15, 0.2), (0.2, 0.45), (0.55, 0.5), (0.85, 0.3),
                          (0.85, 0.3), (0.85, 0.65), (0.68, 0.95), (0.3, 1.0)]]),
        "flat_loop": (1.2, [[(0.85, 0.12), (0.5, 0.0), (0.15, 0.1), (0.2, 0.3), (0.5, 0.34), (0.85, 0.2),
                             (0.85, 0.2), (0.8, 1.0)]]),
        "closed": (1.2, [[(0.85, 0.0), (0.5, 0.02), (0.15, 0.2), (0.3, 0.45), (0.7, 0.4), (0.85, 0.0),
                          (0.85, 0.0), (0.85, 0.2), (0.6, 1.0)]]),
        "g_like": (0.8, [[(0.82, 0.2), (0.5, 0.0), (0.15, 0.2), (0.2, 0.45), (0.52, 0.5), (0.85, 0.3),
                          (0.85, 0.3), (0.82, 0.82), (0.55, 1.0), (0.25, 0.9)]]),
    },
}


def spline(points: Stroke) -> np.ndarray:
    """A Catmull-Rom curve ``(m, 2)`` through ``points`` (ends clamped)."""
    p = np.asarray(points, np.float64)
    if len(p) == 1:
        return p
    padded = np.vstack([p[:1], p, p[-1:]])
    t = np.linspace(0.0, 1.0, STEPS, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t3))
    out.append(p[-1:])
    return np.vstack(out)


def choose_form(digit: int, rng: np.random.Generator) -> str:
    """One form name of ``digit``, drawn by the forms' weights."""
    names = list(FORMS[digit])
    weights = np.array([FORMS[digit][n][0] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def shape(digit: int, form: str, rng: np.random.Generator, wobble: float) -> list[np.ndarray]:
    """The form's strokes as curves in the unit box, each control point moved by ~``wobble``."""
    strokes = FORMS[digit][form][1]
    out = []
    for stroke in strokes:
        p = np.asarray(stroke, np.float64)
        moved = p + rng.normal(0.0, wobble, p.shape)
        same = np.all(np.diff(p, axis=0) == 0, axis=1)  # a repeated point stays a corner
        moved[1:][same] = moved[:-1][same]
        out.append(spline([tuple(q) for q in moved]))
    return out


def _place(curves: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Slant, rotate and stretch the curves, then fit them into the canvas with a margin."""
    slant = rng.uniform(-0.45, 0.45)
    angle = np.deg2rad(rng.uniform(-10, 10))
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(1.3)))
    m = np.array([[aspect, -slant], [0.0, 1.0]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = rot @ m
    moved = [(c - 0.5) @ m.T for c in curves]
    allp = np.vstack(moved)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    scale = (CANVAS * rng.uniform(0.55, 0.75)) / max(float((hi - lo).max()), 1e-6)
    centre = CANVAS / 2 + rng.normal(0, CANVAS * 0.03, 2)
    return [(c - (lo + hi) / 2) * scale + centre for c in moved]


def draw_digit(digit: int, rng: np.random.Generator, form: str | None = None) -> np.ndarray:
    """A random pen-written ``digit`` as a grayscale uint8 scan (dark on light).

    ``form`` picks a letter form (see :data:`FORMS`); by default one is drawn
    by weight.  The pen width, ink and paper tone, blur, noise and the final
    size (24-96 px) vary with ``rng``.
    """
    form = form or choose_form(digit, rng)
    curves = _place(shape(digit, form, rng, rng.uniform(0.015, 0.05)), rng)
    width = max(1, int(round(CANVAS * np.exp(rng.uniform(np.log(0.035), np.log(0.14))))))
    img = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    r = width / 2
    for c in curves:
        pts = [tuple(p) for p in c]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    cover = np.asarray(img, np.float32) / 255.0
    side = int(rng.integers(24, 97))
    if side != CANVAS:
        cover = np.asarray(Image.fromarray(cover, mode="F").resize((side, side), Image.Resampling.BILINEAR))
    blur = rng.uniform(0.0, 1.0)
    if blur > 0.3:
        cover = ndimage.gaussian_filter(cover, blur * side / 48)
    paper = rng.uniform(190, 255)
    ink = rng.uniform(0, min(110, paper - 80))
    gray = paper - cover * (paper - ink) + rng.normal(0, rng.uniform(0, 10), cover.shape)
    return np.clip(gray, 0, 255).astype(np.uint8)
