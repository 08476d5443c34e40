"""CPU cost per image of the grid conversion and the decode reduction: this checkout against an older one, in one run.

    python benchmarks/conversion.py [--files N] [--repeats R] [--old REV] [--folder DIR]

Writes N small single-digit scans (default 3000; 40-220 px, PNG/JPEG/BMP/TIFF,
gray and RGB, as ``throughput.py``'s small folder) unless ``--folder`` names
existing files, then measures in this one process (one core, OpenCV pinned
to one thread), interleaved so that outside load hits both alike, the median
of R runs (default 5) of:

* decode: ``decode_file`` (open, EXIF, reduce to 64 px) of every file;
* conversion: the grayscale images to grids.  Old: the stacked numpy/Pillow
  conversion (``gridstack.images_to_grids``, chunks of 64) of REV (default
  ef3df18, the last commit before OpenCV), imported from ``git archive REV``;
  new: ``image_to_grid`` per image;
* the new conversion's steps, each alone on its own inputs.

It prints the ratios old / new and checks the target of issue 20: the
conversion costs at most 0.08 ms CPU per image.  CPU time of this process
(``time.process_time``), so other processes slow it only through the shared
cores and caches; the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from benchinfo import REPO, code_state, verdict  # noqa: E402

TARGET_MS = 0.08
OLD_REV = "ef3df18"
CHUNK = 64


def old_package(rev: str, into: Path):
    """The ``batchdigits`` package of git revision ``rev``, importable as ``batchdigits_old``."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "batchdigits"], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "batchdigits").rename(into / "batchdigits_old")
    sys.path.insert(0, str(into))
    return importlib.import_module("batchdigits_old.image.gridstack"), importlib.import_module(
        "batchdigits_old.image.convert")


def write_scans(folder: Path, n: int) -> list[Path]:
    import throughput

    rng = np.random.default_rng(0)
    throughput.generate_small(folder, n, throughput._bases(rng, throughput.N_SMALL_BASES), rng)
    return sorted(folder.iterdir())


def cpu_ms(fn: Callable[[], object], count: int) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1000.0 / count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--old", default=OLD_REV, help="git revision of the conversion to compare with")
    ap.add_argument("--folder", type=Path, help="existing image files to measure on")
    args = ap.parse_args(argv)

    import cv2

    from batchdigits.image import grid
    from batchdigits.image.convert import decode_file
    from batchdigits.image.rules import remove_margins, remove_rules

    grid.pin_threads()
    print(code_state())
    print(f"compared with: git {args.old} (stacked numpy/Pillow conversion)")
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores; load average at start: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="bd-conversion-") as tmp:
        old_stack, old_convert = old_package(args.old, Path(tmp) / "old")
        if args.folder:
            paths = sorted(p for p in args.folder.iterdir() if p.is_file())
        else:
            t0 = time.perf_counter()
            paths = write_scans(Path(tmp) / "small", args.files)
            print(f"data: {len(paths)} small scans written in {time.perf_counter() - t0:.1f} s")
        files = [str(p) for p in paths]
        new_grays = [g for g in (decode_file(f)[0] for f in files) if g is not None]
        old_grays = [g for g in (old_convert.decode_file(f)[0] for f in files) if g is not None]
        n = len(new_grays)

        # the new conversion's steps, each on the previous step's outputs (computed untimed)
        inks = [i for i in (grid.ink_strength(grid.shrink_to_input(g)) for g in new_grays) if i is not None]
        masks = [grid.otsu_mask(i) for i in inks]
        lined = [remove_rules(m.view(bool)) for m in masks]
        cleans = [grid.clean_mask(i) for i in inks]
        strokes = [cv2.multiply(i, m) for i, m in zip(inks, cleans, strict=True) if m is not None]
        uprights = [grid.upright_in_box(s) for s in strokes]
        thick = [grid.thicken(u) for u in uprights]

        rows: list[tuple[str, Callable[[], object]]] = [
            ("decode, old (Pillow reduction)", lambda: [old_convert.decode_file(f) for f in files]),
            ("decode, new", lambda: [decode_file(f) for f in files]),
            ("conversion, old (stacked, chunks of 64)",
             lambda: [old_stack.images_to_grids(old_grays[i : i + CHUNK]) for i in range(0, n, CHUNK)]),
            ("conversion, new (image_to_grid per image)", lambda: [grid.image_to_grid(g) for g in new_grays]),
            ("  1. ink strength", lambda: [grid.ink_strength(grid.shrink_to_input(g)) for g in new_grays]),
            ("  2. Otsu threshold", lambda: [grid.otsu_mask(i) for i in inks]),
            ("  2. ruled lines and boxes", lambda: [remove_rules(m.view(bool)) for m in masks]),
            ("  2. scanner margins", lambda: [remove_margins(m) for m in lined]),
            ("  2. all of clean_mask", lambda: [grid.clean_mask(i) for i in inks]),
            ("  3. upright in the box", lambda: [grid.upright_in_box(s) for s in strokes]),
            ("  4. stroke thickness", lambda: [grid.thicken(u) for u in uprights]),
            ("  5. block counts", lambda: [grid.block_counts(t) for t in thick]),
        ]
        runs: dict[str, list[float]] = {name: [] for name, _ in rows}
        for _ in range(args.repeats):
            for name, fn in rows:  # interleaved: load spikes hit every row alike
                runs[name].append(cpu_ms(fn, len(files) if name.startswith("decode") else n))
    med = {name: statistics.median(v) for name, v in runs.items()}
    print(f"\nCPU ms per image, median of {args.repeats} runs, one process ({n} images; "
          "the steps per image converted, each on its own inputs)")
    for name, _ in rows:
        print(f"  {name:44s} {med[name]:8.4f} ms   (runs {min(runs[name]):.4f}-{max(runs[name]):.4f})")
    old, new = med["conversion, old (stacked, chunks of 64)"], med["conversion, new (image_to_grid per image)"]
    print(f"\n  conversion: old / new = {old / new:.2f}x   decode: old / new = "
          f"{med['decode, old (Pillow reduction)'] / med['decode, new']:.2f}x")
    print("  load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    ok = new <= TARGET_MS
    print(f"  [{verdict(ok)}] conversion CPU per image {new:.4f} ms (target <= {TARGET_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
