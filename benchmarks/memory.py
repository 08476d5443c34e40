"""Peak memory of ``batchdigits classify`` on 10k and 200k files, and walk latency.

    python benchmarks/memory.py [--small N] [--large M] [--keep DIR]
    python benchmarks/memory.py --bombs      # resource bombs: peak < 1 GB whatever the inputs

Generates two folders of tiny 28x28 PNG digits (N = 10 000 and M = 200 000
files by default, 1000 files per subfolder; the same few encoded byte strings
are written to many paths, so 200k files take seconds), then for each runs

    batchdigits classify FOLDER --out CSV --jobs 0 --quiet

as a subprocess of the console script and polls ``/proc`` every 50 ms, summing
the resident set size (VmRSS) of the main process and all its descendants
(the loky workers).  Cross-checks: the kernel's per-process high-water marks
(VmHWM), proportional set size (PSS, shared pages split between processes),
and ``ru_maxrss`` from ``wait4``/``getrusage(RUSAGE_CHILDREN)`` (the largest
single process of the tree, not a sum).

Targets: the run's peak memory < 300 MB on both folders, as the memory of the
whole process tree (PSS: a page shared by several processes, such as the
numpy and scipy libraries every worker maps, is split among them instead of
being counted in full by each) and as the peak RSS of its largest process
(``ru_maxrss``, what ``/usr/bin/time -v`` reports); growth from the small to
the large folder < 20 %; ``batchdigits.io.files.walk`` yields its first entry on
the large folder within 2 s (also shown, not a target: a flat folder holding
the same files as hard links).  The plain sum of the processes' RSS is printed
for reference: it counts each shared page once per process.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth
from benchinfo import code_state, process_tree, verdict  # noqa: E402

PER_DIR = 1000
N_VARIANTS = 30
POLL = 0.05
TARGET_PEAK_MB = 300.0
TARGET_GROWTH = 0.20
TARGET_FIRST_S = 2.0
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------


def encoded_digits(n: int, seed: int = 0) -> list[tuple[int, bytes]]:
    """A few distinct 28x28 PNG digits, encoded once."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        d = i % 10
        img = synth.make_scan(d, rng, "clean", source="stroke", size=28)
        canvas = Image.new("L", (28, 28), 255)
        canvas.paste(img, ((28 - img.width) // 2, (28 - img.height) // 2))
        buf = io.BytesIO()
        canvas.save(buf, "PNG")
        out.append((d, buf.getvalue()))
    return out


def write_folder(root: Path, n: int, variants: list[tuple[int, bytes]]) -> float:
    """Write ``n`` files in subfolders of PER_DIR; return seconds taken."""
    t0 = time.perf_counter()
    root.mkdir(parents=True)
    sub = root
    for i in range(n):
        if i % PER_DIR == 0:
            sub = root / f"d{i // PER_DIR:04d}"
            sub.mkdir()
        d, data = variants[i % len(variants)]
        fd = os.open(sub / f"{i:07d}_{d}.png", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return time.perf_counter() - t0


def flat_links(src: Path, dst: Path) -> float:
    """Hard-link every file of ``src`` into the single folder ``dst``."""
    t0 = time.perf_counter()
    dst.mkdir()
    for sub in sorted(src.iterdir()):
        for f in os.scandir(sub):
            os.link(f.path, dst / f.name)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------
# Process-tree memory
# ---------------------------------------------------------------------------


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Sampled:
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    peak_procs: int = 0
    hwm_kb: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    seconds: float = 0.0
    returncode: int = 0
    ru_maxrss_kb: int = 0
    cpu_s: float = 0.0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "LokyProcess" in cmd:
        return "loky worker"
    if "loky.backend.resource_tracker" in cmd:
        return "loky resource tracker"
    if "multiprocessing.resource_tracker" in cmd:
        return "mp resource tracker"
    return cmd.split(" ")[0].rsplit("/", 1)[-1] or "?"


def run_measured(cmd: list[str]) -> Sampled:
    """Run ``cmd``, polling the memory of its process tree until it exits."""
    res = Sampled()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        pids = process_tree(proc.pid)
        rss = pss = 0
        for p in pids:
            st = _status_kb(p)
            rss += st.get("VmRSS", 0)
            if "VmHWM" in st:
                res.hwm_kb[p] = max(res.hwm_kb.get(p, 0), st["VmHWM"])
                if res.names.get(p, "?") in ("?", "python", "python3", "batchdigits"):
                    res.names[p] = _name(p)  # a fresh fork shows its parent's command at first
            pss += _pss_kb(p)
        res.peak_rss_kb = max(res.peak_rss_kb, rss)
        res.peak_pss_kb = max(res.peak_pss_kb, pss)
        res.peak_procs = max(res.peak_procs, len(pids))
        res.samples += 1
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(POLL)
    res.seconds = time.perf_counter() - t0
    res.returncode = os.waitstatus_to_exitcode(status)
    proc.returncode = res.returncode
    res.ru_maxrss_kb = usage.ru_maxrss
    res.cpu_s = usage.ru_utime + usage.ru_stime
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if res.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {err}")
    res.main_pid = proc.pid  # type: ignore[attr-defined]
    return res


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def mb(kb: float) -> float:
    return kb / 1024.0


def first_entry_seconds(folder: Path) -> tuple[float, str]:
    from batchdigits.io.files import walk

    t0 = time.perf_counter()
    it = walk(str(folder))
    first = next(it)
    sec = time.perf_counter() - t0
    it.close()
    return sec, first.rel


def full_walk_seconds(folder: Path) -> tuple[float, int]:
    from batchdigits.io.files import walk

    t0 = time.perf_counter()
    n = sum(1 for _ in walk(str(folder)))
    return time.perf_counter() - t0, n


TARGET_BOMBS_MB = 1024.0


def write_bombs(folder: Path, copies: int) -> list[str]:
    """Files of a few KB that decode (or claim to decode) to huge images, ``copies`` of each
    kind, among 200 ordinary digits: a PGM header claiming 9000x9000 (118 bytes), PNG
    and WebP of 5001x5001 (just over the 25 MP cap), and -- under the cap -- a PNG
    4999x4999 RGBA, a 1 x 16 million TIFF and a 4000x6000 RGB PNG."""
    folder.mkdir(parents=True)
    made = {
        "header.pgm": b"P5\n9000 9000\n255\n".ljust(118, b"\0"),
    }
    for name, img, kwargs in (
        ("over.png", Image.new("L", (5001, 5001), 255), {"optimize": True}),
        ("over.webp", Image.new("L", (5001, 5001), 255), {"lossless": True}),
        ("rgba.png", Image.new("RGBA", (4999, 4999), (255, 255, 255, 0)), {"optimize": True}),
        ("strip.tif", Image.new("L", (1, 16_000_000), 255), {"compression": "tiff_deflate"}),
        ("rgb.png", Image.new("RGB", (4000, 6000), (255, 255, 255)), {"optimize": True}),
    ):
        buf = io.BytesIO()
        img.save(buf, format=name.rsplit(".", 1)[1].replace("tif", "tiff").upper(), **kwargs)
        made[name] = buf.getvalue()
    for i in range(copies):
        for name, data in made.items():
            (folder / f"{i:02d}-{name}").write_bytes(data)
    for i, (_, data) in enumerate(encoded_digits(200)):
        (folder / f"digit{i:03d}.png").write_bytes(data)
    return [f"{name} {len(data)} B" for name, data in made.items()]


def bombs(root: Path, exe: Path, copies: int) -> int:
    """Measure the run's peak on the bombs folder (see :func:`write_bombs`)."""
    folder = root / "bombs"
    kinds = write_bombs(folder, copies)
    print(f"data: {copies} each of {', '.join(kinds)}; 200 digits; in {folder}", flush=True)
    out = root / "bombs.csv"
    cmd = [str(exe), "classify", str(folder), "--out", str(out), "--jobs", "0", "--quiet"]
    print(f"run: {' '.join(cmd)}", flush=True)
    res = run_measured(cmd)
    import csv
    from collections import Counter

    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    errors = Counter(r["error"] for r in rows if r["status"] == "error")
    print(f"  exit {res.returncode}, {len(rows)} rows, {res.seconds:.1f} s; error rows:")
    for reason, n in sorted(errors.items()):
        print(f"    {n} x {reason}")
    print(f"  peak tree RSS (sum of VmRSS, up to {res.peak_procs} processes): {mb(res.peak_rss_kb):.1f} MB; "
          f"PSS {mb(res.peak_pss_kb):.1f} MB; largest process (ru_maxrss) {mb(res.ru_maxrss_kb):.1f} MB")
    hwm = sorted(((v, res.names.get(p, "?")) for p, v in res.hwm_kb.items()), reverse=True)
    print(f"  VmHWM per process (sampled): {', '.join(f'{n} {mb(v):.0f}' for v, n in hwm)} MB")
    ok = res.peak_rss_kb / 1024 < TARGET_BOMBS_MB and res.ru_maxrss_kb / 1024 < TARGET_BOMBS_MB
    print(f"target: peak tree RSS and largest process < {TARGET_BOMBS_MB:.0f} MB: {verdict(ok)}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=10_000, help="files in the small folder")
    ap.add_argument("--large", type=int, default=200_000, help="files in the large folder")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep the files")
    ap.add_argument("--no-flat", action="store_true", help="skip the flat-folder walk check")
    ap.add_argument("--bombs", type=int, nargs="?", const=4, metavar="COPIES",
                    help="only the resource-bomb folder (COPIES of each kind, default 4)")
    args = ap.parse_args(argv)

    import PIL

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    print(f"machine: {os.cpu_count()} cores ({usable} usable), Python {platform.python_version()}, "
          f"Pillow {PIL.__version__}, numpy {np.__version__}; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    from batchdigits.learn.builtin import get_default_model

    print(code_state())

    print(f"model: {get_default_model().source} (built/cached before measuring)", flush=True)

    if args.keep:
        root = Path(args.keep).resolve()
        if root.exists() and any(root.iterdir()):
            ap.error(f"{root} exists and is not empty")
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bd-memory-"))
    exe = Path(sys.executable).with_name("batchdigits")
    if args.bombs:
        try:
            return bombs(root, exe, args.bombs)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    try:
        variants = encoded_digits(N_VARIANTS)
        sizes = {"small": args.small, "large": args.large}
        folders = {}
        for key, n in sizes.items():
            folders[key] = root / f"{key}-{n}"
            sec = write_folder(folders[key], n, variants)
            print(f"data: {n} x 28x28 PNG ({len(variants)} distinct, "
                  f"{np.mean([len(v[1]) for v in variants]):.0f} B each) in {folders[key]} "
                  f"({PER_DIR} per subfolder), written in {sec:.1f} s", flush=True)

        results: dict[str, Sampled] = {}
        for key, folder in folders.items():
            out = root / f"out-{key}.csv"
            cmd = [str(exe), "classify", str(folder), "--out", str(out), "--jobs", "0", "--quiet"]
            print(f"run: {' '.join(cmd)}", flush=True)
            res = run_measured(cmd)
            results[key] = res
            with open(out, encoding="utf-8") as fh:
                rows = sum(1 for _ in fh) - 1
            main_hwm = res.hwm_kb.get(res.main_pid, 0)  # type: ignore[attr-defined]
            workers = sorted(
                ((v, res.names.get(p, "?")) for p, v in res.hwm_kb.items() if p != res.main_pid),  # type: ignore[attr-defined]
                reverse=True,
            )
            print(f"  {sizes[key]} files -> {rows} rows, exit {res.returncode}, "
                  f"{res.seconds:.1f} s wall ({sizes[key] / res.seconds:.0f} files/s), "
                  f"{res.cpu_s:.1f} s CPU (process + reaped workers)")
            print(f"  peak tree RSS (sum of VmRSS, {res.samples} samples every {POLL * 1000:.0f} ms, "
                  f"up to {res.peak_procs} processes): {mb(res.peak_rss_kb):.1f} MB")
            print(f"  peak tree PSS (shared pages split): {mb(res.peak_pss_kb):.1f} MB")
            print(f"  VmHWM: main process {mb(main_hwm):.1f} MB; other processes "
                  f"{', '.join(f'{n} {mb(v):.1f}' for v, n in workers) or '-'} MB; "
                  f"sum {mb(sum(res.hwm_kb.values())):.1f} MB (upper bound)")
            print(f"  ru_maxrss from wait4 (largest single process of this run): "
                  f"{mb(res.ru_maxrss_kb):.1f} MB", flush=True)
            out.unlink(missing_ok=True)
        cum = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"getrusage(RUSAGE_CHILDREN).ru_maxrss (largest single process of all runs): "
              f"{mb(cum):.1f} MB")

        first_s, first_rel = first_entry_seconds(folders["large"])
        walk_s, walk_n = full_walk_seconds(folders["large"])
        print(f"walk: first entry of {folders['large'].name} after {first_s * 1000:.1f} ms "
              f"({first_rel}); full walk {walk_n} entries in {walk_s:.2f} s")
        flat_first = None
        if not args.no_flat:
            flat = root / "flat"
            sec = flat_links(folders["large"], flat)
            flat_first, flat_rel = first_entry_seconds(flat)
            print(f"walk (info): flat folder of {args.large} hard links (made in {sec:.1f} s): "
                  f"first entry after {flat_first * 1000:.1f} ms ({flat_rel})")

        small, large = results["small"], results["large"]
        growth = (large.peak_rss_kb - small.peak_rss_kb) / small.peak_rss_kb
        growth_pss = (large.peak_pss_kb - small.peak_pss_kb) / max(small.peak_pss_kb, 1)
        checks = [
            (f"peak tree PSS, {args.small} files", f"{mb(small.peak_pss_kb):.1f} MB",
             f"< {TARGET_PEAK_MB:.0f} MB", mb(small.peak_pss_kb) < TARGET_PEAK_MB),
            (f"peak tree PSS, {args.large} files", f"{mb(large.peak_pss_kb):.1f} MB",
             f"< {TARGET_PEAK_MB:.0f} MB", mb(large.peak_pss_kb) < TARGET_PEAK_MB),
            (f"peak RSS (ru_maxrss), {args.large} files", f"{mb(large.ru_maxrss_kb):.1f} MB",
             f"< {TARGET_PEAK_MB:.0f} MB", mb(large.ru_maxrss_kb) < TARGET_PEAK_MB),
            (f"growth of peak tree PSS {args.small} -> {args.large}", f"{growth_pss * 100:+.1f} %",
             f"< {TARGET_GROWTH * 100:.0f} %", growth_pss < TARGET_GROWTH),
            (f"growth of peak tree RSS {args.small} -> {args.large}", f"{growth * 100:+.1f} %",
             f"< {TARGET_GROWTH * 100:.0f} %", growth < TARGET_GROWTH),
            (f"walk yields first entry ({args.large} files)", f"{first_s * 1000:.1f} ms",
             f"< {TARGET_FIRST_S:.0f} s", first_s < TARGET_FIRST_S),
        ]
        print()
        print("Targets")
        for name, value, target, ok in checks:
            print(f"  [{verdict(ok)}] {name:44s} {value:>10s}  (target {target})")
        print(f"  reference (not a target): peak tree RSS summed over the processes "
              f"{mb(small.peak_rss_kb):.1f} / {mb(large.peak_rss_kb):.1f} MB; this counts every "
              "shared page (libpython, numpy, scipy, OpenBLAS) once per process, so it "
              "overstates what the run uses: PSS splits each shared page among its users"
              + (f"; flat-folder first entry {flat_first * 1000:.1f} ms" if flat_first else ""))
        misses = sum(not c[3] for c in checks)
        print()
        print(f"{misses} of {len(checks)} checks missed" if misses else f"all {len(checks)} checks passed")
    finally:
        if args.keep:
            print(f"kept the generated files in {root}")
        else:
            t0 = time.perf_counter()
            shutil.rmtree(root, ignore_errors=True)
            print(f"cleaned up {root} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
