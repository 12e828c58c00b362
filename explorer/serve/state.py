"""The app's state, one object that build_demo receives: what every session shares.

Gradio's per-session State holds only small keys (it is deep-copied); the models, the recorded
runs and the training queue live here, shared by all sessions and safe across threads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from explorer.activity import REQUESTS
from explorer.runs.store import RunKey, RunStore
from explorer.serve.limits import ServerLimits, limits
from explorer.serve.training_queue import JobFactory, TrainingQueue
from explorer.store.registry import REGISTRY, ModelRegistry


@dataclass
class AppState:
    """The server's limits, its model registry, the store of recorded runs and the training queue."""

    limits: ServerLimits
    registry: ModelRegistry
    runs: RunStore = field(default_factory=RunStore)
    queue: TrainingQueue | None = None

    def run_key(self, kind: str, settings: Hashable, models: tuple[str, ...] | None = None) -> RunKey:
        """The store key of a run: its kind, its settings and the current weights of its models
        (default: settings.model), so a retrained model never serves an old run."""
        names = models if models is not None else (settings.model,)  # type: ignore[attr-defined]
        return (kind, settings, " ".join(self.registry.weights(name) for name in names))

    def record(self, kind: str, settings: Hashable, make: Callable[[], Any],
               models: tuple[str, ...] | None = None) -> tuple[RunKey, Any]:  # fmt: skip
        """Compute (or reuse) a run; heavy endpoints call this. Returns its key and the run."""
        key = self.run_key(kind, settings, models)
        return key, self.runs.compute(key, make)


def make_state(make_job: JobFactory | None = None, registry: ModelRegistry = REGISTRY) -> AppState:
    """The state for a new app: the limits in force, the process's registry, an empty run store, and
    a training queue whose finished runs invalidate their model in the registry and whose jobs give way
    to the process's heavy requests (activity.REQUESTS)."""
    state = AppState(limits(), registry)
    if make_job is not None:
        state.queue = TrainingQueue(make_job, on_saved=registry.invalidate, yield_to=REQUESTS)
    return state
