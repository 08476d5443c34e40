"""The help people meet first: bare ``batchdigits``, ``-V``, and each command's exit codes and environment.

Through the installed console script in a subprocess (issue 21, points 6-8).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from batchdigits import __version__
from helpers import console_script, run_script


def test_bare_batchdigits_prints_the_readable_help_on_stderr_and_exits_2() -> None:
    proc = run_script()

    assert proc.returncode == 2  # a usage error, as click >= 8.2 and POSIX tools do; --help is exit 0
    assert proc.stdout == ""  # help that was not asked for is talk, not data
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("Usage: batchdigits [OPTIONS] COMMAND [ARGS]...")
    assert "error" not in lines[0] and "Traceback" not in proc.stderr
    listed = {line.split()[0] for line in lines if re.match(r"^  (classify|train|evaluate|show|review) ", line)}
    assert listed == {"classify", "train", "evaluate", "show", "review"}  # one command a line
    assert "  Exit codes:" in lines and "  Environment:" in lines
    assert proc.stderr == run_script("--help").stdout  # the very help --help prints


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a pty")
def test_bare_batchdigits_on_a_terminal_is_the_help_not_a_red_error_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="100")
    command = " ".join(console_script()) + "; echo rc=$?"
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=env,
                          timeout=60)
    screen = proc.stdout.replace("\r\n", "\n")

    assert screen.splitlines()[0].startswith("Usage: batchdigits [OPTIONS] COMMAND")
    assert "error:" not in screen and "\x1b[31m" not in screen  # no red one-line error
    assert "\n  classify " in screen and "\n  review " in screen
    assert screen.rstrip().endswith("rc=2")


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_short_and_long(flag: str) -> None:
    proc = run_script(flag)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"batchdigits {__version__}\n"


# What each command's --help must say: its exit codes, and the variables it reads.
MODEL_ENV = {"BATCHDIGITS_MODEL", "XDG_CACHE_HOME", "NO_COLOR"}
APPLIES = {
    "classify": ({0, 1, 2, 70, 75, 130, 141}, MODEL_ENV),
    "train": ({0, 2, 70, 130, 141}, {"NO_COLOR"}),
    "evaluate": ({0, 2, 70, 130, 141}, MODEL_ENV),
    "show": ({0, 1, 2, 70, 130, 141}, MODEL_ENV),
    "review": ({0, 2, 70, 130}, MODEL_ENV),
}
ALL_ENV = {"BATCHDIGITS_MODEL", "XDG_CACHE_HOME", "NO_COLOR"}


def sections(help_text: str) -> tuple[dict[int, str], set[str]]:
    """The exit codes (code -> meaning) and variable names listed in a help text's epilog."""
    codes: dict[int, str] = {}
    names: set[str] = set()
    where = None
    for line in help_text.splitlines():
        if line.strip() in ("Exit codes:", "Environment:"):
            where = line.strip()
        elif where == "Exit codes:" and (m := re.match(r"^ +(\d+) +(\S.*)$", line)):
            codes[int(m.group(1))] = m.group(2)
        elif where == "Environment:" and (m := re.match(r"^ +([A-Z_]+)\b", line)):
            names.add(m.group(1))
        elif not line.strip():
            where = None
    return codes, names


@pytest.mark.parametrize("command", sorted(APPLIES))
def test_every_commands_help_lists_its_exit_codes_and_environment(command: str) -> None:
    proc = run_script(command, "--help")

    assert proc.returncode == 0, proc.stderr
    codes, names = sections(proc.stdout)
    wanted_codes, wanted_env = APPLIES[command]
    assert set(codes) == wanted_codes, proc.stdout
    assert names == wanted_env, proc.stdout
    assert all(len(line) <= 100 for line in proc.stdout.splitlines())  # a line each, readable at COLUMNS=120


def test_the_top_level_help_lists_every_code_and_variable_with_the_commands_words() -> None:
    top, top_env = sections(run_script("--help").stdout)
    classify, _ = sections(run_script("classify", "--help").stdout)

    assert set(top) == {0, 1, 2, 70, 75, 130, 141} and top_env == ALL_ENV
    for code in (2, 70, 75, 141):  # one source: the shared meanings read the same everywhere
        assert top[code] == classify[code]
