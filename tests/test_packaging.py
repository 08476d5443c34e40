"""Packaging: the sdist carries a runnable test tree, the metadata declares what the code imports."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import batchdigits

ROOT = Path(batchdigits.__file__).resolve().parent.parent
BUILD_SDIST = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
NOT_SOURCE = {".git", ".cache", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", "predictions.csv"}


def _floors_module():
    spec = importlib.util.spec_from_file_location("floors", ROOT / ".ci" / "floors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in NOT_SOURCE or n.startswith(".venv") or n.endswith((".egg-info", ".pyc"))}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A copy of the source tree, the sdist built from it (setuptools, no network), the build's stderr."""
    work = tmp_path_factory.mktemp("sdist")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_ignore, symlinks=True)
    out = work / "dist"
    proc = subprocess.run(
        [sys.executable, "-c", BUILD_SDIST, str(out)],
        cwd=source, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    archive = out / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    [unpacked] = (work / "unpacked").iterdir()
    return source, unpacked, proc.stderr


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_the_sdist_ships_the_whole_test_tree(sdist):
    source, unpacked, _ = sdist
    shipped = _files(unpacked)
    for helper in ("tests/conftest.py", "tests/helpers.py", "tests/imagemaker.py", "tests/browser.py"):
        assert helper in shipped
    assert {f"tests/{f}" for f in _files(source / "tests")} == {f for f in shipped if f.startswith("tests/")}
    assert {f"benchmarks/{f}" for f in _files(source / "benchmarks")} <= shipped
    needed_files = (
        "LICENSE", "README.md", "pyproject.toml", "batchdigits/py.typed",
        "batchdigits/web/static/review.js", "batchdigits/learn/data/strokes.npz",
    )
    for needed in needed_files:
        assert needed in shipped


def test_the_unpacked_sdist_collects_every_test_file(sdist):
    """Before, 17 test files failed to collect: conftest.py, helpers.py, imagemaker.py were missing."""
    source, unpacked, _ = sdist
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=unpacked, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}
    assert collected == {f"tests/{p.name}" for p in (source / "tests").glob("test_*.py")}


def test_the_metadata_is_an_spdx_license_and_one_version(sdist):
    _, unpacked, stderr = sdist
    info = (unpacked / "PKG-INFO").read_text(encoding="utf-8")
    assert "License-Expression: MIT" in info
    assert "License-File: LICENSE" in info
    assert "Classifier: Operating System :: POSIX" in info
    assert f"Version: {batchdigits.__version__}\n" in info
    assert re.search(r"^Requires-Dist: scipy>=", info, re.M)
    assert [line for line in info.splitlines() if line.lower().startswith("requires-dist: selenium")] == [
        'Requires-Dist: selenium>=4.20; extra == "dev"'
    ]
    assert "deprecat" not in stderr.lower()  # the license table drew a warning on every build


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "batchdigits").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "batchdigits"}


def test_every_imported_library_is_a_declared_dependency_with_a_floor():
    """scipy was imported by grid.py but not declared."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = _floors_module().floors()
    runtime = {_floors_module()._normal(re.split(r"[\[<>=!~;\s]", spec)[0]) for spec in project["dependencies"]}
    optional = {"dask", "distributed"}  # --backend dask: an extra, imported only when asked for
    by_module = metadata.packages_distributions()
    for module in sorted(_third_party_imports() - optional):
        dists = {_floors_module()._normal(d) for d in by_module.get(module, [])}
        assert dists & runtime, f"{module} is imported by batchdigits but not declared in dependencies"
        assert dists & set(floors)
    assert "selenium" not in runtime and "selenium" in floors  # dev only


def test_floors_refuses_a_dependency_without_a_floor(tmp_path):
    floors = _floors_module()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["numpy>=1.26", "pillow"]\n[project.optional-dependencies]\ndev = []\n'
    )
    with pytest.raises(SystemExit, match="'pillow' in pyproject.toml declares no '>=' floor"):
        floors.floors(tmp_path / "pyproject.toml")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["numpy>=1.26,<3", "Scikit_Learn>=1.5"]\n'
        '[project.optional-dependencies]\ndev = ["dask[distributed]>=2024.1"]\n'
    )
    assert floors.floors(tmp_path / "pyproject.toml") == {"numpy": "1.26", "scikit-learn": "1.5", "dask": "2024.1"}
