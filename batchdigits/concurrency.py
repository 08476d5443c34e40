"""Run a function over chunks of work in worker processes, results in order.

``map_ordered(func, chunks, jobs)`` is a generator: with ``jobs == 1`` it runs
in this process; otherwise joblib's ``Parallel(return_as="generator")`` keeps
only a few chunks in flight, so memory does not grow with the input (work
that fits in one chunk is done in this process, without workers).  With
``backend="dask"`` the chunks go to a dask.distributed cluster through
joblib's dask backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, TypeVar

from joblib import Parallel, delayed, parallel_config

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """All usable cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_ordered(
    func: Callable[[list[T]], R],
    chunks: Iterable[list[T]],
    jobs: int,
    backend: str = "loky",
    scheduler: str | None = None,
) -> Iterator[R]:
    """Yield ``func(chunk)`` for every chunk, in input order.

    With local workers, a run whose work fits in one chunk (a cron run over
    a few new files) is done in this process: starting workers would cost
    more than it saves.
    """
    rest = iter(chunks)
    if backend == "dask":
        with _dask_client(scheduler), parallel_config(backend="dask"):
            yield from _parallel(func, rest, -1)
        return
    first = None
    for chunk in rest:
        if jobs != 1 and len(chunk) > 0:
            first = chunk
            break
        yield func(chunk)
    if first is None:
        return
    second = next(rest, None)
    if second is None:  # all the work is one chunk: starting workers would cost more
        yield func(first)
        return
    yield from _parallel(func, chain([first, second], rest), jobs)


def _parallel(func: Callable[[list[T]], R], chunks: Iterator[list[T]], n_jobs: int) -> Iterator[R]:
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
    return parallel(delayed(func)(chunk) for chunk in chunks)


def _dask_client(scheduler: str | None) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "the dask backend needs the optional extra: pip install 'batchdigits[dask]'"
        ) from None
    return Client(scheduler) if scheduler else Client(processes=True)
