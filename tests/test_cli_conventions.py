"""The command line as people meet it: -h, help text, completion, cold imports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from helpers import console_script, one_line_error, run_cli, run_script

COMMANDS = ["classify", "train", "evaluate", "show", "review"]
PYTHON_TYPES = ["<bool>", "<str>", "<int>", "<float>", "<path>", "<list[", "{folder}", "{images}",
                "{predictions}", "BOOLEAN", "TEXT", "INTEGER"]


def help_text(*args: str) -> str:
    """``batchdigits ARGS --help`` as a user sees it on a wide terminal (no wrapping)."""
    proc = run_script(*args, "--help", env={"COLUMNS": "220", "TERMINAL_WIDTH": "220"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_dash_h_is_help_on_every_command(command: str) -> None:
    args = [command] if command else []
    short, long = run_cli(*args, "-h"), run_cli(*args, "--help")

    assert short.exit_code == 0 and long.exit_code == 0
    assert "Usage:" in short.stdout
    assert short.stdout == long.stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_what_to_type_not_python_types(command: str) -> None:
    text = help_text(*([command] if command else []))

    for python_type in PYTHON_TYPES:
        assert python_type not in text, f"{python_type} in the help of {command or 'batchdigits'}"


def test_help_names_the_values() -> None:
    classify = help_text("classify")
    assert re.search(r"Usage: batchdigits classify \[OPTIONS\] FOLDER\s*$", classify, re.M)
    for option, metavar in [("--out", "PATH"), ("--model", "PATH"), ("--batch-size", "N"),
                            ("--jobs", "N"), ("--min-confidence", "X"), ("--summary-json", "PATH"),
                            ("--backend", "[loky|dask]")]:
        assert re.search(rf"{re.escape(option)}\b.*?\s{re.escape(metavar)}\s", classify), option
    assert re.search(r"Usage: batchdigits show \[OPTIONS\] IMAGE\.\.\.\s*$", help_text("show"), re.M)
    train = help_text("train")
    assert re.search(r"--classifier\b.*\[svc\|logistic\|knn\]", train)
    assert re.search(r"--data\b.*\sFOLDER\s", train)


def test_classifier_choices_are_the_library_ones() -> None:
    from batchdigits.cli.train import Classifier
    from batchdigits.learn.fit import CLASSIFIERS

    assert [c.value for c in Classifier] == list(CLASSIFIERS)


def test_enum_options_accept_the_names_and_refuse_others(tmp_path) -> None:
    result = run_cli("classify", tmp_path, "--backend", "threads")

    assert result.exit_code == 2
    assert "threads" in result.output and "loky" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_examples_line_by_line(command: str) -> None:
    text = help_text(command)

    examples = re.findall(rf"^\s*(?:│\s*)?batchdigits {command}\b.*$", text, re.M)
    assert text.count("Examples") == 1
    assert len(examples) >= 2, text  # each on its own line: click kept the line breaks


def test_help_lists_the_environment_variables() -> None:
    for text in (help_text(), help_text("classify")):
        for name in ("BATCHDIGITS_MODEL", "XDG_CACHE_HOME", "NO_COLOR"):
            assert name in text


def test_completion_options_are_offered() -> None:
    text = help_text()

    assert "--install-completion" in text and "--show-completion" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_is_generated_and_completes(tmp_path) -> None:
    script = run_script(env={"_BATCHDIGITS_COMPLETE": "source_bash"})
    assert script.returncode == 0, script.stderr
    assert "_BATCHDIGITS_COMPLETE" in script.stdout and "complete " in script.stdout
    # bash accepts the script and registers it for the command
    (tmp_path / "completion.bash").write_text(script.stdout)
    registered = subprocess.run(["bash", "-c", f"source {tmp_path / 'completion.bash'}; complete -p batchdigits"],
                                capture_output=True, text=True)
    assert registered.returncode == 0 and "batchdigits" in registered.stdout, registered.stderr
    # and what it asks the program for: the commands starting with "cl", the options of classify
    words = run_script(env={"_BATCHDIGITS_COMPLETE": "complete_bash",
                            "COMP_WORDS": "batchdigits cl", "COMP_CWORD": "1"})
    assert words.stdout.split() == ["classify"]
    options = run_script(env={"_BATCHDIGITS_COMPLETE": "complete_bash",
                              "COMP_WORDS": "batchdigits classify --min", "COMP_CWORD": "2"})
    assert "--min-confidence" in options.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_show_completion_prints_the_script_for_the_calling_shell() -> None:
    exe = " ".join(console_script())
    proc = subprocess.run(["bash", "-c", f"{exe} --show-completion; echo rc=$?"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)

    assert "rc=0" in proc.stdout, proc.stderr
    assert "_BATCHDIGITS_COMPLETE=complete_bash" in proc.stdout  # detected: run from bash


@pytest.mark.parametrize("content", [None, b"not a model"])
def test_a_bad_model_from_the_environment_says_where_it_came_from(tmp_path, content) -> None:
    from imagemaker import save_digit

    save_digit(tmp_path / "in" / "one.png", "one")
    model = tmp_path / "model.skops"
    if content is not None:
        model.write_bytes(content)
    out = tmp_path / "p.csv"

    proc = run_script("classify", tmp_path / "in", "--out", out, env={"BATCHDIGITS_MODEL": str(model)})

    assert proc.returncode == 2
    line = one_line_error(proc.stderr)
    assert str(model) in line and "BATCHDIGITS_MODEL" in line
    assert not out.exists()
    # the same file named with --model is not blamed on the variable
    direct = run_script("classify", tmp_path / "in", "--out", out, "--model", model,
                        env={"BATCHDIGITS_MODEL": ""})
    assert direct.returncode == 2 and "BATCHDIGITS_MODEL" not in direct.stderr

