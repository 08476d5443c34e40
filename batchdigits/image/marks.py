"""The image layer's constants that light modules name: no numpy, OpenCV or Pillow imported.

A run's main process records :data:`GRID_VERSION` in its state and model cache
names, and tells a reused error row from a transient one by :data:`WORKER_DIED`,
without ever converting an image itself (its workers do): an empty folder or an
unchanged ``--incremental`` rerun under cron never imports OpenCV.
:mod:`batchdigits.image.grid` and :mod:`batchdigits.image.convert` export the same names.
"""

from __future__ import annotations

GRID_VERSION = 6
"""Bumped whenever the conversion (:mod:`batchdigits.image.grid`) changes; models record the version."""

WORKER_DIED = "worker died while decoding"
"""The error of a file whose worker process died reading it (see ``map_ordered``)."""
