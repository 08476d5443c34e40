"""The built-in model: ``$BATCHDIGITS_MODEL``, the user's cache, or trained now (first run only).

The cache file's name carries the grid conversion, model format and
scikit-learn versions, so an upgrade rebuilds it; outdated ones are removed.

>>> model = get_default_model()     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

import platformdirs

from ..image.grid import GRID_VERSION
from .model import MODEL_FORMAT, DigitModel, ModelError, load_model, save_model
from .train import train_builtin


def cache_dir() -> Path:
    """The user cache directory for batchdigits (honours ``$XDG_CACHE_HOME``)."""
    return Path(platformdirs.user_cache_dir("batchdigits", appauthor=False))


def default_model_path() -> Path:
    """Where the built-in model is cached; its name carries the versions."""
    sklearn_version = importlib.metadata.version("scikit-learn")  # without importing it
    name = f"default-g{GRID_VERSION}-f{MODEL_FORMAT}-sk{sklearn_version}.skops"
    return cache_dir() / name


def get_default_model() -> DigitModel:
    """Return the built-in model: ``$BATCHDIGITS_MODEL``, the cache, or trained now."""
    env = os.environ.get("BATCHDIGITS_MODEL")
    if env:
        return _load_once(env)
    path = default_model_path()
    if path.exists():
        try:
            return _load_once(path)
        except ModelError:
            pass  # a damaged cache entry is rebuilt below
    model = train_builtin().model
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    remove_outdated_models(path)
    model.source = str(path)
    model.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return model


def remove_outdated_models(current: Path) -> list[Path]:
    """Delete built-in models cached for other versions (grid, format, scikit-learn)."""
    removed = []
    for old in current.parent.glob("default-g*-f*-sk*.skops"):
        if old.name != current.name:
            try:
                old.unlink()
                removed.append(old)
            except OSError:
                pass  # another user's file, or gone already: not ours to insist on
    return removed


_LOADED: dict[tuple[str, int, int], DigitModel] = {}


def _load_once(path: str | os.PathLike[str]) -> DigitModel:
    """``load_model``, reusing the model already loaded from this unchanged file."""
    try:
        info = os.stat(path)
    except OSError:
        return load_model(path)  # says why it cannot be read
    key = (os.fspath(path), info.st_size, info.st_mtime_ns)
    if key not in _LOADED:
        model = load_model(path)
        _LOADED.clear()
        _LOADED[key] = model
    return _LOADED[key]
