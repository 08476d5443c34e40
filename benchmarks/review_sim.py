"""How many rows a person checks before the CSV is right: the static CSV against the review that learns.

    nice -n 5 .venv/bin/python benchmarks/review_sim.py FOLDER LABELS.csv [--adapt] [--round N]
        [--json PATH] [--model PATH] [--jobs N]

``LABELS.csv`` has ``path,label`` columns, paths relative to the CSV (as
``evaluate --labels``); a file it does not list (or lists with an empty
label) counts as "not a digit".  Nothing is written into FOLDER.

1. The static CSV: ``classify`` (``--adapt`` too when given) into a temporary
   folder, then accuracy, ECE (10 equal-count bins,
   :func:`~batchdigits.learn.reliability.expected_calibration_error`), the
   rows flagged (not ``ok``), the silent errors (wrong rows marked ``ok``) and
   check@1/0.5/0.2/0.1 % (:func:`~batchdigits.learn.reliability.review_effort`).
2. The learning review: the review server's own
   :class:`~batchdigits.web.reviewsession.ReviewSession`, opened on that CSV
   with a :class:`~batchdigits.web.refitworker.Learning` that refits after
   every ``--round`` decisions (on its worker thread, as in the server; the
   simulation waits for it).  A simulated person checks the undecided rows in
   the order the page shows them, answering from LABELS.csv, through
   ``session.decide`` -- so the corrections file is written as the page
   writes it.  ``check@X`` is how many rows were checked when at most X of
   all rows are still wrong in the final CSV (decided rows with the person's
   labels, every other row with the latest refit's reading); within a round
   it is counted by ``review_effort`` over the undecided rows in page order.
   The person stops once check@0.1 % is reached; ``learning.accuracy`` is the
   share of all rows the refit model then reads right by itself.

Prints both, and the time of each refit (wall and CPU of this process, whose
BLAS is held to one thread: the first refit also converts every file).
``--json PATH`` writes ``{"static": {"accuracy", "ece", "flagged", "silent",
"check": {"0.01", "0.005", "0.002", "0.001"}}, "learning": {"accuracy",
"check": {...}}}``, everything a fraction of all rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchdigits.defaults import DEFAULT_MIN_CONFIDENCE  # noqa: E402
from batchdigits.learn.dataset import read_labels  # noqa: E402
from batchdigits.learn.builtin import get_default_model  # noqa: E402
from batchdigits.learn.model import DigitModel, load_model  # noqa: E402
from batchdigits.learn.reliability import EFFORT_TARGETS, expected_calibration_error, review_effort  # noqa: E402
from batchdigits.run.classify import classify_folder  # noqa: E402
from batchdigits.run.pipeline import Settings  # noqa: E402
from batchdigits.run.write import Row, read_rows  # noqa: E402
from batchdigits.web.refitworker import Learning  # noqa: E402
from batchdigits.web.reviewsession import ReviewSession  # noqa: E402

ROUND = 50  # decisions between refits, as the review server's default


def truths(folder: str, rows: list[Row], labels_csv: str) -> dict[str, int | None]:
    """Each CSV row's true digit (None: not a digit, or not in LABELS.csv)."""
    known = {os.path.realpath(p): label for p, label in read_labels(labels_csv).items}
    return {r.path: known.get(os.path.realpath(os.path.join(folder, r.path))) for r in rows}


def static_figures(rows: list[Row], truth: dict[str, int | None]) -> dict[str, Any]:
    """Accuracy, ECE, flagged, silent and check@X of the CSV's rows, as fractions of all rows."""
    correct = np.array([r.label == truth[r.path] for r in rows], bool)
    confidence = np.array([np.nan if r.confidence is None else r.confidence for r in rows])
    ok = np.array([r.status in ("ok", "reviewed") for r in rows], bool)
    graded = ~np.isnan(confidence)
    effort = review_effort(confidence, correct, ok)
    ece = expected_calibration_error(confidence[graded], correct[graded]) if graded.any() else float("nan")
    return {"accuracy": float(correct.mean()), "ece": ece, **effort.shares()}


