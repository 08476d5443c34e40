"""Run a function over chunks of work in worker processes, results in order.

``map_ordered(func, chunks, jobs)`` is a generator: with ``jobs == 1`` it runs
in this process; otherwise loky's reusable process pool (the one joblib is
built on, without joblib: each process that imports joblib pays 0.3 s of CPU
for it, numpy included, and a cold run starts four) keeps only ``2 * jobs``
chunks in flight, so memory does not grow with the input (work that fits in
one chunk is done in this process, without workers).  With
``backend="dask"`` the chunks go to a dask.distributed cluster
(:func:`batchdigits.io.cluster.cluster_map`).

A worker that dies (the OOM killer, a crashing decoder, ``kill -9``) does not
end the run: the chunks that were in flight are done again one item at a
time, each in a fresh call to the workers, and the item that kills a worker
again gets ``died(item)`` as its answer.  Local workers exit on their own
when this process dies (see :func:`watch_parent`).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Future
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeVar

from .cluster import cluster_map
from ..defaults import DEFAULT_SCHEDULER_TIMEOUT

T = TypeVar("T")
R = TypeVar("R")

WORKER_MEMORY = 256 * 2**20
"""Memory a local worker may allocate beyond what it holds after start-up (its
``RLIMIT_DATA``): an image needing more is a ``MemoryError``, an error row, so
the run's peak stays about ``main + jobs * (62 MB + WORKER_MEMORY)``."""
IDLE_WORKER_SECONDS = 300  # an idle worker exits after this long (joblib's default)
PARENT_POLL_SECONDS = 0.25  # how often a worker checks that its parent is alive
_IN_WORKER = False  # set in a local worker process by its first chunk
_POOL: Any = None  # loky's pool the last run used (loky keeps it for the next), untyped


def default_jobs() -> int:
    """All usable cores: ``loky.cpu_count()``, joblib's count (CPU affinity and cgroup CPU quotas respected)."""
    from loky import cpu_count  # only once there is work for workers

    return max(1, cpu_count())


def map_ordered(
    func: Callable[..., Sequence[R]],
    chunks: Iterable[list[T]],
    jobs: int,
    backend: str = "loky",
    scheduler: str | None = None,
    died: Callable[[T], R] | None = None,
    shared: object = None,
    scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
) -> Iterator[Sequence[R]]:
    """Yield ``func(chunk)`` (one answer per item) for every chunk, in input order.

    ``jobs`` is the number of worker processes; 0 asks :func:`default_jobs` once
    there is work (an empty chunk is answered ``[]`` without a call).

    With ``shared`` given, each call is ``func(chunk, shared)``: a dask cluster
    gets ``shared`` once per worker (scattered); local workers get it with
    every chunk, so it should be small (a reference to a file, say).
    With local workers, a run whose work fits in one chunk (a cron run over
    a few new files) is done in this process: starting workers would cost
    more than it saves.  ``died(item)`` is the answer for an item whose
    worker died twice (once among others, once alone); without it a dying
    worker ends the run with the worker-death exception.
    """
    rest = iter(chunks)
    if backend == "dask":
        yield from cluster_map(func, rest, scheduler, died, shared, scheduler_timeout)
        return
    if shared is not None:
        func = functools.partial(func, shared=shared)
    first = None
    for chunk in rest:
        if len(chunk) == 0:  # nothing to do: no call (an empty folder, an unchanged rerun import nothing for it)
            yield []
            continue
        jobs = jobs or default_jobs()
        if jobs != 1:
            first = chunk
            break
        yield func(chunk)
    if first is None:
        return
    second = next(rest, None)
    if second is None:  # all the work is one chunk: starting workers would cost more
        yield func(first)
        return
    yield from _surviving(InWorker(func, os.getpid()), chain([first, second], rest), jobs, died)


def _surviving(
    func: Callable[[list[T]], Sequence[R]], chunks: Iterator[list[T]], n_jobs: int,
    died: Callable[[T], R] | None,
) -> Iterator[Sequence[R]]:
    """``_parallel`` that survives dying workers (see the module docstring)."""
    while True:
        in_flight: deque[list[T]] = deque()  # handed to the workers, answer not yet yielded
        try:
            for answer in _parallel(func, _recorded(chunks, in_flight), n_jobs):
                in_flight.popleft()
                yield answer
            return
        except worker_deaths():
            if died is None:
                raise
        for chunk in list(in_flight):  # then on with a fresh pool for the rest
            yield [_alone(func, item, n_jobs, died) for item in chunk]


def _recorded(chunks: Iterator[list[T]], into: deque[list[T]]) -> Iterator[list[T]]:
    """``chunks``, each appended to ``into`` as it is taken."""
    for chunk in chunks:
        into.append(chunk)
        yield chunk


