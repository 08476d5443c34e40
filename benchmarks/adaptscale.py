"""Time and memory of ``classify --adapt``'s adaptation on a large folder, without the files.

    nice -n 15 .venv/bin/python benchmarks/adaptscale.py [--grids 1000000] [--predict 100000]

Makes ``--grids`` uint8 grids as pass 1 keeps them (64 bytes each) by
repeating 2000 generated pen-stroke grids (distorted, seed 4242) with
per-row noise, then runs what ``batchdigits.run.adaptrun`` runs between and
after the passes: ``adapt_model`` (a MAX_FIT subsample plus the model's
training grids) and ``DigitModel.predict`` in batches of 512 over the first
``--predict`` grids.  Prints the wall time of each step and the process's
peak RSS (``ru_maxrss``) after each.  The spool of pass 1 (each batch's
paths, stamps and answers) is an anonymous file on disk, not memory: its
size per file is measured by pickling a real batch of 64 converted PNGs.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from batchdigits.learn.adapt import MAX_FIT, adapt_model  # noqa: E402
from batchdigits.learn.augment import stroke_grids  # noqa: E402
from batchdigits.learn.builtin import get_default_model  # noqa: E402
from batchdigits.image.render import grid_to_image  # noqa: E402

BATCH = 512


def peak_mb() -> str:
    """The process's peak RSS so far and its RSS now (``/proc/self/status``), as text."""
    now = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:"))
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (now {int(now) / 1024:.0f})"


def large_folder(n: int) -> np.ndarray:
    """``n`` grids (uint8, 0..16): 2000 generated grids repeated, each copy with its own noise."""
    base, _, _ = stroke_grids(200, seed=4242, distorted=True)
    base = base.astype(np.uint8)
    out = np.empty((n, 64), np.uint8)
    rng = np.random.default_rng(0)
    for start in range(0, n, 65536):  # in chunks: no float copy of the whole folder
        rows = np.arange(start, min(n, start + 65536))
        noise = rng.integers(-1, 2, size=(len(rows), 64))
        out[rows] = np.clip(base[rows % len(base)].astype(np.int16) + noise, 0, 16)
    return out


def spool_bytes_per_file() -> float:
    """Pickled size of one pass-1 batch of 64 converted PNG files, per file."""
    from batchdigits.run.pipeline import Settings, iter_converted
    from batchdigits.io.files import walk

    grids, _, _ = stroke_grids(7, seed=4243)
    with tempfile.TemporaryDirectory() as tmp:
        for i, g in enumerate(grids[:64]):
            Image.fromarray(grid_to_image(g.reshape(8, 8), 40)).save(Path(tmp) / f"scan_{i:05d}.png")
        batches = list(iter_converted(walk(tmp), Settings(jobs=1)))
        rows = sum(len(b) for b in batches)
        return sum(len(pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)) for b in batches) / rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grids", type=int, default=1_000_000)
    ap.add_argument("--predict", type=int, default=100_000)
    args = ap.parse_args(argv)
    model = get_default_model()
    print(f"model loaded: peak RSS {peak_mb()}")
    t = time.perf_counter()
    grids = large_folder(args.grids)
    print(f"{len(grids)} grids, {grids.nbytes / 2**20:.0f} MiB as uint8, made in {time.perf_counter() - t:.1f}s: "
          f"peak RSS {peak_mb()}")
    t = time.perf_counter()
    adapted = adapt_model(model, grids, seed=0)
    info = adapted.metadata["adaptation"]
    print(f"adapt_model: {info['fitted']} of {info['grids']} grids fitted (MAX_FIT {MAX_FIT}) + "
          f"{adapted.metadata['n_train'] - info['fitted']} training grids, {info['changed']} changed, "
          f"{time.perf_counter() - t:.1f}s: peak RSS {peak_mb()}")
    n = min(args.predict, len(grids))
    t = time.perf_counter()
    for start in range(0, n, BATCH):
        adapted.predict(grids[start:start + BATCH])
    took = time.perf_counter() - t
    print(f"predict {n} grids in batches of {BATCH}: {took:.1f}s ({n / took:.0f} grids/s; "
          f"{len(grids) / (n / took) / 60:.1f} min for all {len(grids)}): peak RSS {peak_mb()}")
    per_file = spool_bytes_per_file()
    print(f"pass-1 spool (disk): {per_file:.0f} bytes per file, {per_file * len(grids) / 2**20:.0f} MiB for "
          f"{len(grids)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
