"""Cold start: --help and --version load none of the numeric libraries (timings: benchmarks/startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ["numpy", "scipy", "PIL", "sklearn", "skops", "joblib"]


@pytest.mark.parametrize("argv", [None, ["--help"], ["--version"], ["classify", "--help"]])
def test_help_and_version_import_no_numerics(argv: list[str] | None) -> None:
    run = "" if argv is None else (
        f"sys.argv = ['batchdigits', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    code = (
        "import sys\nfrom batchdigits.cli.app import main\n" + run +
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="100"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
