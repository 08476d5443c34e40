"""What the review page shows and records, without any HTTP: one review session.

A :class:`ReviewSession` holds the rows of a predictions CSV in review order
(``low_confidence``, ``blank``, ``error``, then ``ok`` by rising confidence,
then rows already ``reviewed``), the decisions of the corrections file, and
the model used to recompute each scan's 8x8 grid and top three
probabilities (a page of rows at a time, one ``predict_proba`` call per
page).  Every decision is written to the corrections file at once,
atomically; nothing else is ever written.

Only files named in the CSV are opened, and only when their real path
(symbolic links resolved) lies inside the folder.

>>> session = ReviewSession.open("predictions.csv", "scans", model=get_default_model())   # doctest: +SKIP
>>> session.page(0, 2)[0]["path"], session.summary()["left"]                                # doctest: +SKIP
('0002.png', 120)
>>> session.decide("0002.png", "7")                                                          # doctest: +SKIP

With ``learning`` (:class:`~batchdigits.web.refitworker.Learning`; the
``review`` command gives it) the session learns from the decisions: a
:class:`~batchdigits.web.refitworker.RefitWorker` refits the model in the
background (:func:`batchdigits.learn.relearn.relearn`, from the model the
session was opened with, on every decision so far) and swaps in, under the
session's lock, the new readings of every row with a grid (rows ``reviewed``
in the CSV keep theirs) and a new order: the decided rows first, in the
order they had, then the undecided ones ranked as :func:`review_order` ranks
them, but inside a status by how much the folder's graph agrees with the new
reading (:func:`~batchdigits.learn.relearn.relearn_folder`) rather than by
confidence.  ``generation`` counts the swaps; a row whose reading differs from
the CSV's says ``was``.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..image.convert import convert_file
from ..learn.relearn import NO_LABEL, RelearnError, relearn_folder
from ..io.files import path_from_csv
from ..run.corrections import (
    Correction,
    CorrectionsError,
    default_corrections_path,
    key_prefix,
    now_utc,
    parse_label,
    read_corrections,
    write_corrections,
)
from ..io.hashing import file_sha256
from ..run.lock import LockFileError, OutputLocked, file_lock
from ..image.load import ImageError, load_image
from ..learn.arrays import ArrayModel
from ..learn.model import DigitModel
from ..run.origin import OriginError, recorded_folder
from ..run.write import Row, read_rows
from .refitworker import Learning, RefitWorker

REVIEW_ORDER = {"low_confidence": 0, "blank": 1, "error": 2, "ok": 3, "reviewed": 4}
DOUBTFUL = ("low_confidence", "blank", "error")
THUMB_SIDE = 256  # longest side of a thumbnail, px
MAX_PAGE = 200
LOCK_WAIT = 10.0  # seconds a decision waits for another server saving to the same corrections file


class ReviewError(Exception):
    """The review cannot start (bad CSV, no folder, bad corrections file); one line for people."""


class Refused(Exception):
    """A request for a file the review must not open; ``status`` is the HTTP code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Item:
    """One CSV row in review order, and its key in the corrections file."""

    row: Row
    key: str


def find_folder(predictions: str, folder: str | None) -> str:
    """The folder the CSV's paths are relative to.

    ``folder`` when given; else the one ``classify`` recorded beside the CSV
    (:func:`batchdigits.run.origin.recorded_folder`), if that record belongs
    to this very CSV and the folder still exists; else :class:`ReviewError`.
    """
    if folder is not None:
        if not os.path.isdir(folder):
            raise ReviewError(f"folder not found: {folder}")
        return folder
    try:
        return recorded_folder(predictions)
    except OriginError as exc:
        raise ReviewError(str(exc)) from None


def read_predictions(predictions: str) -> list[Row]:
    """The rows of a CSV written by ``batchdigits classify``, else :class:`ReviewError`."""
    try:
        return read_rows(predictions)
    except FileNotFoundError:
        raise ReviewError(f"predictions file not found: {predictions}") from None
    except (OSError, ValueError, csv.Error) as exc:
        raise ReviewError(f"cannot read {predictions} as a batchdigits CSV ({exc})") from None


