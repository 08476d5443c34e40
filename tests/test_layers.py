"""The package's folders are layers: no module imports a folder above its own, and no import circle.

Layers, bottom to top (README, "The layers"):

    io (+ defaults.py, exitcodes.py)  <  image  <  learn  <  run  <  web  <  cli

Every import counts, also those inside functions (a lazy import is still an
arrow); only ``if TYPE_CHECKING:`` blocks are left out.  The package's
``__init__`` is the public facade: it may name anything, and only the
command line may import it (for ``__version__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import batchdigits

PACKAGE = Path(batchdigits.__file__).parent
LAYERS = ["io", "image", "learn", "run", "web", "cli"]
BOTTOM = {"batchdigits.defaults", "batchdigits.exitcodes"}


def module_name(path: Path) -> str:
    parts = ("batchdigits",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    """The rank of a module's layer; ``None`` for the facade ``batchdigits`` itself."""
    if module == "batchdigits":
        return None
    if module in BOTTOM:
        return 0
    folder = module.split(".")[1]
    if folder == "__main__":
        return LAYERS.index("cli")
    assert folder in LAYERS, f"{module}: a module outside the layers (add its folder to LAYERS and the README)"
    return LAYERS.index(folder)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports (relative imports resolved; ``from . import x`` as ``pkg.x``)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found: set[str] = set()
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] == "batchdigits")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != "batchdigits":
                    continue
                for alias in child.names:  # `from . import x` may name a module
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(me)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_imports_a_folder_above_its_own() -> None:
    upward = []
    for module, imported in graph().items():
        mine = layer(module)
        for other in sorted(imported):
            theirs = layer(other)
            if theirs is None:
                if mine is not None and mine != LAYERS.index("cli"):
                    upward.append(f"{module} -> {other} (the facade: only the command line imports it)")
            elif mine is not None and theirs > mine:
                upward.append(f"{module} ({LAYERS[mine]}) -> {other} ({LAYERS[theirs]})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_no_import_circles() -> None:
    edges = graph()
    edges.pop("batchdigits", None)  # the facade's lazy names are not a dependency of what they name
    assert cycles(edges) == []


def test_the_checks_see_an_upward_import_and_a_circle() -> None:
    """The checks themselves work: a circle is found, and the real graph has the arrows we know of."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    edges = graph()
    assert "batchdigits.io.files" in edges["batchdigits.image.load"]
    assert "batchdigits.run.classify" in edges["batchdigits.cli.classify"]  # an import inside a function counts
    assert layer("batchdigits.cli.app") > layer("batchdigits.web.webreview") > layer("batchdigits.run.classify")
