"""The lowest declared versions, from pyproject.toml, for CI's lowest-versions run.

    python3 .ci/floors.py > floors.txt      # "name==floor" for every direct dependency
    pip install -c floors.txt -e '.[dev]'   # the package with exactly those versions
    python .ci/floors.py --check            # one line: the floors installed, or exit 1

Every dependency of the package and of its ``dev`` extra must carry a ``>=``
floor (a dependency without one is an error here): the floors are what the
metadata promises, so CI installs exactly them and runs the suite.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
EXTRAS = ("dev",)
# name, optional [extras], then the floor; other clauses (",<2") may follow
FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)")


def floors(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """``{distribution name: lowest declared version}`` of the package and its dev extra."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in EXTRAS:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    found: dict[str, str] = {}
    for spec in specs:
        match = FLOOR.match(spec)
        if match is None:
            raise SystemExit(f"floors.py: {spec!r} in pyproject.toml declares no '>=' floor")
        name, version = _normal(match.group(1)), match.group(2)
        if name in found and found[name] != version:
            raise SystemExit(f"floors.py: {name} has two floors, {found[name]} and {version}")
        found[name] = version
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def check(wanted: dict[str, str]) -> int:
    """Print the installed versions of ``wanted``; 1 when any is not its floor."""
    installed = {name: metadata.version(name) for name in wanted}
    wrong = [f"{n} {v} (floor {wanted[n]})" for n, v in installed.items() if _release(v) != _release(wanted[n])]
    if wrong:
        print("not the lowest declared versions: " + ", ".join(wrong), file=sys.stderr)
        return 1
    print("lowest declared versions installed: " + ", ".join(f"{n} {v}" for n, v in installed.items()))
    return 0


def main(argv: list[str]) -> int:
    wanted = floors()
    if argv == ["--check"]:
        return check(wanted)
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    for name, version in wanted.items():
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
