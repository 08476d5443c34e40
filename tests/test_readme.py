"""What README.md (and docs/) claims about the tool holds: its links lead somewhere, its quick
start names real make targets, every command line it shows uses options the command has, and
its exit-code table is the one the commands' --help prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from batchdigits.cli.app import app
from batchdigits.cli.common import COMMAND_EXITS, EXIT_MEANINGS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
CLI = typer.main.get_command(app)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    fenced = re.sub(r"```.*?```", "", text, flags=re.S)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", fenced, flags=re.M)}


def _shell_lines(text: str) -> list[str]:
    """The ``batchdigits ...`` command lines of the document's ``sh`` blocks, comments dropped."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("batchdigits "):
                lines.append(line.split(" > ")[0].split(" | ")[0])
    return lines


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_leads_somewhere(doc):
    text = doc.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S))
    assert links or doc != README
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        assert path.exists(), f"{doc.name}: {link} leads nowhere"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path.read_text(encoding="utf-8")), f"{doc.name}: no heading for {link}"


def test_the_quick_start_comes_first_and_names_real_make_targets():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
    assert headings[0] == "Quick start"
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert len(quick.splitlines()) <= 50  # it fits a screen or two: the reference comes after it
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    made = re.findall(r"^make (\w+)", quick, flags=re.M)
    assert made == ["run", "test"] and set(made) <= targets
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI runs the README's test command


def test_every_command_line_shown_uses_options_the_command_has():
    shown = [line for doc in (README, *DOCS) for line in _shell_lines(doc.read_text(encoding="utf-8"))]
    assert len(shown) >= 20
    for line in shown:
        words = shlex.split(line)[1:]
        if not words or words[0].startswith("-"):
            continue
        command = CLI.commands.get(words[0])
        assert command is not None, f"{line}: no command {words[0]!r}"
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for word in words[1:]:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in known, f"{line}: {command.name} has no option {word}"


def test_every_option_in_a_commands_table_exists():
    text = README.read_text(encoding="utf-8")
    checked = 0
    for name, command in CLI.commands.items():
        section = re.search(rf"^### `batchdigits {name}[^\n]*\n(.*?)(?=^##)", text, flags=re.S | re.M)
        if section is None:
            continue
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for cell in re.findall(r"^\| `([^`]+)`", section.group(1), flags=re.M):
            for option in re.findall(r"(--?[a-z][\w-]*)", cell):
                option = option.split("/")[0]
                assert option in known, f"README's {name} table: {option} is not an option of {name}"
                checked += 1
    assert checked >= 20


def test_the_exit_code_table_is_the_one_help_prints():
    text = README.read_text(encoding="utf-8")
    table = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    codes = {int(c) for c in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert codes == set(EXIT_MEANINGS) == set(COMMAND_EXITS["classify"][1])