def _alone(func: Callable[[list[T]], Sequence[R]], item: T, n_jobs: int, died: Callable[[T], R]) -> R:
    """``func([item])[0]`` in a worker of its own call: a death is this item's."""
    try:
        return next(iter(_parallel(func, iter([[item]]), n_jobs)))[0]
    except worker_deaths():
        return died(item)


def worker_deaths() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a local worker process died: loky's broken pool
    (``TerminatedWorkerError``).  A cluster's dead worker: see :mod:`batchdigits.io.cluster`."""
    return (BrokenExecutor,)


def _parallel(func: Callable[[list[T]], R], chunks: Iterator[list[T]], n_jobs: int) -> Iterator[R]:
    """``func(chunk)`` for every chunk in loky's reusable pool of ``n_jobs`` workers, in
    order, ``2 * n_jobs`` chunks in flight; a run that stops early drops the chunks not started."""
    from loky import get_reusable_executor

    global _POOL
    executor = _POOL = get_reusable_executor(max_workers=n_jobs, timeout=IDLE_WORKER_SECONDS, env=_worker_env(n_jobs))
    window: deque[Future[R]] = deque()
    try:
        for chunk in chunks:
            window.append(executor.submit(func, chunk))
            if len(window) >= 2 * n_jobs:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for future in window:
            future.cancel()


# the thread pools a worker's libraries start, sized to its share of the cores unless set
# (as joblib's loky backend does: ``LokyBackend.MAX_NUM_THREADS_VARS``)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _worker_env(n_jobs: int) -> dict[str, str]:
    share = str(max(default_jobs() // n_jobs, 1))
    env = {var: os.environ.get(var, share) for var in THREAD_VARS}
    env["ENABLE_IPC"] = os.environ.get("ENABLE_IPC", "1")  # TBB's schedulers coordinate across processes
    return env


@dataclass(frozen=True)
class InWorker(Generic[T, R]):
    """``func`` as a local worker runs it: first making sure the worker exits
    when the process ``parent`` dies."""

    func: Callable[[list[T]], Sequence[R]]
    parent: int

    def __call__(self, chunk: list[T]) -> Sequence[R]:
        global _IN_WORKER
        if not _IN_WORKER and os.getpid() != self.parent:
            _IN_WORKER = True
            watch_parent(self.parent)
            limit_memory(WORKER_MEMORY)
        return self.func(chunk)


def stop_workers() -> None:
    """End this process's local workers now, without waiting for each to shut down its
    own interpreter: for a process about to exit (the console script, after its
    command).  Python's exit would otherwise wait in loky's exit hook for every
    worker, idle since the last answer, to finish its exit: 0.3 s at load 5, 1.1-1.5 s
    at load 9 between the CSV in place and the main process's own exit (traced cold
    CLI runs, 2 workers, 2 cores).  A library caller's workers stay for its next run."""
    if _POOL is not None:
        _POOL.shutdown(wait=True, kill_workers=True)


def imported(module: str, name: str) -> object:
    """``module.name``, its module imported now: how a pickled reference to a function
    can name it without importing its module where it is pickled (see
    :class:`batchdigits.run.pipeline._ReadChunk`).

    >>> imported("os.path", "join")("a", "b")
    'a/b'
    """
    import importlib

    return getattr(importlib.import_module(module), name)


def in_worker() -> bool:
    """True in a worker process: a local one started by :func:`map_ordered`, or a dask worker."""
    return _IN_WORKER or _in_dask_worker()


def _in_dask_worker() -> bool:
    distributed = sys.modules.get("distributed")  # imported in a dask worker, else not needed
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:  # "No worker found"
        return False
    return True


def watch_parent(parent: int) -> None:
    """Exit this process at once when ``parent`` is no longer its parent (it died,
    ``kill -9`` included, and this process was handed to init): a thread that
    polls ``os.getppid()`` every :data:`PARENT_POLL_SECONDS`.  Portable, unlike
    Linux's ``PR_SET_PDEATHSIG``, which fires when the *thread* that started
    the worker ends rather than the process."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # no cleanup: the parent, who wanted the answers, is gone

    threading.Thread(target=watch, name="batchdigits-parent-watch", daemon=True).start()


def limit_memory(budget: int) -> None:
    """Let this process allocate at most ``budget`` bytes more (``RLIMIT_DATA`` over
    the current ``VmData``; Linux).  Not ``RLIMIT_AS``: the address space of
    OpenBLAS's threads and of shared libraries is reserved, not used."""
    try:
        import resource

        with open("/proc/self/status") as fh:
            used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmData:"))
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = used + budget if hard == resource.RLIM_INFINITY else min(hard, used + budget)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    except (ImportError, OSError, StopIteration, ValueError):
        pass  # not Linux: no bound, the pixel cap still holds
