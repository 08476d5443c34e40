"""Throughput of ``batchdigits classify`` against the Pillow decode floor.

    python benchmarks/throughput.py [--quick] [--files N] [--small K] [--large M] [--repeats R]
                                    [--startup-files S] [--startup-repeats T] [--keep DIR]
                                    [--client-cpu-only]

``--quick``: small folders and one run each (N 200, K 2000, M 10, R 1, S 500,
T 1), a smoke test whose figures mean little; the defaults are issue 20's
sizes (N 2000, K 20000, M 150, R 3, S 5000, T 5).  ``--client-cpu-only``: only
the small folder and only issue 20's first two figures (the CLI main process's
and the dask client's CPU per image, below), R runs each.

Generates three folders of scan-like digit files in a temporary directory:

* ``mix``: N files (default 2000) like a real scan folder: PNG and JPEG,
  grayscale and RGB, 30-300 px, plus 10 % large 1000-2500 px JPEG scans;
* ``small``: K files (default 20000) like real single-digit scans, the most
  common input: PNG, JPEG, BMP and TIFF, grayscale and RGB, 40-220 px;
* ``large``: M files (default 150), all large (1000-2500 px) JPEG scans.

A few dozen distinct digits are drawn with ``synth.make_scan`` and then
resized and re-encoded to make the rest, so generation takes seconds.

For each folder it prints the median (of R runs, default 3) images/s of:

(a) the floor: opening and fully decoding every file to grayscale with
    Pillow (``Image.open(p).convert("L")``, the floor issue 12 defines: what
    any reader of these files as gray images does), in 1 process and in all
    cores (batchdigits' own loky pool, ``map_ordered``: the same chunks of
    paths and dispatch as classify);
(b) ``batchdigits classify --jobs 1`` and ``--jobs 0``, in-process through the
    library (warm: model loaded, worker pool already started) and through
    the console script in a fresh process each run (cold: includes interpreter
    start-up, imports, loading the model and starting workers);
(c) a seed-style loop: per file open, ``convert("L")``, resize to 8x8,
    scale to 0..16, one ``predict`` call per file, in one process;

then the cost per image of each stage in one process (decoding with
``load_image``, the grid conversion (``images_to_grids`` in the workers' chunks), the
batched prediction, and what the main process spends per
image in the all-cores run besides predicting: walk, stat, IPC, CSV), and
the bound those costs set: decoding, the conversion's one resampling call
per image and prediction's matrix products (SVC kernel, k-NN distances)
alone, as a share of the floor; and
checks the targets on the warm runs: classify >= 60 % of the floor's
images/s at equal cores, all cores >= 1.8x one job, all cores >= 3x the seed
loop on the mix and >= 10x on the large JPEGs (issue 12).  The cold CLI runs
are shown with the number of files from which their one-off start-up is
amortised.

Then issue 20's targets, every one with its figure and PASS/MISS:

* the CPU the CLI's main process (``--jobs 0``) spends per small scan, read
  from ``/proc`` for that process alone, as the slope between a run on a
  tenth of the small folder and one on all of it (start-up, model load and
  worker start cancel out; the figure with the start-up is shown too);
* the same for the client of ``classify --backend dask`` against a real
  cluster started here: ``dask scheduler`` and two ``dask worker --nthreads 1``
  processes on 127.0.0.1;
* the CLI's ``--jobs 0`` on small scans against the 2-process floor and
  against ``--jobs 1`` (medians of the cold CLI runs), the conversion's CPU
  per small scan;
* ``benchmarks/cronstart.py``'s start-up figures (``cronstart.measure``):
  ``classify`` on an empty folder, an ``--incremental`` rerun over S unchanged
  files, a run refused by the lock while another is busy;
* the peak memory of the ``--jobs 0`` run on the small folder (PSS of the
  whole process tree, ``memory.run_measured``); 200 000 files and the growth
  from 10 000: ``benchmarks/memory.py``;
* accuracy is not measured here: ``benchmarks/accuracy.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth
from benchinfo import code_state, process_tree, stat_fields, verdict  # noqa: E402

from batchdigits.run.pipeline import CHUNK_SIZE as CHUNK  # noqa: E402  (same chunks as classify)

N_BASES = 40  # distinct drawn digits in the small files of the mix
N_SMALL_BASES = 200  # distinct drawn digits in the small-scan folder
N_LARGE_VARIANTS = 36  # distinct encoded large JPEGs (re-written to many paths)
LARGE_SHARE = 0.10  # share of large JPEG scans in the mix
TARGET_FLOOR_SHARE = 0.60
TARGET_SCALING = 1.8
TARGET_SEED_MIX = 3.0
TARGET_SEED_LARGE = 10.0
FULL = {"files": 2000, "small": 20000, "large": 150, "repeats": 3, "startup_files": 5000, "startup_repeats": 5}
QUICK = {"files": 200, "small": 2000, "large": 10, "repeats": 1, "startup_files": 500, "startup_repeats": 1}


# ---------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------


def _bases(rng: np.random.Generator, n: int) -> list[tuple[int, Image.Image]]:
    kinds = ("mixed", "clean", "paper", "mixed", "noise", "border", "pencil", "rotate")
    out = []
    for i in range(n):
        d = i % 10
        img = synth.make_scan(d, rng, kinds[i % len(kinds)], source="stroke", size=256)
        out.append((d, img))
    return out


def _encode(img: Image.Image, fmt: str, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=int(rng.integers(70, 96)))
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


def _with_mode(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """About half grayscale, half RGB (a colour scan of paper or a gray RGB file)."""
    if img.mode == "RGB":
        return img if rng.random() < 0.7 else img.convert("L")
    return img.convert("RGB") if rng.random() < 0.4 else img


def _large_scan(img: Image.Image, side: int, rng: np.random.Generator, grain: float) -> Image.Image:
    """A digit scanned at high resolution: upscaled, with paper grain."""
    w, h = img.size
    scale = side / max(w, h)
    big = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    arr = np.asarray(big, dtype=np.int16)
    noise = rng.normal(0.0, grain, arr.shape[:2]).astype(np.int16)
    if arr.ndim == 3:
        noise = noise[..., None]
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8), big.mode)


def _large_pool(bases, rng: np.random.Generator, n: int, grain: float) -> list[tuple[int, bytes]]:
    pool = []
    for _ in range(n):
        d, img = bases[int(rng.integers(len(bases)))]
        side = int(rng.integers(1000, 2501))
        pool.append((d, _encode(_large_scan(_with_mode(img, rng), side, rng, grain), "JPEG", rng)))
    return pool


SMALL_FORMATS = (("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif"))


def generate_small(folder: Path, n: int, bases, rng: np.random.Generator) -> dict:
    """``n`` single-digit scans, 40-220 px, PNG/JPEG/BMP/TIFF, gray and RGB."""
    folder.mkdir(parents=True)
    stats = {"bytes": 0, "L": 0, "RGB": 0} | {ext: 0 for _, ext in SMALL_FORMATS}
    for i in range(n):
        d, img = bases[int(rng.integers(len(bases)))]
        side = int(round(np.exp(rng.uniform(np.log(40), np.log(220)))))
        w, h = img.size
        s = side / max(w, h)
        img = _with_mode(img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR), rng)
        fmt, ext = SMALL_FORMATS[int(rng.integers(len(SMALL_FORMATS)))]
        buf = io.BytesIO()
        img.save(buf, fmt, **({"quality": int(rng.integers(70, 96))} if fmt == "JPEG" else {}))
        (folder / f"{i:05d}_{d}.{ext}").write_bytes(buf.getvalue())
        stats["bytes"] += buf.tell()
        stats[ext] += 1
        stats[img.mode] += 1
    return stats


def generate(
    root: Path, n_mix: int, n_large: int, seed: int = 0, grain: float = 6.0, n_small: int = 0
) -> tuple[Path, Path, Path, dict]:
    """Write the ``mix``, ``large`` and ``small`` folders under ``root``; return them and stats."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    bases = _bases(rng, min(N_BASES, max(10, n_mix // 5)))  # fewer for tiny folders (--quick)
    pool = _large_pool(bases, rng, min(N_LARGE_VARIANTS, max(2, n_large)), grain)
    mix, large, small = root / "mix", root / "large", root / "small"
    mix.mkdir(parents=True)
    large.mkdir(parents=True)
    stats = {"png": 0, "jpeg": 0, "L": 0, "RGB": 0, "large": 0, "bytes_mix": 0, "bytes_large": 0}
    for i in range(n_mix):
        if rng.random() < LARGE_SHARE:
            d, data = pool[int(rng.integers(len(pool)))]
            name = f"{i:05d}_{d}.jpg"
            stats["large"] += 1
            stats["jpeg"] += 1
        else:
            d, img = bases[int(rng.integers(len(bases)))]
            side = int(round(np.exp(rng.uniform(np.log(30), np.log(300)))))
            w, h = img.size
            s = side / max(w, h)
            img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
            img = _with_mode(img, rng)
            fmt = "PNG" if rng.random() < 0.5 else "JPEG"
            data = _encode(img, fmt, rng)
            name = f"{i:05d}_{d}.{'png' if fmt == 'PNG' else 'jpg'}"
            stats["png" if fmt == "PNG" else "jpeg"] += 1
            stats[img.mode] += 1
        (mix / name).write_bytes(data)
        stats["bytes_mix"] += len(data)
    for i in range(n_large):
        d, data = pool[i % len(pool)]
        (large / f"{i:05d}_{d}.jpg").write_bytes(data)
        stats["bytes_large"] += len(data)
    stats["small"] = generate_small(small, n_small, _bases(rng, min(N_SMALL_BASES, max(10, n_small // 10))), rng)
    stats["seconds"] = time.perf_counter() - t0
    return mix, large, small, stats


# ---------------------------------------------------------------------------
# What is timed
# ---------------------------------------------------------------------------


def list_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file())


def decode_chunk(paths: list[str]) -> int:
    """The floor's worker task: open and fully decode each file to grayscale."""
    for p in paths:
        with Image.open(p) as img:
            img.convert("L")
    return len(paths)


def floor(folder: Path, jobs: int) -> int:
    """Decode every file, in this process (jobs 1) or in ``jobs`` loky workers, in chunks
    as classify makes them for small files (CHUNK, twice that, then CHUNK_GROWTH times that),
    handed out as classify hands them out (``map_ordered``)."""
    from batchdigits.io.concurrency import map_ordered
    from batchdigits.run.pipeline import CHUNK_GROWTH

    paths, chunks, start = list_files(folder), [], 0
    while start < len(paths):
        size = CHUNK * (1, 2, CHUNK_GROWTH)[min(len(chunks), 2)]
        chunks.append(paths[start : start + size])
        start += size
    return sum(n for done in map_ordered(decode_counted, iter(chunks), jobs) for n in done)


def decode_counted(paths: list[Path]) -> list[int]:
    """:func:`decode_chunk` as ``map_ordered`` wants a task: one answer per item."""
    return [1] * decode_chunk(paths)


def classify_inprocess(folder: Path, jobs: int, out: Path) -> int:
    from batchdigits import classify_folder
    from batchdigits.run.pipeline import Settings

    report = classify_folder(folder, out=out, settings=Settings(jobs=jobs))
    if report.counts["error"]:
        print(f"  warning: {report.counts['error']} error rows in {folder.name}: "
              f"{report.errors[:2]}", file=sys.stderr)
    return report.found


CLI = str(Path(sys.executable).with_name("batchdigits"))
MAIN_CPU: dict[tuple[str, str], list[float]] = {}  # (row, folder) -> CPU seconds of the CLI's main process


def main_cpu_run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` (exit 0 or 1 expected): its wall seconds and the CPU seconds of its
    main process alone (not its workers'), read from ``/proc`` when it has exited
    but is not yet reaped."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.perf_counter() - t0
        fields = stat_fields(proc.pid)
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else float("nan")
        proc.wait()
        if proc.returncode not in (0, 1):
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.read().decode().strip()}")
    return wall, cpu


def count_rows(out: Path) -> int:
    with open(out, encoding="utf-8") as fh:
        return sum(1 for _ in fh) - 1


def classify_cli(folder: Path, jobs: int, out: Path, key: str = "") -> int:
    """The console script in a fresh process (cold: imports, model, workers); rows written."""
    cmd = [CLI, "classify", str(folder), "--out", str(out), "--jobs", str(jobs), "--quiet"]
    _, cpu = main_cpu_run(cmd)
    MAIN_CPU.setdefault((key or f"cli{jobs}", folder.name), []).append(cpu)
    return count_rows(out)


def seed_loop(folder: Path, pipeline) -> int:
    """One file at a time: open, gray, 8x8, 0..16, one predict call each."""
    n = 0
    for p in list_files(folder):
        with Image.open(p) as img:
            small = img.convert("L").resize((8, 8))
        x = np.asarray(small, dtype=np.float64).reshape(1, 64) * (16.0 / 255.0)
        pipeline.predict(x)
        n += 1
    return n


def tree_cpu() -> float:
    """CPU seconds of this process, its reaped children and its live descendants
    (the persistent loky workers), from /proc (Linux); 0.0 elsewhere."""
    if not os.path.isdir("/proc/self"):
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for i, pid in enumerate(process_tree(os.getpid())):
        f = stat_fields(pid)
        if f is None:
            continue
        total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if i == 0 else 0)
    return total / tick


def timed(fn: Callable[[], int]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds of the process tree and of this process alone, and fn's result."""
    c0 = tree_cpu()
    m0 = time.process_time()
    t0 = time.perf_counter()
    n = fn()
    return time.perf_counter() - t0, tree_cpu() - c0, time.process_time() - m0, n


STAGE_FILES = 3000  # files per folder (spread over it) for the per-stage costs


def stage_costs(folder: Path, model, repeats: int) -> dict[str, float]:
    """CPU ms per image of each stage, in this process, on up to STAGE_FILES files (median of runs)."""
    from threadpoolctl import threadpool_limits

    from batchdigits.defaults import DEFAULT_BATCH_SIZE
    from batchdigits.image.convert import decode_file
    from batchdigits.image.grid import images_to_grids, pin_threads
    from batchdigits.learn.export import to_arrays

    pin_threads()  # as the workers do
    worker_model = to_arrays(model) or model  # what the workers predict with (no numpy form: the main process)

    paths = list_files(folder)
    paths = paths[:: max(1, len(paths) // STAGE_FILES)][:STAGE_FILES]
    runs: dict[str, list[float]] = {}

    def clock(name: str, fn: Callable[[], object]):
        t0 = time.process_time()
        result = fn()
        runs.setdefault(name, []).append((time.process_time() - t0) * 1000 / len(paths))
        return result

    for _ in range(repeats):
        grays = clock("decode", lambda: [decode_file(p)[0] for p in paths])
        grays = [g for g in grays if g is not None]
        grids = clock("convert", lambda grays=grays: [g for i in range(0, len(grays), CHUNK)
                                                      for g in images_to_grids(grays[i : i + CHUNK])])
        flat = np.stack([g.reshape(64) for g in grids if g is not None]).astype(np.uint8)
        with threadpool_limits(1):  # as the workers predict, a chunk at a time, with the numpy form
            clock("predict", lambda flat=flat: [worker_model.predict(flat[i : i + CHUNK])
                                                for i in range(0, len(flat), CHUNK)])
            products = _model_products(model)
            clock("products", lambda flat=flat, products=products: [p(flat[i : i + DEFAULT_BATCH_SIZE])
                                                                     for p in products
                                                 for i in range(0, len(flat), DEFAULT_BATCH_SIZE)])
        inputs = _resample_inputs(grays)
        clock("resample", lambda inputs=inputs: [_warp(s, m) for s, m in inputs])
    return {k: statistics.median(v) for k, v in runs.items()} | {"files": len(paths)}


def _model_products(model) -> list[Callable[[np.ndarray], np.ndarray]]:
    """The matrix products prediction cannot do without: the SVC's kernel, the k-NN distances.

    Each is one BLAS product of a batch with the support vectors (resp. the
    k-NN's training grids); the kernel's exp, the selection of neighbours and
    everything else are left out, so this is a lower bound of prediction.
    """
    found = []
    for part in [model.pipeline, *model.opinions]:
        last = part[-1]
        for calibrated in getattr(last, "calibrated_classifiers_", []):
            found.append(np.asarray(calibrated.estimator.support_vectors_, dtype=np.float64))
        if hasattr(last, "_fit_X"):
            found.append(np.asarray(last._fit_X, dtype=np.float64))
    buffers: dict[tuple[int, int], np.ndarray] = {}

    def product(x: np.ndarray, m: np.ndarray) -> np.ndarray:
        key = (len(x), len(m))  # a reused output: no page faults of a fresh 50 MB array each time
        buf = buffers.setdefault(key, np.empty(key))
        return np.matmul(np.asarray(x, dtype=np.float64), m.T, out=buf)

    return [lambda x, m=m: product(x, m) for m in found]


def _resample_inputs(grays: list) -> list:
    """Each image's strokes and an affine matrix of its size, for the conversion's one warp (untimed)."""
    import cv2

    from batchdigits.image import grid

    out = []
    for gray in grays:
        ink = grid.ink_strength(grid.shrink_to_input(gray))
        mask = None if ink is None else grid.clean_mask(ink)
        if mask is not None:
            h, w = mask.shape
            out.append((cv2.multiply(ink, mask), np.array([[w / 40.0, 0.1, 0.0], [0.0, h / 64.0, 0.0]])))
    return out


def _warp(strokes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    import cv2

    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(strokes, matrix, (64, 64), flags=flags, borderMode=cv2.BORDER_CONSTANT)


# ---------------------------------------------------------------------------
# Issue 20: the main process's marginal CPU, a real dask cluster, start-up, memory
# ---------------------------------------------------------------------------


def linked_subset(folder: Path, target: Path, n: int) -> Path:
    """A folder of hard links to the first ``n`` files of ``folder`` (instant, no copies)."""
    target.mkdir()
    for p in list_files(folder)[:n]:
        os.link(p, target / Path(p).name)
    return target


def per_image_slope(cpu_many: list[float], cpu_few: list[float], many: int, few: int) -> float:
    """CPU ms per extra image between two folder sizes (medians): start-up, model
    load and worker start cancel out, what is left is what each image costs."""
    return (statistics.median(cpu_many) - statistics.median(cpu_few)) * 1000 / (many - few)


class DaskCluster:
    """A real ``dask scheduler`` and ``workers`` x ``dask worker --nthreads 1`` processes on 127.0.0.1."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        import json

        dask = str(Path(sys.executable).with_name("dask"))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        address_file = root / "scheduler.json"
        self.procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                        "--no-dashboard", "--scheduler-file", str(address_file)], **quiet)]
        try:
            deadline = time.monotonic() + 120
            while not (address_file.exists() and address_file.stat().st_size):
                if time.monotonic() > deadline or self.procs[0].poll() is not None:
                    raise RuntimeError("the dask scheduler did not start")
                time.sleep(0.1)
            self.address = json.loads(address_file.read_text())["address"]
            for _ in range(workers):
                self.procs.append(subprocess.Popen([dask, "worker", self.address, "--nthreads", "1",
                                                    "--no-dashboard"], **quiet))
            from distributed import Client

            with Client(self.address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=120)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self.procs):  # only the processes started here, by their ids
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def dask_runs(small: Path, part: Path, outdir: Path, repeats: int) -> dict[str, object]:
    """``classify --backend dask`` against a real 2-worker cluster, on ``part`` and ``small``:
    the client's own CPU (median of ``repeats``), wall seconds and rows."""
    cluster = DaskCluster(outdir)
    try:
        cpu: dict[str, list[float]] = {}
        wall: dict[str, list[float]] = {}
        rows: dict[str, int] = {}
        for _ in range(repeats):
            for folder in (part, small):
                out = outdir / f"dask-{folder.name}.csv"
                sec, c = main_cpu_run([CLI, "classify", str(folder), "--out", str(out), "--backend", "dask",
                                       "--scheduler", cluster.address, "--quiet"])
                cpu.setdefault(folder.name, []).append(c)
                wall.setdefault(folder.name, []).append(sec)
                rows[folder.name] = count_rows(out)
                print(f"  dask  {folder.name:10s} {rows[folder.name]:6d} rows {sec:7.2f} s "
                      f"client CPU {c:6.2f} s", flush=True)
    finally:
        cluster.stop()
    return {"cpu": cpu, "wall": wall, "rows": rows}


def peak_memory(folder: Path, out: Path):
    """``classify FOLDER --jobs 0`` with its process tree's memory polled (``memory.py``'s way)."""
    from memory import run_measured

    return run_measured([CLI, "classify", str(folder), "--out", str(out), "--jobs", "0", "--quiet"])


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _files_for_share(floor_rate: float, warm_rate: float, start_s: float) -> float:
    """Files from which a cold run (start-up + files at the warm rate) reaches the floor share."""
    target = TARGET_FLOOR_SHARE * floor_rate
    if warm_rate <= target:
        return 0.0
    return target * start_s / (1.0 - target / warm_rate)


def machine_line() -> str:
    import joblib
    import PIL
    import PIL.features
    import sklearn

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    turbo = PIL.features.check_feature("libjpeg_turbo")
    jpg = PIL.features.version("jpg")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"machine: {os.cpu_count()} cores ({usable} usable), {platform.machine()} "
        f"{platform.system()} {platform.release()}\n"
        f"         Python {platform.python_version()}, Pillow {PIL.__version__} "
        f"(libjpeg{'-turbo' if turbo else ''} {jpg}), numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, joblib {joblib.__version__}\n"
        f"         load average at start: {', '.join(f'{x:.2f}' for x in load)}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller folders, one run each (a smoke test): defaults {QUICK}")
    ap.add_argument("--files", type=int, help=f"files in the mixed folder (default {FULL['files']})")
    ap.add_argument("--small", type=int, help=f"files in the small-scan folder (default {FULL['small']})")
    ap.add_argument("--large", type=int, help=f"files in the large-JPEG folder (default {FULL['large']})")
    ap.add_argument("--repeats", type=int, help=f"runs per measurement (median; default {FULL['repeats']})")
    ap.add_argument("--startup-files", type=int,
                    help=f"unchanged files of the --incremental rerun (default {FULL['startup_files']})")
    ap.add_argument("--startup-repeats", type=int,
                    help=f"runs per start-up figure (median; default {FULL['startup_repeats']})")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep the files")
    ap.add_argument("--client-cpu-only", action="store_true",
                    help="only the main process's and the dask client's CPU per image, on the small folder")
    ap.add_argument("--grain", type=float, default=6.0,
                    help="paper grain (noise sigma, 0..255) of the large scans; 0 = perfectly smooth")
    args = ap.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    from batchdigits.io.concurrency import default_jobs
    from batchdigits.learn.builtin import get_default_model

    all_jobs = default_jobs()
    print(machine_line())
    print(code_state())
    print("model: building/loading the built-in model (untimed) ...", flush=True)
    model = get_default_model()
    print(f"model: {model.source}")

    if args.keep:
        root = Path(args.keep).resolve()
        for sub in ("mix", "large", "small", "out"):
            if (root / sub).exists() and any((root / sub).iterdir()):
                ap.error(f"{root / sub} exists and is not empty")
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bd-throughput-"))
    try:
        if args.client_cpu_only:
            rng = np.random.default_rng(0)
            t0 = time.perf_counter()
            generate_small(root / "small", args.small, _bases(rng, min(N_SMALL_BASES, max(10, args.small // 10))), rng)
            print(f"data: small = {args.small} single-digit scans 40-220 px, generated in "
                  f"{time.perf_counter() - t0:.1f} s under {root}")
            (root / "out").mkdir(exist_ok=True)
            return client_cpu(args, root / "small", root / "out")
        mix, large, small, st = generate(root, args.files, args.large, grain=args.grain, n_small=args.small)
        outdir = root / "out"
        outdir.mkdir(exist_ok=True)
        print(
            f"data: mix = {args.files} files ({st['png']} PNG, {st['jpeg']} JPEG; "
            f"small ones {st['L']} gray, {st['RGB']} RGB; {st['large']} large 1000-2500 px JPEG), "
            f"{st['bytes_mix'] / 1e6:.1f} MB\n"
            f"      large = {args.large} JPEG scans 1000-2500 px (grain sigma {args.grain:g}), "
            f"{st['bytes_large'] / 1e6:.1f} MB\n"
            f"      small = {args.small} single-digit scans 40-220 px ("
            + ", ".join(f"{st['small'][e]} {e.upper()}" for _, e in SMALL_FORMATS)
            + f"; {st['small']['L']} gray, {st['small']['RGB']} RGB), {st['small']['bytes'] / 1e6:.1f} MB; "
            f"generated in {st['seconds']:.1f} s under {root}"
        )
        return run(args, {"mix": mix, "small": small, "large": large}, outdir, all_jobs, model)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(args, folders: dict[str, Path], outdir: Path, all_jobs: int, model) -> int:
    mix = folders["mix"]
    out = outdir / "tmp.csv"

    # Warm-up (untimed): page cache, loky workers started with batchdigits imported.
    print("warm-up (untimed) ...", flush=True)
    for folder in folders.values():
        floor(folder, all_jobs)
    classify_inprocess(mix, 0, out)

    rows: list[tuple[str, str, Callable[[Path], int]]] = [
        ("floor1", "floor: decode only, 1 process", lambda f: floor(f, 1)),
        ("floorN", f"floor: decode only, {all_jobs} processes", lambda f: floor(f, all_jobs)),
        ("lib1", "classify in-process --jobs 1", lambda f: classify_inprocess(f, 1, out)),
        ("libN", f"classify in-process --jobs 0 ({all_jobs})", lambda f: classify_inprocess(f, 0, out)),
        ("seed", "seed-style loop, 1 process", lambda f: seed_loop(f, model.pipeline)),
        ("cli1", "classify CLI --jobs 1 (cold process)", lambda f: classify_cli(f, 1, out, "cli1")),
        ("cliN", f"classify CLI --jobs 0 ({all_jobs}, cold process)", lambda f: classify_cli(f, 0, out, "cliN")),
    ]
    times: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    mains: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    for rep in range(args.repeats):
        for key, label, fn in rows:  # interleaved, so load spikes hit every row alike
            for fname, folder in folders.items():
                sec, cpu, main_cpu, n = timed(lambda fn=fn, folder=folder: fn(folder))
                times.setdefault((key, fname), []).append(sec)
                cpus.setdefault((key, fname), []).append(cpu)
                mains.setdefault((key, fname), []).append(main_cpu)
                counts.setdefault(fname, n)
                print(f"  run {rep + 1}/{args.repeats} {fname:5s} {label:38s} {sec:7.2f} s "
                      f"{n / sec:8.1f} img/s  cpu {cpu:6.2f} s", flush=True)
    print("per-stage costs (one process, untimed above) ...", flush=True)
    stages = {f: stage_costs(folder, model, args.repeats) for f, folder in folders.items()}
    extra = issue20_runs(args, folders["small"], outdir, out)

    labels = {k: lab for k, lab, _ in rows}
    order = ["floor1", "floorN", "lib1", "libN", "cli1", "cliN", "seed"]
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_ms = {k: statistics.median(v) * 1000 / counts[k[1]] for k, v in cpus.items()}
    rate = {k: counts[k[1]] / v for k, v in med.items()}
    best = {k: counts[k[1]] / min(v) for k, v in times.items()}  # least disturbed run

    print()
    print(f"Images/s, median of {args.repeats} runs (CLI rows: a fresh process each, start-up included); "
          f"in brackets: wall seconds, CPU ms per image (all processes)")
    head = f"{'':42s}" + "".join(f"{f'{f} ({counts[f]} files)':>32s}" for f in folders)
    print(head)
    for k in order:
        cells = "".join(
            f"{rate[(k, f)]:10.1f}/s ({med[(k, f)]:6.2f} s, {cpu_ms[(k, f)]:6.2f} ms)" for f in folders
        )
        print(f"{labels[k]:42s}{cells}")
    for f in folders:
        overhead = med[("cliN", f)] - med[("libN", f)]
        print(f"  {f}: the CLI (--jobs 0) took {overhead:.2f} s longer than the warm in-process run "
              f"(interpreter, imports, model load, worker start-up)")
    main_ms = {k: statistics.median(v) * 1000 / counts[k[1]] for k, v in mains.items()}
    print()
    print(f"CPU ms per image by stage, one process (median of {args.repeats}; on up to {STAGE_FILES} "
          "files of each folder); main process: its own CPU in the --jobs 0 run (the workers predict)")
    print(f"{'':42s}" + "".join(f"{f:>16s}" for f in folders))
    for key, name in (("decode", "decode (load_image, reduced to 64 px)"),
                      ("convert", "grid conversion (images_to_grids, workers' chunks)"),
                      ("predict", "prediction (numpy form, chunks, 1 thread)")):
        print(f"{name:42s}" + "".join(f"{stages[f][key]:13.3f} ms" for f in folders))
    print(f"{'  of which its matrix products alone':42s}"
          + "".join(f"{stages[f]['products']:13.3f} ms" for f in folders))
    print(f"{'resampling alone (one warpAffine/image)':42s}"
          + "".join(f"{stages[f]['resample']:13.3f} ms" for f in folders))
    print(f"{'main process: walk, stat, IPC, CSV':42s}"
          + "".join(f"{main_ms[('libN', f)]:13.3f} ms" for f in folders))
    print(f"  load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(other processes compete for the {os.cpu_count()} cores; CPU ms/img is less affected)")

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> tuple[float, float]:
        return rate[a] / rate[b], best[a] / best[b]

    checks: list[tuple[str, tuple[float, float], float]] = []
    for f in folders:
        checks += [
            (f"{f}: classify --jobs 1 vs floor 1 process", ratio(("lib1", f), ("floor1", f)),
             TARGET_FLOOR_SHARE),
            (f"{f}: classify --jobs 0 vs floor {all_jobs} processes",
             ratio(("libN", f), ("floorN", f)), TARGET_FLOOR_SHARE),
            (f"{f}: classify --jobs 0 vs --jobs 1", ratio(("libN", f), ("lib1", f)), TARGET_SCALING),
        ]
    checks += [
        ("mix: classify --jobs 0 vs seed loop", ratio(("libN", "mix"), ("seed", "mix")),
         TARGET_SEED_MIX),
        ("large: classify --jobs 0 vs seed loop", ratio(("libN", "large"), ("seed", "large")),
         TARGET_SEED_LARGE),
    ]
    print()
    print(f"Targets (ratios of images/s; verdict on the median, best-of-{args.repeats} shown "
          f"for reference)")
    misses = 0
    for name, (value, value_best), target in checks:
        ok = value >= target
        misses += not ok
        print(f"  [{verdict(ok)}] {name:46s} {value:6.2f}x  (target >= {target:.2f}x)"
              f"   best-of: {value_best:5.2f}x")
    print("  reference (not a target): floor scaling "
          + ", ".join(f"{f} {rate[('floorN', f)] / rate[('floor1', f)]:.2f}x "
                      f"(best-of {best[('floorN', f)] / best[('floor1', f)]:.2f}x)" for f in folders)
          + f" with {all_jobs} processes")
    print(f"  reference (not a target): {all_jobs} x CPU ms/img(--jobs 1) / CPU ms/img(--jobs 0), "
          "the scaling idle cores would allow at most: "
          + ", ".join(f"{f} {all_jobs * cpu_ms[('lib1', f)] / cpu_ms[('libN', f)]:.2f}x" for f in folders))
    for f in folders:
        start = med[("cliN", f)] - med[("libN", f)]
        need = _files_for_share(rate[("floorN", f)], rate[("libN", f)], start)
        print(f"  reference (not a target): {f}: the CLI --jobs 0 in a cold process ran at "
              f"{rate[('cliN', f)] / rate[('floorN', f)]:.2f}x the floor; its {start:.1f} s start-up "
              "(imports, model load, workers) is paid once per run, "
              + (f"so from about {need:,.0f} files a cold run also reaches "
                 f"{TARGET_FLOOR_SHARE:.0%} of the floor" if need else "so a cold run never reaches it"))
    for f in folders:
        least = stages[f]["decode"] + stages[f]["resample"] + stages[f]["products"]
        print(f"  reference (not a target): {f}: bound of this conversion (GRID_VERSION) and model: "
              f"decoding, the resampling call and prediction's matrix products alone cost "
              f"{least:.3f} ms CPU per image, so even with every other step free, --jobs 1 could reach at most "
              f"{cpu_ms[('floor1', f)] / least:.2f}x the floor 1 process")
    for f in folders:  # what the targets leave for the conversion, from this run's medians
        rest = main_ms[("libN", f)]  # walk, stat, IPC, CSV (the workers predict)
        fixed = stages[f]["decode"] + stages[f]["predict"] + rest
        one = cpu_ms[("floor1", f)] / TARGET_FLOOR_SHARE  # CPU ms per image the target allows
        every = all_jobs * 1000.0 / (TARGET_FLOOR_SHARE * rate[("floorN", f)])
        print(f"  reference (not a target): {f}: decoding, prediction and the main process's own work "
              f"(walk, stat, IPC, CSV) cost {fixed:.3f} ms CPU per image; {TARGET_FLOOR_SHARE:.0%} of the "
              f"floor allows {one:.3f} ms at --jobs 1 and {every:.3f} ms over {all_jobs} cores at --jobs 0, "
              f"leaving {one - fixed:.3f} / {every - fixed:.3f} ms for the whole grid conversion "
              f"(today {stages[f]['convert']:.3f} ms, of which its resampling call {stages[f]['resample']:.3f} ms)")
    draft_ms = cpu_ms[("lib1", "large")]
    print(f"  reference (not a target): large: the seed loop costs {cpu_ms[('seed', 'large')]:.1f} ms CPU "
          f"per file, classify {draft_ms:.1f} ms (of which the reduced-scale JPEG decode alone is most); "
          f"even at perfect scaling over {all_jobs} cores that allows at most "
          f"{all_jobs * cpu_ms[('seed', 'large')] / draft_ms:.1f}x the seed loop")
    floor_scaling = min(best[("floorN", f)] / best[("floor1", f)] for f in folders)
    if all_jobs > 1 and floor_scaling < 0.8 * all_jobs:
        print(f"  WARNING: the decode-only floor itself scaled only {floor_scaling:.2f}x with {all_jobs} "
              "processes: other processes were using the cores, so the all-cores and scaling "
              "results of this run understate what batchdigits does on an idle machine.")
    print("  reference (not a target): CPU ms/img, classify --jobs 1 vs floor 1 process: "
          + ", ".join(f"{f} {cpu_ms[('floor1', f)] / cpu_ms[('lib1', f)]:.2f}x" for f in folders)
          + " (the floor ratio without competing load)")
    print()
    print(f"{misses} of {len(checks)} checks missed" if misses else f"all {len(checks)} checks passed")
    issue20_report(extra, counts["small"], rate, main_ms, stages, all_jobs, cpu_ms[("floor1", "small")])
    return 0


def issue20_runs(args, small: Path, outdir: Path, out: Path) -> dict:
    """What issue 20's targets need beyond the runs above: the main process's CPU on a part
    of the small folder (for the per-image slope), a real dask cluster, start-up, memory."""
    import cronstart

    n_small = len(list_files(small))
    few = min(max(2 * CHUNK, n_small // 10), n_small // 2)  # more than one chunk: workers start
    part = linked_subset(small, outdir.parent / "small-part", few)
    print(f"main process CPU: classify CLI --jobs 0 on {few} of the small files (x{args.repeats}) ...",
          flush=True)
    for _ in range(args.repeats):
        classify_cli(part, 0, out, "cliN")
    extra: dict = {"few": few, "part": part.name}
    print(f"dask: a real cluster (dask scheduler + 2 x dask worker --nthreads 1 on 127.0.0.1), "
          f"classify --backend dask on {few} and {n_small} small files (x{args.repeats}) ...", flush=True)
    try:
        extra["dask"] = dask_runs(small, part, outdir, args.repeats)
    except ImportError as exc:
        print(f"  dask: not measured ({exc}; pip install 'batchdigits[dask]')")
    print(f"start-up: benchmarks/cronstart.py's measurements ({args.startup_files} unchanged files, "
          f"median of {args.startup_repeats}) ...", flush=True)
    root = outdir.parent / "startup"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    extra["startup"] = cronstart.measure(root, args.startup_files, args.startup_repeats, check_imports=False)
    extra["startup_load"] = os.getloadavg()[0]
    extra["startup_files"] = args.startup_files
    print(f"memory: classify CLI --jobs 0 on {n_small} small files, process tree polled every 50 ms "
          "(benchmarks/memory.py's run_measured) ...", flush=True)
    extra["memory"] = peak_memory(small, outdir / "memory.csv")
    return extra


def client_cpu(args, small: Path, outdir: Path) -> int:
    """``--client-cpu-only``: the CLI main process's and the dask client's CPU per image
    (the slopes of :func:`issue20_report`), and their two targets."""
    n_small = len(list_files(small))
    few = min(max(2 * CHUNK, n_small // 10), n_small // 2)
    part = linked_subset(small, outdir.parent / "small-part", few)
    out = outdir / "tmp.csv"
    print(f"main process CPU: classify CLI --jobs 0 on {few} and {n_small} small files (x{args.repeats}) ...",
          flush=True)
    for _ in range(args.repeats):
        for folder in (part, small):
            classify_cli(folder, 0, out, "cliN")
            print(f"  --jobs 0 {folder.name:10s} main process CPU {MAIN_CPU[('cliN', folder.name)][-1]:6.2f} s",
                  flush=True)
    main_slope = per_image_slope(MAIN_CPU[("cliN", small.name)], MAIN_CPU[("cliN", part.name)], n_small, few)
    print(f"dask: a real cluster (dask scheduler + 2 x dask worker --nthreads 1 on 127.0.0.1), "
          f"classify --backend dask on {few} and {n_small} small files (x{args.repeats}) ...", flush=True)
    dask = dask_runs(small, part, outdir, args.repeats)
    client_slope = per_image_slope(dask["cpu"]["small"], dask["cpu"][part.name], n_small, few)
    wall = statistics.median(dask["wall"]["small"])
    print()
    print(f"Issue 20 targets, CPU per image ({few} -> {n_small} small files, medians of {args.repeats}; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} now)")
    missed = 0
    for name, value, extra in (
        ("main-process CPU per image, --jobs 0, small scans", main_slope,
         f"{statistics.median(MAIN_CPU[('cliN', small.name)]) * 1000 / n_small:.4f} ms with its start-up"),
        ("dask client CPU per image, 2-worker cluster", client_slope,
         f"{statistics.median(dask['cpu']['small']) * 1000 / n_small:.4f} ms with its start-up; "
         f"{n_small / wall:,.0f} images/s end to end"),
    ):
        ok = value <= 0.03
        missed += not ok
        print(f"  [{verdict(ok)}] {name:52s} {value:9.4f} ms (target <= 0.03 ms; {extra}; "
              f"bound {bound(value)} images/s)")
    return 0


def bound(ms_per_image: float) -> str:
    """The images/s a process spending ``ms_per_image`` of CPU on each image cannot pass."""
    if not ms_per_image > 0:
        return "n/a (below the clock's resolution on this few files)"
    return f"{1000 / ms_per_image:,.0f}"


def floor_share_bound(n: int, floor_rate: float, start_s: float, per_image_ms: float, jobs: int) -> float:
    """The most a cold run can reach of the floor's images/s: ``start_s`` once, then ``per_image_ms`` of CPU
    per image spread perfectly over ``jobs`` cores (the floor's own start-up is in ``floor_rate``).

    >>> round(floor_share_bound(20000, 7000.0, 0.7, 0.5, 2), 3)
    0.501
    """
    return (n / floor_rate) / (start_s + n * per_image_ms / 1000.0 / jobs)


def issue20_report(extra: dict, n_small: int, rate: dict, main_ms: dict, stages: dict, all_jobs: int,
                   floor_cpu_ms: float) -> None:
    few, part = extra["few"], extra["part"]
    main_slope = per_image_slope(MAIN_CPU[("cliN", "small")], MAIN_CPU[("cliN", part)], n_small, few)
    main_total = statistics.median(MAIN_CPU[("cliN", "small")]) * 1000 / n_small
    print()
    print(f"Issue 20: main process and dask client CPU per image (small scans, {few} -> {n_small} files; "
          "the slope between the two sizes, so start-up, model load and workers' start cancel out)")
    print(f"  classify CLI --jobs 0, main process alone: {main_slope:.4f} ms per image "
          f"({main_total:.4f} ms with its start-up spread over {n_small} files; in-process warm run "
          f"{main_ms[('libN', 'small')]:.4f} ms); bound on images/s whatever the cores: {bound(main_slope)}")
    client_slope = float("nan")
    dask = extra.get("dask")
    if dask:
        client_slope = per_image_slope(dask["cpu"]["small"], dask["cpu"][part], n_small, few)
        wall = statistics.median(dask["wall"]["small"])
        print(f"  classify --backend dask, 2 workers of 1 thread, the client alone: {client_slope:.4f} ms per image "
              f"({statistics.median(dask['cpu']['small']) * 1000 / n_small:.4f} ms with its start-up); "
              f"{n_small / wall:,.0f} images/s end to end ({wall:.2f} s, {dask['rows']['small']} rows); "
              f"bound on images/s whatever the cluster: {bound(client_slope)}")
    mem = extra["memory"]
    print(f"  memory, {n_small} small files --jobs 0: peak tree PSS {mem.peak_pss_kb / 1024:.1f} MB, largest "
          f"process (ru_maxrss) {mem.ru_maxrss_kb / 1024:.1f} MB, peak tree RSS {mem.peak_rss_kb / 1024:.1f} MB "
          f"over {mem.peak_procs} processes; 200 000 files and the growth from 10 000: "
          "benchmarks/memory.py (docs/benchmarks.md)")
    startup = {name.split(" (")[0]: (took, target) for name, took, target, _ in extra["startup"]}
    for name, took, _, _ in extra["startup"]:
        print(f"  start-up: {name:52s} {took:6.2f} s")
    print(f"  (load average after the start-up runs: {extra['startup_load']:.2f})")

    empty = startup["classify, empty folder"]
    rerun = next(v for k, v in startup.items() if k.startswith("--incremental"))
    lock = next(v for k, v in startup.items() if k.startswith("lock refusal"))
    floor_share = rate[("cliN", "small")] / rate[("floorN", "small")]
    scaling = rate[("cliN", "small")] / rate[("cli1", "small")]
    conv = stages["small"]["convert"]
    pss = mem.peak_pss_kb / 1024
    # what no faster code of ours can remove: the floor's own decode, prediction's matrix products, the
    # conversion AT its 0.08 ms target, the main process at its 0.03 ms target, the empty folder's start-up
    least = floor_cpu_ms + stages["small"]["products"] + 0.08 + 0.03
    best = floor_share_bound(n_small, rate[("floorN", "small")], empty[0], least, all_jobs)
    print(f"  bound: small scans, --jobs 0 vs the floor: even with decoding no dearer than the floor "
          f"({floor_cpu_ms:.3f} ms), prediction no dearer than its matrix products "
          f"({stages['small']['products']:.3f} ms), the conversion and the main process at their targets "
          f"(0.08 + 0.03 ms) and every other step free, a cold run of {n_small} files after a "
          f"{empty[0]:.2f} s start-up reaches at most {best:.2f}x the floor in {all_jobs} processes")
    targets = [
        ("main-process CPU per image, --jobs 0, small scans", main_slope, "ms", "<=", 0.03),
        ("dask client CPU per image, 2-worker cluster", client_slope, "ms", "<=", 0.03),
        (f"small scans, CLI --jobs 0 vs the decode floor in {all_jobs} processes", floor_share, "x", ">=", 0.6),
        ("small scans, CLI --jobs 0 vs --jobs 1", scaling, "x", ">=", 1.8),
        ("conversion, CPU per image (small scans)", conv, "ms", "<=", 0.08),
        ("classify on an empty folder", empty[0], "s", "<=", 0.8),
        (f"--incremental rerun, {extra['startup_files']} unchanged files", rerun[0], "s", "<=", 1.0),
        ("lock refusal while a run is busy", lock[0], "s", "<=", 0.5),
        (f"peak memory (tree PSS), {n_small} small files", pss, "MB", "<", 300.0),
    ]
    print()
    print("Issue 20 targets (CLI end to end; medians; this machine, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} now)")
    missed = 0
    for name, value, unit, op, target in targets:
        ok = value <= target if op == "<=" else value >= target if op == ">=" else value < target
        missed += not ok
        print(f"  [{verdict(ok)}] {name:64s} {value:9.4g} {unit:2s} (target {op} {target:g} {unit})")
    print("  [n/a ] accuracy after any conversion change: not measured here; benchmarks/accuracy.py "
          "(docs/accuracy.md)")
    print(f"issue 20: {missed} of {len(targets)} targets missed" if missed
          else f"issue 20: all {len(targets)} targets passed")


if __name__ == "__main__":
    sys.exit(main())
