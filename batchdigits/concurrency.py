"""Run a function over chunks of work in worker processes, results in order.

``map_ordered(func, chunks, jobs)`` is a generator: with ``jobs == 1`` it runs
in this process; otherwise joblib's ``Parallel(return_as="generator")`` keeps
only a few chunks in flight, so memory does not grow with the input.  With
``backend="dask"`` the chunks go to a dask.distributed cluster through
joblib's dask backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
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
    func: Callable[[T], R],
    chunks: Iterable[T],
    jobs: int,
    backend: str = "loky",
    scheduler: str | None = None,
) -> Iterator[R]:
    """Yield ``func(chunk)`` for every chunk, in input order."""
    if backend == "loky" and jobs == 1:
        for chunk in chunks:
            yield func(chunk)
        return
    with ExitStack() as stack:
        if backend == "dask":
            stack.enter_context(_dask_client(scheduler))
            stack.enter_context(parallel_config(backend="dask"))
            n_jobs = -1
        else:
            n_jobs = jobs
        parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
        yield from parallel(delayed(func)(chunk) for chunk in chunks)


def _dask_client(scheduler: str | None) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "the dask backend needs the optional extra: pip install 'batchdigits[dask]'"
        ) from None
    return Client(scheduler) if scheduler else Client(processes=True)
