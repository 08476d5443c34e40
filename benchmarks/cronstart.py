"""Issue 20's start-up targets for cron: ``classify``/``show`` through the console script, in one run.

The general cold-start figures (``--help``, ``classify samples``) are ``startup.py``'s.

    python benchmarks/cronstart.py [--files N] [--repeats R]

Prints the median wall time (of R runs, default 5) of:

* ``classify`` on an empty folder (interpreter, imports, opening the model);
* an ``--incremental`` rerun on a folder of N unchanged files (default 5000);
* a second ``classify`` refused by the output lock while a first one is busy;
* ``show`` on one image;

whether scikit-learn was imported by each, the load average with every
figure, and the issue-20 targets (0.8 / 1.0 / 0.5 s) as PASS/MISS.  The
built-in model and its cached numpy form are prepared before measuring.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CLI = str(Path(sys.executable).with_name("batchdigits"))


def run(*args: object, env: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run([CLI, *map(str, args)], capture_output=True, env=env)
    return time.perf_counter() - start, proc.returncode


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def sklearn_imported(*args: object) -> bool:
    code = ("import sys; from batchdigits.cli.app import app\ntry:\n    app(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint('sklearn' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    return proc.stdout.strip().endswith("True")


def median(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def write_inbox(folder: Path, files: int) -> None:
    """``files`` small PNG scans (a bar of ink on white), as a quiet inbox holds."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(files):
        gray = np.full((48, 40), 255, np.uint8)
        gray[rng.integers(5, 15):rng.integers(30, 44), rng.integers(10, 18):rng.integers(22, 30)] = 0
        Image.fromarray(gray).save(folder / f"s{i:05d}.png")


Result = tuple[str, float, "float | None", "bool | None"]  # name, seconds, target, scikit-learn imported


def measure(tmp: Path, files: int, repeats: int, check_imports: bool = True) -> list[Result]:
    """The start-up figures, in ``tmp`` (an empty folder): median seconds of ``repeats`` runs each.

    ``check_imports``: also run each command once more to see whether it imports
    scikit-learn (else None).
    """
    empty, inbox, out = tmp / "empty", tmp / "inbox", tmp / "out"
    empty.mkdir()
    out.mkdir()
    write_inbox(inbox, files)

    def heavy(*args: object) -> bool | None:
        return sklearn_imported(*args) if check_imports else None

    run("classify", empty, "-o", out / "warm.csv", "--quiet")  # model and its numpy form cached
    run("classify", inbox, "-o", out / "inc.csv", "--incremental", "--quiet")
    results: list[Result] = []
    t = median(lambda: run("classify", empty, "-o", out / "e.csv", "--quiet")[0], repeats)
    results.append(("classify, empty folder", t, 0.8, heavy("classify", empty, "-o", out / "e.csv")))
    t = median(lambda: run("classify", inbox, "-o", out / "inc.csv", "--incremental", "--quiet")[0], repeats)
    results.append((f"--incremental rerun, {files} unchanged files", t, 1.0,
                    heavy("classify", inbox, "-o", out / "inc.csv", "--incremental")))
    busy = subprocess.Popen([CLI, "classify", inbox, "-o", out / "busy.csv", "--quiet", "--jobs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # holding the lock, converting and predicting on one core
    refused = []
    for _ in range(repeats):
        took, code = run("classify", inbox, "-o", out / "busy.csv", "--quiet")
        if busy.poll() is None:
            refused.append((took, code))
    busy.kill()
    busy.wait()
    if not refused:
        print("  (the busy run ended before the refusals were measured: use more --files)")
    codes = {c for _, c in refused}
    how = f"exit {','.join(map(str, sorted(codes)))}" if codes else "not measured: the busy run ended first"
    results.append((f"lock refusal while a run is busy ({how})",
                    statistics.median(t for t, _ in refused) if refused else float("nan"), 0.5, None))
    first = sorted(inbox.iterdir())[0]
    t = median(lambda: run("show", first)[0], repeats)
    results.append(("show, one image", t, None, heavy("show", first)))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average at start: {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="bd-startup-"))
    try:
        for name, took, target, heavy in measure(tmp, args.files, args.repeats):
            verdict = "" if target is None else (f"target <= {target} s: " + ("PASS" if took <= target else "MISS"))
            imported = "-" if heavy is None else "yes" if heavy else "no"
            print(f"  {name:<50} {took:6.2f} s  scikit-learn imported: {imported:<3}  "
                  f"{verdict}  (load {load()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
