"""The shipped samples/ are what benchmarks/make_samples.py makes (deterministic)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
LOSSLESS = (".png", ".bmp", ".gif", ".pgm", ".tif")


def test_make_samples_remakes_the_shipped_samples(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_samples.py"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shipped = REPO / "samples"

    def listing(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert listing(tmp_path) == listing(shipped)
    for name in ("labels.csv", "README.txt", "bad/empty.png", "bad/notes.png"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
    for path in shipped.glob("scan_*"):  # lossy encoders may differ between Pillow builds
        if path.suffix in LOSSLESS:
            with Image.open(path) as a, Image.open(tmp_path / path.name) as b:
                assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA"))), path.name


def test_samples_are_ten_writers_with_every_digit_five_times() -> None:
    with open(REPO / "samples" / "labels.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 50
    assert Counter(r["label"] for r in rows) == {str(d): 5 for d in range(10)}
    assert Counter(r["writer"] for r in rows) == {f"w{w:02d}": 5 for w in range(10)}
