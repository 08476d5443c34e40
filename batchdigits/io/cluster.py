"""Run a function over chunks of work on a dask.distributed cluster, results in order.

``cluster_map(func, chunks, scheduler, died)`` submits each chunk as one
task with the cluster's ``Client`` and keeps at most two tasks per worker
thread in flight, so memory does not grow with the input.  A task whose
worker died (the scheduler gives up on it with ``KilledWorker`` after its
``allowed-failures`` retries) is done again one item per task, and an item
that kills its worker again gets ``died(item)``; the other tasks in flight
carry on.

Nothing waits for ever: the scheduler must be reached, answer, and a first
worker join it, each within ``timeout`` seconds (``classify
--scheduler-timeout``, default 60); a malformed or unreachable address, a
port that never answers, no worker in time, or a scheduler lost mid-run
raise :class:`ClusterError` (the CLI: one line, exit 2).

Not joblib's dask backend: its result collector never completes a task
that failed on the cluster, so one dead worker left the run waiting forever
(``tests/test_dask.py::test_a_dask_worker_that_dies_costs_one_error_row_and_the_run_goes_on``,
joblib 1.6.0, distributed 2026.8.0).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from typing import Any, TypeVar

from ..defaults import DEFAULT_SCHEDULER_TIMEOUT
from ..exitcodes import Unusable

T = TypeVar("T")
R = TypeVar("R")


class ClusterError(Unusable):
    """The cluster cannot be used: a malformed or unreachable scheduler address, no
    worker within the timeout, the scheduler lost mid-run.  ``str(err)`` names the
    scheduler and says why, in one line."""


def cluster_map(
    func: Callable[..., Sequence[R]],
    chunks: Iterator[list[T]],
    scheduler: str | None,
    died: Callable[[T], R] | None,
    shared: object = None,
    timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
) -> Iterator[Sequence[R]]:
    """Yield ``func(chunk)`` for every chunk, in input order, computed on the cluster.

    With ``shared``, each task is ``func(chunk, shared=shared)``, ``shared`` sent to
    every worker once, as a worker plugin (:mod:`batchdigits.io.clustershare`), not
    with each task.  ``timeout`` bounds the wait to reach the scheduler and for a
    first worker to join it; beyond it, or when the scheduler is lost,
    :class:`ClusterError`.
    """
    where = scheduler or "a local cluster"
    with _as_cluster_error(where), _connect(scheduler, timeout, where) as client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(
                f"no dask worker joined the scheduler at {where} within {timeout:g} s "
                "(--scheduler-timeout); start workers with `dask worker ADDRESS`"
            ) from None
        if shared is None:
            yield from _ordered(client, func, chunks, died)
            return
        from .clustershare import Shared, WithShared

        name = f"batchdigits-shared-{uuid.uuid4().hex}"
        client.register_plugin(Shared(name, shared), name=name)
        try:
            yield from _ordered(client, WithShared(func, name), chunks, died)
        finally:
            client.unregister_worker_plugin(name)


def _ordered(
    client: Any, func: Callable[[list[T]], Sequence[R]], chunks: Iterator[list[T]], died: Callable[[T], R] | None,
) -> Iterator[Sequence[R]]:
    from distributed import KilledWorker

    window = 2 * max(1, _threads(client))
    in_flight: deque[tuple[list[T], Any]] = deque()

    def answer() -> Sequence[R]:
        chunk, future = in_flight.popleft()
        try:
            return future.result()
        except KilledWorker:
            if died is None:
                raise
        return [_alone(client, func, item, died) for item in chunk]

    for chunk in chunks:
        in_flight.append((chunk, client.submit(func, chunk, pure=False)))
        if len(in_flight) >= window:
            yield answer()
    while in_flight:
        yield answer()


@contextmanager
def _as_cluster_error(where: str) -> Iterator[None]:
    """What goes wrong between us and the scheduler, as one :class:`ClusterError` line."""
    try:
        yield
    except (OSError, CancelledError, TimeoutError) as exc:  # CommClosedError is an OSError
        reason = (str(exc) or type(exc).__name__).strip().splitlines()[-1]  # the last line says it
        raise ClusterError(f"lost the dask scheduler at {where}: {reason}") from None


def _connect(scheduler: str | None, timeout: float, where: str) -> Any:
    try:
        return client_for(scheduler, timeout)
    except (ValueError, TypeError) as exc:  # distributed's parser: "missing port number in address ..."
        raise ClusterError(f"bad dask scheduler address {where}: {exc}") from None
    except TimeoutError:  # connected (or still trying) but no answer: _Bounded's limit, not connect's
        raise ClusterError(
            f"the dask scheduler at {where} did not answer within {2 * timeout:g} s "
            "(twice --scheduler-timeout: to connect, then to answer); is a dask scheduler listening there?"
        ) from None
    except OSError as exc:  # "Timed out trying to connect to ... after 60 s"
        raise ClusterError(f"cannot reach the dask scheduler at {where}: {exc}") from None


def silence_distributed_logs() -> None:
    """Drop distributed's own log lines for the rest of this process: when the
    scheduler goes away they are tracebacks, some written by its event loop after
    the run has ended, and the CLI says what went wrong in one line (unless --debug)."""
    import distributed  # noqa: F401 - its import sets up the loggers silenced here

    silent = logging.CRITICAL + 1
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logger = logging.getLogger(name)
            logger.setLevel(silent)
            for handler in logger.handlers:
                handler.setLevel(silent)


def _alone(client: Any, func: Callable[[list[T]], Sequence[R]], item: T, died: Callable[[T], R]) -> R:
    """``func([item])[0]`` as a task of its own: a dead worker is this item's."""
    from distributed import KilledWorker

    try:
        return client.submit(func, [item], pure=False).result()[0]
    except KilledWorker:
        return died(item)


def _threads(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    return sum(int(w.get("nthreads", 1)) for w in workers.values())


def client_for(scheduler: str | None, timeout: float = DEFAULT_SCHEDULER_TIMEOUT) -> Any:
    """A ``distributed.Client`` of the cluster at ``scheduler`` (``None``: a local one),
    reached within ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "the dask backend needs the optional extra: pip install 'batchdigits[dask]'"
        ) from None
    if not scheduler:
        return Client(processes=True)
    return _bounded(Client)(scheduler, timeout=timeout)


@functools.cache
def _bounded(client_class: type) -> type:
    """``Client`` whose start-up gives up (``TimeoutError``) after twice its ``timeout``.

    distributed bounds only the TCP connect by ``timeout``, not the handshake that
    follows (dask/distributed#7698 took it out on purpose): a port where something
    accepts but never speaks dask -- a hung scheduler, another service -- kept
    ``Client()`` waiting for ever.  ``callback_timeout`` is the limit distributed's
    own ``sync`` puts on the whole start: the connect (``timeout``), then as much
    again for the scheduler to answer.
    """

    class Bounded(client_class):
        def start(self, **kwargs: Any) -> Any:
            if not self.asynchronous:
                kwargs.setdefault("callback_timeout", 2 * self._timeout)
            return super().start(**kwargs)

    return Bounded
