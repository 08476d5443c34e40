"""The generated pen-stroke training grids shipped with the package.

``batchdigits/learn/data/strokes.npz`` (with the ``GRID_VERSION`` and the OpenCV
version it was made with: another OpenCV resamples a little differently) holds two sets of
:func:`batchdigits.learn.augment.stroke_grids`, ``PER_DIGIT`` drawings of each
digit each (grids as uint8, digit by digit in sample order, their labels
and letter forms):

- the training set, seed ``SEED``;
- the calibration set, seed ``CALIBRATION_SEED`` (other drawings), each
  drawing further distorted: writing the model has not seen, on which
  ``train.calibrate`` fits the map from the models' agreement to the
  probability of being right.

Generating them takes ~25 s on 2 cores, loading them 5 ms, so the built-in
model is made from the file.  Regenerate it (deterministic)
after changing :mod:`batchdigits.learn.glyphs` or the grid conversion::

    python -m batchdigits.learn.strokeset            # writes batchdigits/learn/data/strokes.npz

>>> grids, labels, forms = load_strokes()     # doctest: +SKIP
>>> grids.shape[1]                            # doctest: +SKIP
64
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..image.grid import GRID_VERSION

PER_DIGIT = 500
SEED = 0
CALIBRATION_SEED = 1
PATH = Path(__file__).resolve().parent / "data" / "strokes.npz"


Strokes = tuple[np.ndarray, np.ndarray, np.ndarray]  # grids (n, 64) float64, labels, form numbers


def generate(per_digit: int = PER_DIGIT, jobs: int = -1) -> dict[str, np.ndarray]:
    """The arrays of the data file, computed now."""
    from .augment import stroke_grids

    import cv2

    arrays = {"meta": np.array([per_digit, SEED, GRID_VERSION, CALIBRATION_SEED], np.int64),
              "opencv": np.array(cv2.__version__)}  # other OpenCV versions resample a little differently
    for prefix, seed, distorted in (("", SEED, False), ("cal_", CALIBRATION_SEED, True)):
        grids, labels, forms = stroke_grids(per_digit, seed, jobs=jobs, distorted=distorted)
        arrays[prefix + "grids"] = grids.astype(np.uint8)
        arrays[prefix + "labels"] = labels.astype(np.uint8)
        arrays[prefix + "forms"] = forms.astype(np.uint8)
    return arrays


_CACHE: dict[str, dict[str, np.ndarray]] = {}


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """The data file's arrays, or freshly generated ones when it is missing or made for
    another grid conversion (the model must learn what THIS conversion makes of strokes)."""
    key = str(path)
    if key not in _CACHE:
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in data.files}
            if int(arrays["meta"][2]) != GRID_VERSION or "cal_grids" not in arrays:
                arrays = generate()
        except (OSError, KeyError, ValueError):
            arrays = generate()
        _CACHE[key] = arrays
    return _CACHE[key]


def _set(arrays: dict[str, np.ndarray], prefix: str) -> Strokes:
    return (arrays[prefix + "grids"].astype(np.float64), arrays[prefix + "labels"].astype(np.int64),
            arrays[prefix + "forms"].astype(np.int64))


def load_strokes(path: Path = PATH) -> Strokes:
    """The training strokes: grids ``(n, 64)`` float64, labels and form numbers."""
    return _set(_arrays(path), "")


def calibration_set(path: Path = PATH) -> Strokes:
    """The distorted, never-trained-on strokes for calibrating a model's confidence."""
    return _set(_arrays(path), "cal_")


def main(argv: list[str] | None = None) -> int:
    """Write the data file (optionally to another path given as the only argument)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = generate()
    np.savez_compressed(target, **arrays)  # type: ignore[arg-type]
    print(f"{target}: {len(arrays['labels'])} + {len(arrays['cal_labels'])} grids ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
