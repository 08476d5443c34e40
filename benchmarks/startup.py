"""Cold-start wall times of the ``batchdigits`` console script.

    python benchmarks/startup.py [--repeats R] [--first-build] [--files N] [--baseline DIR]

Runs each command R times (default 7) as a fresh subprocess, interleaved, and
prints the median and the range of the wall times:

* ``python -c pass``: the interpreter alone (the floor on this machine now);
* ``batchdigits --help`` and ``batchdigits --version`` (target: < 0.3 s);
* ``batchdigits classify samples`` (the 54 shipped files; one chunk, no workers);
* ``batchdigits classify`` on N copies of the samples (default 500; workers start);

all with the built-in model already cached (in a temporary ``XDG_CACHE_HOME``
built once before the runs).  ``--first-build`` also times that first build
(``classify samples`` with an empty cache: trains and caches the built-in model).
Other load on the machine moves every figure; the load average is printed.

``--baseline DIR`` also runs every command with another version of the
package (DIR holds its ``batchdigits/``, e.g. from
``git archive COMMIT batchdigits | tar -x -C DIR``) on ``PYTHONPATH``,
interleaved with the current one, and prints current / baseline per command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import REPO, code_state

SAMPLES = REPO / "samples"


def script() -> list[str]:
    """The console script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("batchdigits")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "batchdigits"]


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``cmd`` takes; exit codes 0 and 1 (error rows) are fine."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return seconds


def copies(target: Path, n: int) -> Path:
    """A folder of ``n`` image files copied round-robin from samples/ (broken ones left out)."""
    images = sorted(p for p in SAMPLES.glob("*") if p.is_file() and p.suffix.lower() not in (".txt", ".csv"))
    target.mkdir(parents=True)
    for i in range(n):
        src = images[i % len(images)]
        shutil.copyfile(src, target / f"{i:05d}_{src.name}")
    return target


def machine_line() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average at start: {load}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="runs per command (median)")
    ap.add_argument("--files", type=int, default=500, help="files in the larger folder")
    ap.add_argument("--first-build", action="store_true", help="also time the first model build")
    ap.add_argument("--baseline", metavar="DIR", help="compare with the batchdigits package in DIR")
    args = ap.parse_args(argv)
    print(code_state())
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bd-startup-") as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        env.pop("BATCHDIGITS_MODEL", None)
        out = os.path.join(tmp, "p.csv")
        classify = [*script(), "classify", str(SAMPLES), "--out", out, "--quiet", "--force"]
        first = wall(classify, env)  # builds and caches the built-in model
        if args.first_build:
            print(f"first run, building the built-in model: {first:.1f} s")
        big = copies(Path(tmp) / "many", args.files)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "batchdigits --help": [*script(), "--help"],
            "batchdigits --version": [*script(), "--version"],
            "batchdigits classify samples": classify,
            f"batchdigits classify ({args.files} files)": [
                *script(), "classify", str(big), "--out", out, "--quiet", "--force"],
        }
        variants = {"current": env}
        if args.baseline:
            variants["baseline"] = dict(env, PYTHONPATH=os.path.abspath(args.baseline))
        times: dict[tuple[str, str], list[float]] = {(v, name): [] for v in variants for name in commands}
        for _ in range(args.repeats):  # interleaved: load changes hit every command alike
            for name, cmd in commands.items():
                for variant, variant_env in variants.items():
                    times[variant, name].append(wall(cmd, variant_env))
    print(f"wall time of a fresh process, median of {args.repeats} (min-max):")
    for name in commands:
        line = f"  {name:<36}"
        for variant in variants:
            values = times[variant, name]
            line += f" {variant} {statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"
        if args.baseline:
            ratio = statistics.median(times["current", name]) / statistics.median(times["baseline", name])
            line += f"  current/baseline {ratio:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
