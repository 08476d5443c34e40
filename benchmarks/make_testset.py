"""Write a reproducible cross-domain digit test set.

Usage::

    python benchmarks/make_testset.py OUTDIR [--per-kind N] [--seed S] [--jobs J]

For each source family ("stroke", "handwriting-font", "print-font") and each
distortion profile of :data:`synth.PROFILES`, ``N`` digit-balanced images
(digit = i % 10) are written as ``OUTDIR/<source>/<profile>/<digit>_<i>.<ext>``
in mixed formats, plus ``OUTDIR/labels.csv`` with columns
``path,label,source,profile`` (paths relative to OUTDIR, '/' separators).

Every image has its own seed derived from (seed, source, profile, i), so the
output does not depend on the number of worker processes.  A font source
with no usable installed font is skipped with a warning.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402

FORMATS = ("png", "jpg", "bmp", "tif", "webp", "gif")


class Job(NamedTuple):
    """One image to generate."""

    outdir: str
    source: str
    profile: str
    num: int
    seed: tuple[int, ...]


def run_job(job: Job) -> tuple[str, int, str, str]:
    """Generate and save one image; return its labels.csv row."""
    rng = np.random.default_rng(np.random.SeedSequence(job.seed))
    digit = job.num % 10
    ext = FORMATS[int(rng.integers(len(FORMATS)))]
    img = synth.make_scan(digit, rng, job.profile, source=job.source)
    rel = f"{job.source}/{job.profile}/{digit}_{job.num:03d}.{ext}"
    path = Path(job.outdir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    synth.save_image(img, path)
    return rel, digit, job.source, job.profile


def available_sources(sources: list[str]) -> list[str]:
    """Drop font sources that have no usable font on this machine."""
    keep = []
    for src in sources:
        if src != "stroke" and not synth.find_fonts(src.split("-")[0]):
            print(f"warning: no usable fonts for {src!r}; skipped", file=sys.stderr)
            continue
        keep.append(src)
    return keep


def make_jobs(outdir: str, sources: list[str], profiles: list[str], per_kind: int, seed: int) -> list[Job]:
    """All jobs, in the order of labels.csv."""
    return [
        Job(outdir, src, prof, i, (seed, synth.SOURCES.index(src), synth.PROFILE_NAMES.index(prof), i))
        for src in sources
        for prof in profiles
        for i in range(per_kind)
    ]


def run_all(jobs: list[Job], n_jobs: int) -> list[tuple[str, int, str, str]]:
    """Run jobs, in parallel when ``n_jobs`` > 1; results keep job order."""
    if n_jobs <= 1:
        return [run_job(j) for j in jobs]
    with ProcessPoolExecutor(n_jobs) as pool:
        return list(pool.map(run_job, jobs, chunksize=16))


def write_labels(outdir: Path, rows: list[tuple[str, int, str, str]]) -> None:
    """Write OUTDIR/labels.csv."""
    with open(outdir / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label", "source", "profile"])
        writer.writerows(rows)


def dir_size(path: Path) -> int:
    """Total size in bytes of files below ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path, help="output directory (created; files overwritten)")
    ap.add_argument("--per-kind", type=int, default=50,
                    help="images per (source, profile), digit-balanced (default 50 -> 3150 images)")
    ap.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    ap.add_argument("--sources", default=",".join(synth.SOURCES), help="comma-separated source families")
    ap.add_argument("--profiles", default=",".join(synth.PROFILE_NAMES), help="comma-separated profiles")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]
    unknown = [p for p in profiles if p not in synth.PROFILES]
    unknown += [s for s in args.sources.split(",") if s and s not in synth.SOURCES]
    if unknown:
        print(f"error: unknown source/profile: {', '.join(unknown)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    sources = available_sources([s for s in args.sources.split(",") if s])
    args.outdir.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(str(args.outdir), sources, profiles, args.per_kind, args.seed)
    rows = run_all(jobs, args.jobs)
    write_labels(args.outdir, rows)
    secs = time.perf_counter() - start
    mb = dir_size(args.outdir) / 1e6
    print(f"wrote {len(rows)} images ({len(sources)} sources x {len(profiles)} profiles x "
          f"{args.per_kind}) to {args.outdir} in {secs:.1f} s with {args.jobs} job(s), {mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
