"""On a terminal: a progress bar and colour; without one (cron): neither."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import pytest
from rich.console import Console

from batchdigits.cli.ui import ProgressBar, maybe_progress
from imagemaker import save_digit


def test_progress_only_on_a_terminal(tmp_path):
    save_digit(tmp_path / "a.png")
    tty = Console(file=io.StringIO(), force_terminal=True, width=100)
    pipe = Console(file=io.StringIO(), force_terminal=False)
    with maybe_progress(pipe, str(tmp_path), True, enabled=True) as bar:
        assert bar is None
    with maybe_progress(tty, str(tmp_path), True, enabled=False) as bar:
        assert bar is None  # --quiet
    with maybe_progress(tty, str(tmp_path), True, enabled=True) as bar:
        assert isinstance(bar, ProgressBar)
        for _ in range(40):
            bar.advance()


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a pty")
def test_the_cli_on_a_pseudo_terminal_draws_a_progress_bar(tmp_path):
    for i in range(30):
        save_digit(tmp_path / "in" / f"{i:02d}.png", "one" if i % 2 else "zero")
    exe = os.path.join(os.path.dirname(sys.executable), "batchdigits")
    cmd = f"{exe} classify {tmp_path / 'in'} --out {tmp_path / 'p.csv'} --jobs 1"
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    proc = subprocess.run(
        ["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stdout
    screen = proc.stdout
    assert "classifying" in screen and "files/s" in screen  # the progress bar was drawn
    assert "\x1b[" in screen  # colour/cursor codes on a terminal
    assert "Predictions by digit" in screen
    assert (tmp_path / "p.csv").exists()
