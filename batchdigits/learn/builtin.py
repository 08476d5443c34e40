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

from ..image.marks import GRID_VERSION
from .modelref import ModelRef, cache_dir, cache_form, open_model_file
from .model import MODEL_FORMAT, DigitModel, ModelError, load_model, save_model


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
    from . import train  # scikit-learn: only when the model must be built

    model = train.train_builtin().model
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    remove_outdated_models(path)
    model.source = str(path)
    model.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return model


def default_model_ref() -> ModelRef | DigitModel:
    """The built-in model as :func:`get_default_model` finds it, through its cached
    numpy form when there is one (:func:`batchdigits.learn.modelref.open_model_file`:
    no scikit-learn imported)."""
    env = os.environ.get("BATCHDIGITS_MODEL")
    path = Path(env) if env else default_model_path()
    if path.exists():
        try:
            return open_model_file(path)
        except ModelError:
            if env:
                raise
    model = get_default_model()
    return cache_form(model) or model


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