def learning_review(session: ReviewSession, truth: dict[str, int | None], every: int) -> dict[str, Any]:
    """Check rows in page order, ``every`` between refits, until check@0.1 % is reached."""
    assert session.worker is not None
    n = len(session.items)
    found: dict[float, int] = {}
    decided = 0
    refits: list[tuple[float, float]] = []
    while True:
        undecided = [item.row for item in session.items if session.decision_of(item.row.path) is None]
        m = len(undecided)
        left = [x for x in EFFORT_TARGETS if x not in found]
        scaled = tuple((x * n + 1e-6) / max(m, 1) for x in left)  # "at most x of all rows" as a share of m
        correct = np.array([row.label == truth[row.path] for row in undecided], bool)
        effort = review_effort(np.arange(m, dtype=np.float64), correct, np.ones(m, bool), scaled)
        step = min(every, m)
        for x, s in zip(left, scaled, strict=True):
            if effort.check[s] <= step:
                found[x] = decided + effort.check[s]
        if len(found) == len(EFFORT_TARGETS) or m == 0:
            break
        for row in undecided[:step]:
            answer = truth[row.path]
            session.decide(row.path, "" if answer is None else str(answer))
        decided += step
        wall, cpu = time.perf_counter(), time.process_time()
        before = session.generation
        session.worker.settle()
        if session.generation != before:
            refits.append((time.perf_counter() - wall, time.process_time() - cpu))
            wrong = sum(1 for item in session.items if session.decision_of(item.row.path) is None
                        and item.row.label != truth[item.row.path])
            print(f"  refit {session.generation}: {decided} decided, {wrong} wrong rows left, "
                  f"{refits[-1][0]:.1f} s wall, {refits[-1][1]:.1f} s CPU", file=sys.stderr, flush=True)
        elif session.worker.error:
            raise SystemExit(f"refit failed: {session.worker.error}")
    readings = [item.row for item in session.items]
    accuracy = float(np.mean([row.label == truth[row.path] for row in readings]))
    return {"accuracy": accuracy, "check": {f"{x:g}": found[x] / n for x in EFFORT_TARGETS},
            "refits": refits, "decided": decided}


def simulate(folder: str, labels_csv: str, model: DigitModel, adapt: bool = False, every: int = ROUND,
             jobs: int = 0, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> dict[str, Any]:
    """Both figures for one folder (see the module docstring); extra keys: rows, refits, seconds."""
    with tempfile.TemporaryDirectory(prefix="review-sim-") as work:
        csv_path = os.path.join(work, "predictions.csv")
        started = time.perf_counter()
        classify_folder(folder, out=csv_path, model=model, adapt=adapt,
                        settings=Settings(jobs=jobs, min_confidence=min_confidence))
        classified = time.perf_counter() - started
        rows = read_rows(csv_path)
        truth = truths(folder, rows, labels_csv)
        static = static_figures(rows, truth)
        learning = Learning(every=every, pause=None, min_confidence=min_confidence)
        session = ReviewSession(rows, folder, os.path.join(work, "corrections.csv"), model, learning)
        with threadpool_limits(1):
            learned = learning_review(session, truth, every)
        session.close()
    return {"static": static, "learning": learned, "rows": len(rows), "classify_seconds": classified}


def report(result: dict[str, Any], every: int) -> str:
    """The figures as a few lines of text (percent of all rows)."""
    static, learning = result["static"], result["learning"]

    def checks(figures: dict[str, float]) -> str:
        return " / ".join(f"{100 * figures[f'{x:g}']:.1f}" for x in EFFORT_TARGETS)

    refits = learning["refits"]
    later = [cpu for _, cpu in refits[1:]] or [cpu for _, cpu in refits]
    lines = [
        f"rows: {result['rows']} (classified in {result['classify_seconds']:.1f} s)",
        f"static CSV:      accuracy {static['accuracy']:.4f}, ECE {static['ece']:.4f}, "
        f"flagged {100 * static['flagged']:.1f} %, silent errors {100 * static['silent']:.2f} %",
        f"  check@1/0.5/0.2/0.1 %: {checks(static['check'])} % of rows",
        f"learning review (refit every {every} decisions): check@1/0.5/0.2/0.1 %: "
        f"{checks(learning['check'])} % of rows; the refit model alone reads {learning['accuracy']:.4f} right "
        f"after {learning['decided']} decisions",
    ]
    if refits:
        lines.append(
            f"  {len(refits)} refits; first (converts every file) {refits[0][0]:.1f} s wall / "
            f"{refits[0][1]:.1f} s CPU; "
            f"later ones median {float(np.median(later)):.1f} s CPU, max {max(later):.1f} s CPU (one BLAS thread)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("labels")
    ap.add_argument("--adapt", action="store_true", help="the static CSV from classify --adapt")
    ap.add_argument("--round", type=int, default=ROUND, metavar="N", help="decisions between refits")
    ap.add_argument("--json", metavar="PATH", help="write the figures as fractions of all rows here")
    ap.add_argument("--model", metavar="PATH", help="a model file (default: the built-in model)")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes for classify (0: all cores)")
    args = ap.parse_args(argv)
    if args.round < 1:
        ap.error("--round must be at least 1")
    model = load_model(args.model) if args.model else get_default_model()
    result = simulate(args.folder, args.labels, model, args.adapt, args.round, args.jobs)
    print(report(result, args.round))
    if args.json:
        learning = result["learning"]
        figures = {"static": result["static"],
                   "learning": {"accuracy": learning["accuracy"], "check": learning["check"]}}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
