"""When the review refits, on a thread of its own, so that no request ever waits for a refit.

A :class:`RefitWorker` is told of every decision (:meth:`RefitWorker.decided`,
called with the session's lock held) and runs a refit when one is due: after
``Learning.every`` decisions since the last refit began, or when the person has
made none for ``Learning.pause`` seconds.  A refit is three calls the worker
makes on its owner: ``snapshot()`` (lock held: copy the decisions),
``compute(snapshot)`` (lock NOT held: the slow part; requests go on), and
``swap(result)`` (lock held: replace readings and order at once).  Decisions
made during a refit count toward the next one.

>>> worker = RefitWorker(lock, Learning(every=50), snapshot, compute, swap)   # doctest: +SKIP
>>> worker.start()                                                          # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..defaults import DEFAULT_MIN_CONFIDENCE

REFIT_EVERY = 50  # decisions: the simulation refit after each 50 doubtful rows checked
REFIT_PAUSE = 5.0  # seconds without a decision: the person is looking at the page, not typing


@dataclass(frozen=True)
class Learning:
    """How the review learns: refit after ``every`` decisions or ``pause`` idle seconds
    (``None``: only after ``every``); new readings below ``min_confidence`` are low_confidence."""

    every: int = REFIT_EVERY
    pause: float | None = REFIT_PAUSE
    min_confidence: float = DEFAULT_MIN_CONFIDENCE


class RefitWorker:
    """A daemon thread running its owner's refits when due; see the module docstring."""

    def __init__(
        self, lock: threading.Lock, learning: Learning, snapshot: Callable[[], Any],
        compute: Callable[[Any], Any], swap: Callable[[Any], None],
    ) -> None:
        self.learning = learning
        self._wake = threading.Condition(lock)
        self._snapshot, self._compute, self._swap = snapshot, compute, swap
        self._pending = 0  # decisions since the last refit began
        self._last = time.monotonic()
        self.running = False  # a refit is being computed
        self.closed = False
        self.error = ""  # why the last refit failed, if it did
        self._thread = threading.Thread(target=self._loop, name="batchdigits-refit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def decided(self) -> None:
        """One more decision (call with the lock held)."""
        self._pending += 1
        self._last = time.monotonic()
        self._wake.notify_all()

    def close(self) -> None:
        """No more refits (call with the lock held)."""
        self.closed = True
        self._wake.notify_all()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait (lock NOT held) until no refit is due or running; False on timeout."""
        with self._wake:
            return self._wake.wait_for(lambda: self.closed or not (self.running or self._due()), timeout)

    def _due(self) -> bool:
        if self._pending >= self.learning.every:
            return True
        pause = self.learning.pause
        return pause is not None and self._pending > 0 and time.monotonic() - self._last >= pause

    def _wait_time(self) -> float | None:
        pause = self.learning.pause
        if pause is None or self._pending == 0:
            return None
        return max(0.0, pause - (time.monotonic() - self._last)) + 0.01

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self.closed and not self._due():
                    self._wake.wait(self._wait_time())
                if self.closed:
                    return
                snapshot = self._snapshot()
                self._pending = 0
                self.running = True
            result, error = None, ""
            try:
                result = self._compute(snapshot)
            except Exception as exc:  # noqa: BLE001 - the review goes on without learning
                error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            with self._wake:
                if result is not None and not self.closed:
                    self._swap(result)
                self.error = error
                self.running = False
                self._wake.notify_all()