def review_order(rows: list[Row], score: dict[str, float] | None = None) -> list[Row]:
    """Doubtful rows first: low_confidence, blank, error, then ok by rising confidence
    (or, for a path in ``score``, by rising score instead)."""
    score = score or {}

    def key(row: Row) -> tuple[int, float, str]:
        confidence = row.confidence if row.confidence is not None else 0.0
        return REVIEW_ORDER.get(row.status, len(REVIEW_ORDER)), score.get(row.path, confidence), row.path

    return sorted(rows, key=key)


@dataclass
class Refit:
    """What a refit gives: the model, each re-read row's new row, and how much the
    folder's graph agrees with its reading (the rank inside its status)."""

    model: DigitModel
    readings: dict[str, Row]
    agreement: dict[str, float]


class ReviewSession:
    """Rows to review, their decisions, and the files behind them."""

    def __init__(
        self, rows: list[Row], folder: str, corrections_path: str, model: DigitModel | ArrayModel,
        learning: Learning | None = None,
    ) -> None:
        self.folder = os.path.realpath(folder)
        self.corrections_path = os.path.abspath(corrections_path)
        self.model = model  # the model the session was opened with; refits start from it
        self.current = model  # the model of the rows' readings: the latest refit's, if any
        self.generation = 0
        self._csv = {r.path: r for r in rows}  # the rows as the CSV has them, in its order
        prefix = key_prefix(self.folder, self.corrections_path)
        self.items = [Item(r, posixpath.normpath(posixpath.join(prefix, r.path))) for r in review_order(rows)]
        self._index = {item.row.path: i for i, item in enumerate(self.items)}
        self._keys = {item.row.path: item.key for item in self.items}
        try:
            self._decisions = self._saved_decisions()
        except CorrectionsError as exc:
            raise ReviewError(str(exc)) from None
        self._pages: dict[int, dict[str, Any]] = {}
        self._grids: dict[str, np.ndarray] = {}  # the rows' grids, once converted
        self._lock = threading.Lock()  # one page computed, one file written at a time
        self.worker: RefitWorker | None = None
        if learning is not None:
            self.worker = RefitWorker(self._lock, learning, self._snapshot, self.compute_refit, self._swap)
            self.worker.start()

    @classmethod
    def open(
        cls, predictions: str, folder: str | None, corrections: str | None = None,
        model: DigitModel | ArrayModel | None = None,
    ) -> ReviewSession:
        """A session for the CSV ``predictions``; see :func:`find_folder`."""
        rows = read_predictions(predictions)
        where = find_folder(predictions, folder)
        if model is None:
            from ..learn.builtin import get_default_model

            model = get_default_model()
        return cls(rows, where, corrections or default_corrections_path(predictions), model)

    # --- reading --------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Totals, what is left, and where to resume (the first undecided row)."""
        decided = [self._decisions.get(item.key) is not None for item in self.items]
        doubtful_left = sum(
            1 for item, done in zip(self.items, decided, strict=True) if not done and item.row.status in DOUBTFUL
        )
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.row.status] = counts.get(item.row.status, 0) + 1
        resume = next((i for i, done in enumerate(decided) if not done), 0)
        return {
            "total": len(self.items),
            "decided": sum(decided),
            "left": len(self.items) - sum(decided),
            "doubtful_left": doubtful_left,
            "resume": resume,
            "counts": counts,
            "corrections": self.corrections_path,
            "folder": self.folder,
            "generation": self.generation,
            "refitting": bool(self.worker and self.worker.running),
            "learning": self._learning_note(),
        }

    def _learning_note(self) -> str:
        if self.worker is None:
            return "off"
        return f"refit failed: {self.worker.error}" if self.worker.error else "on"

    def next_undecided(self, after: int) -> int | None:
        """Index of the first undecided row after ``after`` (wrapping around), or None."""
        n = len(self.items)
        for step in range(1, n + 1):
            i = (after + step) % n
            if self._decisions.get(self.items[i].key) is None:
                return i
        return None

    def page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Rows ``offset`` .. ``offset + limit`` as dicts for the page (grid, top three, decision)."""
        offset = max(0, offset)
        stop = min(len(self.items), offset + max(0, min(limit, MAX_PAGE)))
        with self._lock:
            missing = [i for i in range(offset, stop) if i not in self._pages]
            self._pages.update(self._compute(missing))
            return [{**self._pages[i], "decision": self._decision(i)} for i in range(offset, stop)]

    def _compute(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        grids: dict[int, np.ndarray] = {}
        notes: dict[int, str] = {}
        for i in indices:
            grid, error = self._grid(self.items[i].row.path)
            if grid is not None:
                grids[i] = grid
            elif error:
                notes[i] = error
        tops: dict[int, list[list[Any]]] = {}
        if grids:
            order = list(grids)
            proba = self.current.predict_proba(np.stack([grids[i] for i in order]).astype(np.float64))
            classes = self.current.classes
            for i, p in zip(order, proba, strict=True):
                best = np.argsort(-p, kind="stable")[:3]
                tops[i] = [[str(int(classes[b])), round(float(p[b]), 4)] for b in best]
        return {i: self._payload(i, grids.get(i), tops.get(i, []), notes.get(i, "")) for i in indices}

    def _grid(self, rel: str) -> tuple[np.ndarray | None, str]:
        """The row's grid (64 values) or why there is none; converted once."""
        if rel in self._grids:
            return self._grids[rel], ""
        try:
            path = self.resolve(rel)
        except Refused as exc:
            return None, str(exc)
        grid, error = convert_file(path)
        if grid is None:
            return None, error or ""
        self._grids[rel] = grid.reshape(64)
        return self._grids[rel], ""

    def _payload(self, i: int, grid: np.ndarray | None, top: list[list[Any]], note: str) -> dict[str, Any]:
        row = self.items[i].row
        path, label, confidence, status, error = row.fields()
        before = self._csv[row.path]
        was = None if before.label == row.label or row is before else before.fields()[1]
        return {
            "i": i, "path": path, "label": label, "confidence": confidence, "status": status,
            "error": error, "grid": None if grid is None else [int(v) for v in grid],
            "top": top, "note": note, "was": was,
        }

    def _decision(self, i: int) -> dict[str, str] | None:
        correction = self._decisions.get(self.items[i].key)
        if correction is None:
            return None
        label = "" if correction.label is None else str(correction.label)
        return {"label": label, "at": correction.reviewed_at}

    # --- files ------------------------------------------------------------------

    def resolve(self, rel: str) -> str:
        """The real path of the CSV row ``rel``; :class:`Refused` unless it is a
        row of the CSV whose file, links resolved, lies inside the folder."""
        if rel not in self._index:
            raise Refused(404, "not a file of this review")
        try:
            real = os.path.realpath(path_from_csv(self.folder, rel))
        except ValueError:
            raise Refused(404, "not a path batchdigits wrote") from None
        if os.path.commonpath([real, self.folder]) != self.folder or real == self.folder:
            raise Refused(403, "outside the folder: not shown")
        return real

    def thumbnail(self, rel: str) -> bytes:
        """The scan as a grayscale PNG, longest side at most THUMB_SIDE."""
        path = self.resolve(rel)
        try:
            gray = load_image(path, max_side=THUMB_SIDE)
        except ImageError as exc:
            raise Refused(422, str(exc)) from None
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="PNG")
        return buffer.getvalue()

    # --- writing ----------------------------------------------------------------

    def decide(self, rel: str, label: str | None) -> dict[str, Any]:
        """Record ``label`` (a digit, ``""`` for not a digit, ``None`` to forget) for
        the row ``rel`` and rewrite the corrections file atomically."""
        if label is not None:
            parse_label(label)  # ValueError for anything but one ASCII digit or ""
        path = self.resolve(rel)
        key = self.items[self._index[rel]].key
        with self._lock, self._file_locked():
            try:  # what another review of the same file saved meanwhile is kept
                self._decisions = self._saved_decisions()
            except CorrectionsError as exc:
                raise Refused(409, f"not saved: {exc}") from None
            before = self._decisions.get(key)
            if label is None:
                self._decisions.pop(key, None)
            else:
                self._decisions[key] = Correction(parse_label(label), now_utc(), file_sha256(path))
            try:
                write_corrections(self.corrections_path, self._decisions)
            except BaseException:
                self._restore(key, before)
                raise
            if self.worker is not None:
                self.worker.decided()
        return {"decision": self._decision(self._index[rel]), **self.summary()}

    @contextmanager
    def _file_locked(self) -> Iterator[None]:
        """The corrections file's lock, shared with every other review server writing
        it: each read-merge-replace is whole, so no process loses another's decision."""
        try:
            with file_lock(self.corrections_path, LOCK_WAIT):
                yield
        except (OutputLocked, LockFileError) as exc:
            raise Refused(409, f"not saved: {exc}") from None

    def _saved_decisions(self) -> dict[str, Correction]:
        if not os.path.exists(self.corrections_path):
            return {}
        return read_corrections(self.corrections_path)

    def close(self) -> None:
        """Wait (a bounded time) for a decision being written, then refuse further ones
        (the server stops): a stuck file system never keeps Ctrl-C from stopping it."""
        self._lock.acquire(timeout=2 * LOCK_WAIT)
        if self.worker is not None:
            self.worker.close()

    def _restore(self, key: str, before: Correction | None) -> None:
        if before is None:
            self._decisions.pop(key, None)
        else:
            self._decisions[key] = before

    # --- learning ---------------------------------------------------------------

    def _snapshot(self) -> dict[str, Correction]:
        return dict(self._decisions)

    def compute_refit(self, decisions: dict[str, Correction]) -> Refit | None:
        """The model refit on ``decisions`` and every row's new reading; None without a label.

        Runs without the lock (the worker's thread): rows' grids come from
        :meth:`_grid` (files converted once), in the CSV's order, as
        ``classify --learn`` reads the folder; rows decided "not a digit" are left out.
        """
        paths, grids, labels = [], [], []
        for path, row in self._csv.items():
            if row.status in ("blank", "error") or path not in self._keys:
                continue
            grid, _ = self._grid(path)
            decision = decisions.get(self._keys[path])
            if grid is None or (decision is not None and decision.label is None):
                continue
            paths.append(path)
            grids.append(grid)
            labels.append(NO_LABEL if decision is None else decision.label)
        if not any(label != NO_LABEL for label in labels):
            return None
        X = np.asarray(grids, np.float64)
        if not isinstance(self.model, DigitModel):
            raise ValueError("cannot learn with a model's numpy form: open the session with the full model")
        try:
            model, spread = relearn_folder(self.model, X, np.asarray(labels))
        except RelearnError as exc:
            raise ValueError(f"cannot learn with this model: {exc}") from None
        digits, confidence = model.predict(X)
        agreement = spread[np.arange(len(digits)), np.searchsorted(model.classes, digits)]
        assert self.worker is not None
        threshold = self.worker.learning.min_confidence
        readings = {
            p: Row(p, int(d), float(c), "ok" if c >= threshold else "low_confidence")
            for p, d, c in zip(paths, digits, confidence, strict=True)
            if self._csv[p].status != "reviewed"
        }
        return Refit(model, readings, {p: float(a) for p, a in zip(paths, agreement, strict=True) if p in readings})

    def _swap(self, refit: Refit) -> None:
        """New readings and order, at once (the lock is held): decided rows first, as they
        were, then the undecided ones in review order."""
        for item in self.items:
            item.row = refit.readings.get(item.row.path, item.row)
        decided = [item for item in self.items if self._decisions.get(item.key) is not None]
        undecided = {item.row.path: item for item in self.items if self._decisions.get(item.key) is None}
        ranked = review_order([item.row for item in undecided.values()], refit.agreement)
        self.items = decided + [undecided[row.path] for row in ranked]
        self._index = {item.row.path: i for i, item in enumerate(self.items)}
        self._pages.clear()
        self.current = refit.model
        self.generation += 1

    def decision_of(self, rel: str) -> Correction | None:
        """The decision about the row ``rel`` (None: none yet)."""
        return self._decisions.get(self._keys[rel])
