"""The built-in model: ``$BATCHDIGITS_MODEL``, the user's cache, or trained now (first run only).

The cache file's name carries the grid conversion, model format and
scikit-learn versions, so an upgrade rebuilds it; outdated ones are removed.

>>> model = get_default_model()     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..image.marks import GRID_VERSION
from .formats import MODEL_FORMAT, ModelError
from .modelref import ModelRef, cache_dir, cache_form, open_model_file

if TYPE_CHECKING:  # .model (numpy) is imported where a model is loaded or saved
    from .model import DigitModel


def default_model_path() -> Path:
    """Where the built-in model is cached; its name carries the versions."""
    sklearn_version = installed_version("scikit-learn", "scikit_learn")  # without importing it
    name = f"default-g{GRID_VERSION}-f{MODEL_FORMAT}-sk{sklearn_version}.skops"
    return cache_dir() / name


def installed_version(name: str, folder_name: str) -> str:
    """``importlib.metadata.version(name)``, read straight from the one ``FOLDER_NAME-*.dist-info``
    of the first ``sys.path`` entry that has it (``importlib.metadata`` itself takes 20-40 ms
    to import, a tenth of a cron run's start); anything less plain is asked of it."""
    prefix = f"{folder_name}-".lower()
    for entry in sys.path:
        try:
            names = [n for n in os.listdir(entry or ".") if n.lower().startswith(prefix)]
        except OSError:
            continue
        if not names:
            continue
        if len(names) == 1 and names[0].endswith(".dist-info"):
            try:
                with open(os.path.join(entry or ".", names[0], "METADATA"), encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("Version: "):
                            return line[len("Version: "):].strip()
                        if not line.strip():
                            break  # the end of the headers
            except OSError:
                pass
        break
    import importlib.metadata

    return importlib.metadata.version(name)


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
    from .model import save_model

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
    from .model import load_model

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
