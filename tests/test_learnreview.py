"""The review that learns: refits behind the review server's API, the final CSV, and its simulation.

Real image files in tmp_path (a folder of "1" bars and "0" rings), a real
CSV written by ``classify``, a real server on 127.0.0.1 whose API gets the
decisions, ``classify --learn`` through the CLI, and every CSV read back with
``csv``.  The person here writes 7 as a plain bar: after three such labels,
the refit reads the other bars as 7 too.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from batchdigits.learn.model import load_model
from batchdigits.learn.relearn import NO_LABEL, RelearnError, relearn
from batchdigits.run.write import read_rows
from batchdigits.web.refitworker import Learning
from batchdigits.web.reviewsession import ReviewSession
from batchdigits.web.webreview import ReviewServer
from helpers import run_cli
from imagemaker import save_digit
from test_webreview import decide, request, serving

BARS = [f"bar{i}.png" for i in range(8)]
RINGS = [f"ring{i}.png" for i in range(5)]
TAUGHT = ["bar0.png", "bar3.png", "bar6.png"]  # labelled 7 by the person
ROOT = Path(__file__).resolve().parent.parent


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


@pytest.fixture
def work(tmp_path: Path, default_model) -> Path:
    """scans/ with bars and rings of several sizes, and predictions.csv from classify."""
    for i, name in enumerate(BARS):
        save_digit(tmp_path / "scans" / name, "one", size=(30 + 4 * i, 60 + 2 * i))
    for i, name in enumerate(RINGS):
        save_digit(tmp_path / "scans" / name, "zero", size=(40 + 4 * i, 60))
    result = run_cli("classify", str(tmp_path / "scans"), "-o", str(tmp_path / "predictions.csv"), "-j", "1")
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.fixture
def server(work: Path, default_model) -> Iterator[ReviewServer]:
    rows = read_rows(str(work / "predictions.csv"))
    learning = Learning(every=3, pause=None)
    session = ReviewSession(rows, str(work / "scans"), str(work / "predictions.corrections.csv"),
                            default_model, learning)
    yield from serving(session)


def summary(server: ReviewServer) -> dict:
    return request(server, "GET", "/api/summary").json()


def rows(server: ReviewServer) -> list[dict]:
    return request(server, "GET", "/api/rows?offset=0&limit=50").json()["rows"]


def test_decisions_refit_the_model_rerank_the_rows_and_the_final_csv_uses_it(server, work, default_model):
    before = rows(server)
    assert {r["label"] for r in before if r["path"] in BARS} == {"1"}  # the CSV reads the bars as 1
    assert all(r["was"] is None for r in before)
    assert summary(server)["generation"] == 0
    for path in TAUGHT:
        answer = decide(server, path, "7")
        assert answer.status == 200  # answered at once: the refit runs on the worker's thread
    seen_refitting = summary(server)["refitting"]
    deadline = time.monotonic() + 120
    while (state := summary(server))["generation"] == 0 or state["refitting"]:
        assert time.monotonic() < deadline, "no refit within 2 minutes"
        seen_refitting = seen_refitting or state["refitting"]
        time.sleep(0.1)
    assert seen_refitting and state["generation"] == 1 and state["learning"] == "on"
    after = rows(server)
    by_path = {r["path"]: r for r in after}
    # the decided rows first, in the order they had
    assert [r["path"] for r in after[:3]] == [r["path"] for r in before if r["path"] in TAUGHT]
    assert state["resume"] == 3
    others = [p for p in BARS if p not in TAUGHT]
    assert all(by_path[p]["label"] == "7" and by_path[p]["was"] == "1" for p in others)
    assert all(by_path[p]["was"] is None for p in RINGS)
    assert [r["path"] for r in after] != [r["path"] for r in before]
    assert request(server, "GET", "/api/next?after=-1").json()["index"] == 3
    assert {r["path"] for r in after[3:]} == set(BARS + RINGS) - set(TAUGHT)

    # the final CSV: reviewed rows with the person's labels, the others read by the model refit on them
    corrections = work / "predictions.corrections.csv"
    final = work / "final.csv"
    result = run_cli("classify", str(work / "scans"), "--corrections", str(corrections), "--learn",
                     "-o", str(final), "-j", "1")
    assert result.exit_code == 0, result.output
    saved = work / "predictions.corrections.model.skops"
    assert f"saved to {saved}" in " ".join(result.output.split())
    table = read_csv(final)
    assert set(table) == set(BARS + RINGS)
    for path in TAUGHT:
        assert (table[path]["label"], table[path]["status"]) == ("7", "reviewed")
    for path in others + RINGS:  # the same model as the server's refit: the same readings
        assert table[path]["label"] == by_path[path]["label"]
        assert table[path]["confidence"] == by_path[path]["confidence"]
        assert table[path]["status"] == by_path[path]["status"]

    # the saved model (skops, trusted types) reads the same with --model, as a cron run would
    model = load_model(saved)
    assert model.metadata["relearning"]["labelled"] == 3
    again = work / "again.csv"
    result = run_cli("classify", str(work / "scans"), "--model", str(saved), "-o", str(again), "-j", "1")
    assert result.exit_code == 0, result.output
    assert {p: r["label"] for p, r in read_csv(again).items()} == {
        p: ("7" if p in BARS else "0") for p in BARS + RINGS
    }


def test_learn_needs_corrections_with_decisions(work):
    scans = str(work / "scans")
    result = run_cli("classify", scans, "--learn", "-o", str(work / "f.csv"))
    assert result.exit_code == 2 and "--learn needs --corrections" in result.output
    empty = work / "empty.csv"
    empty.write_text("path,label\n", encoding="utf-8")
    result = run_cli("classify", scans, "--learn", "--corrections", str(empty), "-o", str(work / "f.csv"))
    assert result.exit_code == 2 and "has no decisions about files in" in result.output
    assert not (work / "f.csv").exists() and not (work / "empty.model.skops").exists()


def test_relearn_needs_a_label(default_model):
    """(That two refits on the same decisions agree is checked above: the server's and --learn's.)"""
    grids = np.random.default_rng(0).integers(0, 17, size=(40, 64)).astype(np.float64)
    with pytest.raises(RelearnError, match="no labelled scans"):
        relearn(default_model, grids, np.full(40, NO_LABEL))


def test_review_sim_on_a_tiny_folder_writes_its_figures(tmp_path: Path, default_model):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import writers

    folder = tmp_path / "set"
    writers.write_set(folder, writers.DEV_SEED, writers=2, per_digit=1, jobs=1)  # 20 scans + labels.csv
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "review_sim.py"), str(folder), str(folder / "labels.csv"),
         "--round", "20", "--jobs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert set(figures) == {"static", "learning"}
    assert set(figures["static"]) == {"accuracy", "ece", "flagged", "silent", "check"}
    assert set(figures["learning"]) == {"accuracy", "check"}
    targets = ["0.01", "0.005", "0.002", "0.001"]
    for part in ("static", "learning"):
        check = figures[part]["check"]
        assert list(check) == targets
        assert all(0.0 <= check[t] <= 1.0 for t in targets)
        assert check["0.001"] >= check["0.01"]
    # with 20 rows, "at most 0.1 % wrong" means none: the rows checked at least cover the wrong ones
    wrong = round(20 * (1 - figures["static"]["accuracy"]))
    assert figures["static"]["check"]["0.001"] * 20 >= wrong
    assert "static CSV:" in done.stdout and "learning review" in done.stdout
    assert not list(folder.glob("*.corrections*"))  # nothing written into the folder
