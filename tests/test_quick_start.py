"""Start-up under cron (issue 20): what a command imports, and the option values it gets.

Timings are ``benchmarks/cronstart.py``'s; these tests check the causes: which
modules a fresh process imports (asked of ``sys.modules`` in a subprocess),
and that the values typer's pydantic coercion would give are what
:mod:`batchdigits.cli.quickvalues` gives without it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._coercion import build_runtime_param
from typer.testing import CliRunner

from batchdigits.cli.app import app
from batchdigits.cli.quickvalues import QuickValue

IMPORTS = textwrap.dedent("""
    import sys
    from batchdigits.cli.app import main
    sys.argv = ["batchdigits", *sys.argv[1:]]
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    names = ("pydantic", "numpy", "cv2", "PIL", "joblib", "sklearn", "skops", "scipy")
    print("CODE", code, "IMPORTED", ",".join(m for m in names if m in sys.modules) or "-")
""")


def imported(*args: object) -> str:
    proc = subprocess.run([sys.executable, "-c", IMPORTS, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_classify_on_an_empty_folder_imports_neither_pydantic_nor_numpy_nor_opencv_nor_joblib(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "p.csv"
    assert imported("classify", tmp_path / "empty", "-o", out, "--quiet") == "CODE 0 IMPORTED -"
    assert imported("classify", tmp_path / "empty", "-o", out, "--incremental", "--quiet") == "CODE 0 IMPORTED -"


def test_a_bad_value_is_still_typers_own_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "batchdigits", "classify", str(tmp_path / "empty"),
                           "--jobs", "two"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()  # timestamped: no terminal
    assert line.endswith(
        " batchdigits: error: Invalid value for '--jobs' / '-j': Input should be a valid integer, unable to "
        "parse string as an integer (see --help)"
    )


def _params() -> list[tuple[str, Any]]:
    group = typer.main.get_command(app)
    found = [("", p) for p in group.params]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        found += [(name, p) for p in command.params]
    return found


def _outcome(coerce: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return "error", (type(exc).__name__, getattr(exc, "message", str(exc)))
    return "value", (type(result).__name__, repr(result))


def _values(tmp: Path, param: Any) -> list[Any]:
    (tmp / "dir").mkdir(exist_ok=True)
    (tmp / "file.png").write_bytes(b"x")
    plain = [
        "", "0", "7", "-3", "-0", "007", "1_000", " 5", "5.0", "0.5", ".5", "1e3", "nan", "abc", "loky", "dask",
        "LOKY", "svc", "knn", "nope", str(tmp / "dir"), str(tmp / "dir") + "/", str(tmp / "file.png"),
        str(tmp / "file.png") + "/", str(tmp / "missing"), "-", "a\udcffb", "a\x00b", "x" * 40, 512, 0, 0.96,
        60.0, 60, True, False,
    ]
    if param.default is not None:
        plain.append(param.default)
    if param.multiple or param.nargs == -1:
        return [None, (), [], (str(tmp / "dir"),), (str(tmp / "file.png"), str(tmp / "missing")),
                ("a\udcffb",), ("",), "single"]
    return [None, *plain]


@pytest.mark.parametrize("where,param", _params(), ids=lambda x: getattr(x, "name", x))
def test_quick_values_are_typers_values(where, param, tmp_path):
    ctx = typer.main.get_command(app).make_context("batchdigits", [], resilient_parsing=True)
    slow = build_runtime_param(param.type_descriptor)
    quick = QuickValue(param)
    for value in _values(tmp_path, param):
        expected = _outcome(slow.coerce, value, param, ctx)
        got = _outcome(quick.coerce, value, param, ctx)
        assert got == expected, (where, param.name, value)


def test_every_parameter_gets_the_quick_coercion():
    group = typer.main.get_command(app)
    result = CliRunner().invoke(app, ["classify", "--help"])
    assert result.exit_code == 0
    ctx = group.make_context("batchdigits", ["classify"], resilient_parsing=True)
    command = group.commands["classify"]  # type: ignore[attr-defined]
    params = command.get_params(ctx)
    assert all(isinstance(p._runtime_param, QuickValue) for p in params if hasattr(p, "type_descriptor")), \
        [p.name for p in params]


def test_no_pydantic_for_typical_commands(tmp_path):
    """Only a bad value needs pydantic (typer words its error)."""
    (tmp_path / "empty").mkdir()
    assert "pydantic" not in imported("show", tmp_path / "missing.png")
    assert "pydantic" not in imported("classify", tmp_path / "empty", "-o", tmp_path / "p.csv", "--quiet")
    assert "pydantic" in imported("classify", tmp_path / "empty", "--jobs", "two")


def test_the_cached_forms_spec_is_read_without_numpy_as_numpy_reads_it(default_model, tmp_path):
    import json

    import numpy as np

    from batchdigits.learn.modelref import _read_spec, open_model_file

    ref = open_model_file(default_model.source)  # its numpy form cached
    cached = ref.arrays.path  # type: ignore[union-attr]
    with np.load(cached, allow_pickle=False) as data:
        expected = json.loads(str(data["spec"]))
    assert _read_spec(cached) == expected and expected["format"] == 2
    for spec in (np.array(json.dumps({"format": 2, "é": "ü" * 300})),
                 np.array(json.dumps({"b": 2}), dtype=">U40")):  # plain; big-endian: numpy reads it
        path = tmp_path / "form.npz"
        np.savez(path, spec=spec, other=np.zeros(3))
        with np.load(path, allow_pickle=False) as data:
            assert _read_spec(str(path)) == json.loads(str(data["spec"]))
    (tmp_path / "bad.npz").write_bytes(b"PK not a zip")
    with pytest.raises((OSError, ValueError, KeyError, EOFError)):
        _read_spec(str(tmp_path / "bad.npz"))


def test_show_names_a_file_as_it_is_with_no_markup_or_emoji_read_in_it(tmp_path, default_model):
    from imagemaker import save_digit

    image = tmp_path / "[draft] :smile: 7.png"
    save_digit(image, "one", size=(40, 56))
    result = CliRunner().invoke(app, ["show", str(image)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{image}" in result.output  # was shown as ".../ 😄 7.png"


@pytest.mark.parametrize("name,folder_name", [("scikit-learn", "scikit_learn"), ("numpy", "numpy"),
                                              ("typer", "typer"), ("pillow", "pillow"), ("no-such", "no_such")])
def test_installed_version_is_importlib_metadatas(name, folder_name):
    import importlib.metadata

    from batchdigits.learn.builtin import installed_version

    try:
        expected = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            installed_version(name, folder_name)
        return
    assert installed_version(name, folder_name) == expected
