"""What every dask worker of a run holds once: a worker plugin carrying one object.

Imported only with ``--backend dask`` (it imports ``distributed``).  A run's
model reaches each worker once through :class:`Shared` (registered with
``Client.register_plugin``); a worker that joins later, or is restarted after a
death, gets it from the scheduler too -- unlike scattered data, which is gone
with the worker that held it.  Tasks carry only :class:`WithShared`: the
function and the plugin's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

_HELD: dict[str, Any] = {}  # plugin name -> object, in each worker process


class Shared(WorkerPlugin):
    """Puts ``value`` in this worker's table under ``name``; removes it on teardown."""

    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value

    def setup(self, worker: Any) -> None:
        _HELD[self.name] = self.value

    def teardown(self, worker: Any) -> None:
        _HELD.pop(self.name, None)


@dataclass(frozen=True)
class WithShared:
    """``func(chunk, shared=<the object the plugin called name holds>)``, on a worker."""

    func: Callable[..., Any]
    name: str

    @property
    def __name__(self) -> str:  # the task's name on the dashboard: the function's
        return str(getattr(self.func, "__name__", "shared"))

    def __call__(self, chunk: list[Any]) -> Any:
        return self.func(chunk, shared=_HELD[self.name])
