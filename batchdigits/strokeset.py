"""The generated pen-stroke training grids shipped with the package.

``batchdigits/data/strokes.npz`` holds :func:`batchdigits.augment.stroke_grids`
for ``PER_DIGIT`` drawings of each digit with seed ``SEED``: the grids
(uint8, digit by digit in sample order), their labels and letter forms.
Generating them takes ~10 s on 2 cores, loading them 5 ms, so the built-in
model is trained from the file.  Regenerate it (deterministic)
after changing :mod:`batchdigits.glyphs` or the grid conversion::

    python -m batchdigits.strokeset            # writes batchdigits/data/strokes.npz

>>> grids, labels, forms = load_strokes()     # doctest: +SKIP
>>> grids.shape[1]                            # doctest: +SKIP
64
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .grid import GRID_VERSION

PER_DIGIT = 500
SEED = 0
PATH = Path(__file__).resolve().parent / "data" / "strokes.npz"


def generate(per_digit: int = PER_DIGIT, jobs: int = -1) -> dict[str, np.ndarray]:
    """The arrays of the data file, computed now (``stroke_grids`` for each sample)."""
    from .augment import stroke_grids

    grids, labels, forms = stroke_grids(per_digit, SEED, jobs=jobs)
    return {
        "grids": grids.astype(np.uint8),
        "labels": labels.astype(np.uint8),
        "forms": forms.astype(np.uint8),
        "meta": np.array([per_digit, SEED, GRID_VERSION], np.int64),
    }


def load_strokes(path: Path = PATH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grids ``(n, 64)`` float64, labels and form numbers from the data file.

    A file made for another grid conversion (or missing) is regenerated in
    memory, so the model always learns what this conversion makes of strokes.
    """
    try:
        with np.load(path) as data:
            meta = data["meta"]
            if int(meta[2]) == GRID_VERSION:
                return (data["grids"].astype(np.float64), data["labels"].astype(np.int64),
                        data["forms"].astype(np.int64))
    except (OSError, KeyError, ValueError):
        pass
    arrays = generate()
    return (arrays["grids"].astype(np.float64), arrays["labels"].astype(np.int64),
            arrays["forms"].astype(np.int64))


def main(argv: list[str] | None = None) -> int:
    """Write the data file (optionally to another path given as the only argument)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = generate()
    np.savez_compressed(target, grids=arrays["grids"], labels=arrays["labels"], forms=arrays["forms"],
                        meta=arrays["meta"])
    print(f"{target}: {len(arrays['labels'])} grids ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
