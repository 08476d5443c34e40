"""Run a function over chunks of work on a dask.distributed cluster, results in order.

``cluster_map(func, chunks, scheduler, died)`` submits each chunk as one
task with the cluster's ``Client`` and keeps at most two tasks per worker
thread in flight, so memory does not grow with the input.  A task whose
worker died (the scheduler gives up on it with ``KilledWorker`` after its
``allowed-failures`` retries) is done again one item per task, and an item
that kills its worker again gets ``died(item)``; the other tasks in flight
carry on.

Not joblib's dask backend: its result collector never completes a task
that failed on the cluster, so one dead worker left the run waiting forever
(``tests/test_dask.py::test_a_dask_worker_that_dies_costs_one_error_row_and_the_run_goes_on``,
joblib 1.6.0, distributed 2026.8.0).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cluster_map(
    func: Callable[[list[T]], list[R]],
    chunks: Iterator[list[T]],
    scheduler: str | None,
    died: Callable[[T], R] | None,
) -> Iterator[list[R]]:
    """Yield ``func(chunk)`` for every chunk, in input order, computed on the cluster."""
    from distributed import KilledWorker

    with client_for(scheduler) as client:
        window = 2 * max(1, _threads(client))
        in_flight: deque[tuple[list[T], Any]] = deque()

        def answer() -> list[R]:
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


def _alone(client: Any, func: Callable[[list[T]], list[R]], item: T, died: Callable[[T], R]) -> R:
    """``func([item])[0]`` as a task of its own: a dead worker is this item's."""
    from distributed import KilledWorker

    try:
        return client.submit(func, [item], pure=False).result()[0]
    except KilledWorker:
        return died(item)


def _threads(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    return sum(int(w.get("nthreads", 1)) for w in workers.values())


def client_for(scheduler: str | None) -> Any:
    """A ``distributed.Client`` of the cluster at ``scheduler`` (``None``: a local one)."""
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "the dask backend needs the optional extra: pip install 'batchdigits[dask]'"
        ) from None
    return Client(scheduler) if scheduler else Client(processes=True)
