"""Open a model file for a run without importing scikit-learn when it can be helped.

``open_model_file(path)`` hashes the file (SHA-256) and looks for its numpy form
(:mod:`batchdigits.learn.arrays`) in the user cache, named by that hash.  Found:
a :class:`ModelRef`, nothing heavy imported, nothing but the form's ``spec`` read.
Not found: the skops file is loaded and validated as always
(:func:`~batchdigits.learn.model.load_model`), its numpy form derived and checked
(:func:`~batchdigits.learn.export.to_arrays`) and cached, so every later run
starts fast.  A model that has no numpy form, or a pickle (``--allow-pickle``: its
form is never cached, so a later run without the flag is still refused), comes
back as the loaded :class:`~batchdigits.learn.model.DigitModel`.

The form is derived only from a file that passed validation, and is keyed by
the hash of that file's bytes and by the grid conversion version: a changed
file, or an upgrade, derives it again.

>>> model = open_model_file("mine.skops")      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..image.marks import GRID_VERSION
from ..io.atomic import atomic_write
from ..io.hashing import file_sha256
from .formats import ARRAYS_FORMAT  # not .arrays: no numpy until the model is loaded

if TYPE_CHECKING:
    from .arrays import ArrayModel
    from .model import DigitModel


@dataclass(frozen=True)
class ModelRef:
    """A validated model file and its cached numpy form, not yet loaded.

    ``load()`` gives the :class:`~batchdigits.learn.arrays.ArrayModel` (numpy only);
    ``full()`` the :class:`~batchdigits.learn.model.DigitModel` (scikit-learn), for
    what needs the fitted estimators (``--adapt``).
    """

    source: str
    sha256: str
    arrays: ArraysFile
    metadata: dict[str, Any] = field(default_factory=dict)

    def load(self) -> ArrayModel:
        model = self.arrays.load()
        model.source = self.source
        return model

    def full(self) -> DigitModel:
        from .model import load_model

        return load_model(self.source)


class ArraysFile:
    """A reference to a saved numpy form, sent to local workers instead of the arrays:
    ``load()`` reads it once per process (kept while the same file is asked for;
    numpy is imported then, not with this module)."""

    def __init__(self, path: str, sha256: str):
        self.path, self.sha256 = path, sha256

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArraysFile, (self.path, self.sha256))

    def load(self) -> ArrayModel:
        from .arrays import _LOADED, load_arrays

        key = (self.path, self.sha256)
        model = _LOADED.get(key)
        if model is None:
            model = load_arrays(self.path, sha256=self.sha256)
            _LOADED.clear()
            _LOADED[key] = model
        return model


def cache_dir() -> Path:
    """The user cache directory for batchdigits (honours ``$XDG_CACHE_HOME``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("batchdigits", appauthor=False))


def arrays_cache_path(sha256: str) -> Path:
    """Where the numpy form of the model file with this hash is cached."""
    return cache_dir() / "arrays" / f"{sha256}-g{GRID_VERSION}-a{ARRAYS_FORMAT}.npz"


def open_model_file(path: str | os.PathLike[str], allow_pickle: bool = False) -> ModelRef | DigitModel:
    """The model at ``path``: its cached numpy form, or loaded (see the module docstring)."""
    path = os.fspath(path)
    if _is_skops(path):
        ref = cached_ref(path, file_sha256(path))
        if ref is not None:
            return ref
    from .model import load_model

    model = load_model(path, allow_pickle=allow_pickle)  # validates; raises ModelError
    if not _is_skops(path):
        return model
    return cache_form(model) or model


def cached_ref(path: str, sha256: str) -> ModelRef | None:
    """A :class:`ModelRef` if the numpy form of this file content is cached and readable."""
    if not sha256:
        return None
    cached = arrays_cache_path(sha256)
    try:
        spec = _read_spec(str(cached))
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if spec.get("format") != ARRAYS_FORMAT:
        return None
    return ModelRef(path, sha256, ArraysFile(str(cached), sha256), dict(spec.get("metadata") or {}))


_PLAIN_SPEC = re.compile(r"\{'descr': '<U([0-9]+)', 'fortran_order': False, 'shape': \(\), \} *\n")


def _read_spec(cached: str) -> dict[str, Any]:
    """The ``spec`` (JSON) of a numpy form's ``.npz``: its ``spec.npy``, a 0-d unicode
    array, read with the standard library (numpy takes 0.1 s to import, and a run
    that reads no file needs nothing else of it); anything else is read by numpy."""
    try:
        with zipfile.ZipFile(cached) as archive:
            raw = archive.read("spec.npy")
        if raw[:6] != b"\x93NUMPY" or raw[6] not in (1, 2, 3):
            raise ValueError("not a .npy")
        size, start = (2, 10) if raw[6] == 1 else (4, 12)
        end = start + int.from_bytes(raw[8:8 + size], "little")
        plain = _PLAIN_SPEC.fullmatch(raw[start:end].decode("latin-1"))
        if plain is None or len(raw) - end != 4 * int(plain[1]):
            raise ValueError("not a 0-d little-endian unicode array")
        text = raw[end:].decode("utf-32-le").rstrip("\x00")
    except Exception:  # noqa: BLE001 - numpy reads it, and says what is wrong, as it always did
        import numpy as np

        with np.load(cached, allow_pickle=False) as data:
            text = str(data["spec"])
    spec: dict[str, Any] = json.loads(text)
    return spec


def cache_form(model: DigitModel) -> ModelRef | None:
    """Derive, check and cache the numpy form of ``model`` (loaded from ``model.source``)."""
    import numpy as np

    from .export import to_arrays

    form = to_arrays(model)
    if form is None or not model.sha256:
        return None
    cached = arrays_cache_path(model.sha256)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(str(cached), binary=True) as fh:
            np.savez(fh, **form.arrays)  # type: ignore[arg-type]
    except OSError:
        return None  # a read-only cache: this run uses the model as loaded
    return ModelRef(model.source, model.sha256, ArraysFile(str(cached), model.sha256), dict(model.metadata))


def _is_skops(path: str) -> bool:
    from ..io.files import open_input

    try:
        with open_input(path) as fh:  # never blocks on a FIFO
            return fh.read(2) == b"PK"
    except OSError:
        return False

