"""Default settings shared by the library and the CLI, in a module that imports nothing.

The CLI reads them for its ``--help`` without importing numpy or scikit-learn.
"""

from __future__ import annotations

DEFAULT_MIN_CONFIDENCE = 0.96  # calibrated: chosen on the DEV writers of benchmarks/accuracy.py, see README
DEFAULT_BATCH_SIZE = 512
DEFAULT_MAX_PIXELS = 25_000_000  # decoded pixels per image at most: a digit scan never needs more
DEFAULT_SCHEDULER_TIMEOUT = 60.0  # seconds to reach a dask scheduler, and for its first worker to join
