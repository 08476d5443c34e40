"""CPU cost per grid of the workers' prediction (the numpy form's ``predict``): this checkout against an older one.

    python benchmarks/prediction.py [--old REV] [--grids FILE.npy] [--folder DIR ...] [--repeats R] [--count N]

The grids: ``--grids`` (a saved ``(n, 64)`` array), else the scans of each
``--folder`` converted once (``convert_chunk``, as a worker converts them;
saved to ``--grids`` when both are given), else 3000 small generated scans
(``throughput.py``'s small folder).  The model: the built-in one's numpy form,
read by this checkout and by REV's ``batchdigits`` (default ccaf90a, before
the float32 search of ``learn/nearest.py``), imported from ``git archive REV``.

First it checks, on every grid, in chunks of 64 and of 256, that the two give
the same digits and the same confidence *bits* (float64, ``np.array_equal``):
exit 1 if not.  Then, in this one process with one BLAS thread (as
``run.reading.predict_quietly`` predicts), interleaved so that outside load
hits both alike, the median of R runs (default 7) of N grids each (default
4096) per chunk size: CPU ms per grid (``time.process_time``), and the
load average before and after (a shared machine is noisy).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from benchinfo import code_state, old_package_root  # noqa: E402

OLD_REV = "ccaf90a"
CHUNKS = (64, 256)


def old_arrays_module(rev: str, into: Path):
    """``batchdigits.learn.arrays`` of git revision ``rev``, importable as ``batchdigits_old``."""
    old_package_root(rev, into)
    return importlib.import_module("batchdigits_old.learn.arrays")


def converted(folders: list[Path]) -> np.ndarray:
    """The grids ``(n, 64)`` uint8 of every scan under ``folders`` that has one, in name order."""
    from batchdigits.image.convert import Task, convert_chunk

    paths = sorted(str(p) for folder in folders for p in folder.rglob("*") if p.is_file())
    grids = [c.grid.reshape(64) for start in range(0, len(paths), 64)
             for c in convert_chunk([Task(p) for p in paths[start : start + 64]]) if c.grid is not None]
    return np.stack(grids)


def differences(old, new, grids: np.ndarray) -> int:
    """Chunks (of 64 and of 256) where ``old`` and ``new`` predict other digits or confidence bits."""
    bad = 0
    for chunk in CHUNKS:
        for start in range(0, len(grids), chunk):
            d0, c0 = old.predict(grids[start : start + chunk])
            d1, c1 = new.predict(grids[start : start + chunk])
            same = np.array_equal(d0, d1) and c0.dtype == c1.dtype and np.array_equal(c0, c1)
            bad += not same
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default=OLD_REV, help=f"git revision to compare with (default {OLD_REV})")
    ap.add_argument("--grids", type=Path, help="an (n, 64) .npy of grids (written from --folder if missing)")
    ap.add_argument("--folder", type=Path, nargs="*", default=[], help="scans to convert into the grids")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--count", type=int, default=4096, help="grids per timed run")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from batchdigits.learn.builtin import default_model_ref

    print(code_state(), "vs", args.old)
    with tempfile.TemporaryDirectory(prefix="bd-prediction-") as tmp:
        if args.grids is not None and args.grids.exists():
            grids = np.load(args.grids)
        elif args.folder:
            grids = converted(args.folder)
            if args.grids is not None:
                np.save(args.grids, grids)
        else:
            import conversion

            grids = converted([conversion.write_scans(Path(tmp) / "scans", 3000)[0].parent])
        ref = default_model_ref()
        new = ref.load() if hasattr(ref, "load") else None
        if new is None:
            print("the built-in model has no numpy form here")
            return 2
        old = old_arrays_module(args.old, Path(tmp) / "old").ArrayModel(new.arrays)
        count = min(args.count, len(grids))
        with threadpool_limits(1):
            bad = differences(old, new, grids)
            print(f"{len(grids)} grids, chunks of {' and '.join(map(str, CHUNKS))}: "
                  + ("digits and confidence bits identical" if not bad else f"{bad} chunks DIFFER"))
            print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
            for chunk in CHUNKS:
                times: dict[str, list[float]] = {"old": [], "new": []}
                old.predict(grids[:chunk]), new.predict(grids[:chunk])  # prepared once per model
                for run in range(args.repeats):
                    first = (run * count) % max(1, len(grids) - count + 1)
                    pair = [("old", old), ("new", new)]
                    for name, model in pair if run % 2 == 0 else pair[::-1]:
                        t0 = time.process_time()
                        for start in range(first, first + count, chunk):
                            model.predict(grids[start : min(start + chunk, first + count)])
                        times[name].append((time.process_time() - t0) * 1000.0 / count)
                o, n = statistics.median(times["old"]), statistics.median(times["new"])
                print(f"chunks of {chunk}: old {o:.4f} ms/grid, new {n:.4f} ms/grid, {o / n:.2f}x "
                      f"(runs: old {min(times['old']):.4f}-{max(times['old']):.4f}, "
                      f"new {min(times['new']):.4f}-{max(times['new']):.4f})")
            print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
