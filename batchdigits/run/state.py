"""Files a run keeps beside its CSV: the incremental state, the lock and the folder record.

For an output ``predictions.csv`` they are ``.predictions.csv.state.json``,
``.predictions.csv.lock`` and ``.predictions.csv.folder.json`` in the same
directory (a name over 200 bytes is shortened there, see
:func:`batchdigits.io.atomic.short_name`).
"""

from __future__ import annotations

import os

from ..io.atomic import short_name


def state_path(out: str) -> str:
    """Path of the incremental-state file for the CSV ``out``."""
    return _beside(out, "state.json")


def lock_path(out: str) -> str:
    """Path of the lock file for the CSV ``out``."""
    return _beside(out, "lock")


def origin_path(out: str) -> str:
    """Path of the record of which folder the CSV ``out`` was made from (:mod:`.origin`)."""
    return _beside(out, "folder.json")


def own_file_names(out: str) -> set[str]:
    """Base names of every file a run writes for ``out`` (temp files aside)."""
    return {os.path.basename(p) for p in (out, state_path(out), lock_path(out), origin_path(out))}


def _beside(out: str, suffix: str) -> str:
    directory, name = os.path.split(os.path.abspath(out))
    return os.path.join(directory, f".{short_name(name)}.{suffix}")
