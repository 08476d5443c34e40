"""Test environment: a private model cache, no colour, no user model.

The session fixtures below change ``os.environ`` itself (not a copy), so every
subprocess the tests start inherits the same settings.

Building the built-in model is by far the slowest step of the suite, so it is
done once per session: the first run of the console script builds it into the
(empty) session cache -- that run is kept in :class:`FirstRun` for
``test_model_cache.py`` -- and ``get_default_model()`` then loads it for the
in-process tests.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/imagemaker.py, tests/helpers.py

from helpers import run_script  # noqa: E402
from imagemaker import save_digit  # noqa: E402


@dataclass(frozen=True)
class FirstRun:
    """The session's first console-script run, made with an empty model cache."""

    cache: Path  # $XDG_CACHE_HOME
    before: list[str]  # files under cache before the run
    after: list[str]  # ... and after it
    proc: subprocess.CompletedProcess[str]
    out: Path  # its CSV


def cache_listing(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def session_env(tmp_path_factory: pytest.TempPathFactory):
    """XDG_CACHE_HOME -> an empty session temp dir; NO_COLOR; no BATCHDIGITS_MODEL."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("xdg-cache")
    mp.setenv("XDG_CACHE_HOME", str(cache))
    mp.setenv("NO_COLOR", "1")
    mp.setenv("COLUMNS", "120")
    for name in ("BATCHDIGITS_MODEL", "FORCE_COLOR", "CLICOLOR_FORCE"):
        mp.delenv(name, raising=False)
    yield cache
    mp.undo()


@pytest.fixture(scope="session")
def first_run(session_env: Path, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Run the console script once with the empty cache: it builds the model."""
    work = tmp_path_factory.mktemp("first-run")
    save_digit(work / "in" / "one.png", "one")
    before = cache_listing(session_env)
    out = work / "out.csv"
    proc = run_script("classify", work / "in", "--out", out, "--jobs", "1")
    return FirstRun(session_env, before, cache_listing(session_env), proc, out)


@pytest.fixture(scope="session", autouse=True)
def default_model(session_env: Path, first_run: FirstRun):
    """The built-in model, from the session cache (built there once)."""
    from batchdigits.learn.builtin import get_default_model

    return get_default_model()


@pytest.fixture(autouse=True)
def _restore_sigterm():
    """The CLI installs a SIGTERM handler when run in-process; put it back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)
