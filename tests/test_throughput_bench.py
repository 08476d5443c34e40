"""``benchmarks/throughput.py --quick`` runs end to end on tiny folders and prints every
issue-20 target with a verdict (the figures themselves mean nothing at this size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "throughput.py"

TARGETS = [
    "main-process CPU per image, --jobs 0, small scans",
    "dask client CPU per image, 2-worker cluster",
    "small scans, CLI --jobs 0 vs the decode floor in 2 processes",
    "small scans, CLI --jobs 0 vs --jobs 1",
    "conversion, CPU per image (small scans)",
    "classify on an empty folder",
    "--incremental rerun, 130 unchanged files",
    "lock refusal while a run is busy",
    "peak memory (tree PSS), 130 small files",
]


def test_throughput_quick_prints_every_issue_20_target(tmp_path):
    keep = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--files", "12", "--small", "130", "--large", "1",
         "--startup-files", "130", "--keep", str(keep)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )

    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("floor: decode only, 1 process", "floor: decode only, 2 processes",
                 "classify CLI --jobs 1 (cold process)", "classify CLI --jobs 0 (2, cold process)",
                 "grid conversion (images_to_grids, workers' chunks)"):
        assert line in out, line
    assert re.search(r"classify --backend dask, 2 workers of 1 thread, the client alone: -?[\d.]+ ms per image "
                     r".*\(\d+\.\d+ s, 130 rows\)", out)
    section = out[out.index("Issue 20 targets"):]
    for target in TARGETS:
        assert re.search(rf"\[(PASS|MISS)\] {re.escape(target)} +\S+ +(ms|s|x|MB) +\(target [<>=]+ [\d.]+", section), \
            target
    assert re.search(r"issue 20: (all 9 targets passed|\d of 9 targets missed)", section)
