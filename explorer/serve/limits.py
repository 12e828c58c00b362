"""Server settings for hosting the app for many people: limits, read-only mode, concurrency.

The defaults suit one person on their own machine. A public host (a Hugging Face Space)
sets them from the environment or from `python app.py` flags, once, before the UI is built:

    EXPLORER_READ_ONLY=1            serve the shipped (and already trained) models; no training
    EXPLORER_MAX_TRAIN_STEPS=N      refuse training runs longer than N steps
    EXPLORER_TRAIN_QUEUE=N          at most N training jobs wait behind the running one
    EXPLORER_SAMPLING_CONCURRENCY=N sampling requests computed at once (the rest queue)
    EXPLORER_TORCH_THREADS=N        torch threads per request (default 1: see thread hygiene below)
    EXPLORER_MAX_MODELS=N           refuse new training runs once the models folder holds N models
    EXPLORER_MODELS_PER_PERSON=N    on a public server, models one person may keep (default 5)
    EXPLORER_PUBLIC=1               a shared server: the limits below, and users cancel only their own jobs

Thread hygiene: Gradio runs handlers on a pool of worker threads, and every OS thread that
calls torch gets its own OpenMP team. With two threads per team, a server on 2 cores spent
2.9 s on a request that takes 1.2 s with one (benchmarks/load.py); so the app gives torch
one thread per call. A GPU host raises the sampling concurrency instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from explorer.config import truthy, zero_gpu
from explorer.limits import check_int
from explorer.training.config import MAX_TRAIN_STEPS

PUBLIC_MAX_TRAIN_STEPS = 20_000


PUBLIC_TRAIN_QUEUE = 4


DEFAULT_MAX_MODELS, PUBLIC_MAX_MODELS = 1000, 100  # trained models kept (a digits run stores about 10 MB)


PUBLIC_MODELS_PER_PERSON = 5  # so that one person's many short runs cannot use up max_models for everyone


DEFAULT_TRAIN_QUEUE = 8


MAX_SAMPLING_CONCURRENCY = 64


# One request at a time measured best on 2 cores: the small models are bound by Python's GIL, and
# a second concurrent request cut throughput from 0.82 to 0.63 requests/s (benchmarks/load.py).
DEFAULT_SAMPLING_CONCURRENCY = 1


@dataclass(frozen=True)
class ServerLimits:
    read_only: bool = False
    public: bool = False  # shared by strangers: stricter defaults, cancel only your own training job
    max_train_steps: int = MAX_TRAIN_STEPS
    train_queue: int = DEFAULT_TRAIN_QUEUE  # training jobs that may wait behind the running one
    sampling_concurrency: int = 1
    torch_threads: int = 1  # intra-op threads of each torch call in the app
    max_models: int = DEFAULT_MAX_MODELS  # models in the user's folder beyond which new runs are refused
    models_per_person: int = DEFAULT_MAX_MODELS  # of those, the ones one person may own (public servers)

    def validated(self) -> ServerLimits:
        return replace(
            self,
            max_train_steps=check_int("maximum training steps", self.max_train_steps, 1, MAX_TRAIN_STEPS),
            train_queue=check_int("training queue length", self.train_queue, 0, 1000),
            sampling_concurrency=check_int(
                "sampling concurrency", self.sampling_concurrency, 1, MAX_SAMPLING_CONCURRENCY
            ),  # fmt: skip
            torch_threads=check_int("torch threads", self.torch_threads, 1, 256),
            max_models=check_int("maximum models", self.max_models, 0, 1_000_000),
            models_per_person=check_int("models per person", self.models_per_person, 0, 1_000_000),
        )


def limits_from_env(env: dict[str, str] | None = None) -> ServerLimits:
    """The limits the environment asks for (see the module docstring); bad numbers raise ValueError."""
    env = dict(os.environ if env is None else env)
    public = truthy(env.get("EXPLORER_PUBLIC"))
    steps = env.get("EXPLORER_MAX_TRAIN_STEPS") or (PUBLIC_MAX_TRAIN_STEPS if public else MAX_TRAIN_STEPS)
    queue = env.get("EXPLORER_TRAIN_QUEUE") or (PUBLIC_TRAIN_QUEUE if public else DEFAULT_TRAIN_QUEUE)
    threads = env.get("EXPLORER_TORCH_THREADS") or 1
    sampling = env.get("EXPLORER_SAMPLING_CONCURRENCY") or DEFAULT_SAMPLING_CONCURRENCY
    models = env.get("EXPLORER_MAX_MODELS") or (PUBLIC_MAX_MODELS if public else DEFAULT_MAX_MODELS)
    per_person = env.get("EXPLORER_MODELS_PER_PERSON") or (PUBLIC_MODELS_PER_PERSON if public else models)
    read_only = truthy(env.get("EXPLORER_READ_ONLY"))
    return ServerLimits(
        read_only=read_only,
        public=public,
        max_train_steps=steps,
        train_queue=queue,
        sampling_concurrency=sampling,
        torch_threads=threads,
        max_models=models,
        models_per_person=per_person,
    ).validated()


_current: ServerLimits | None = None


def limits() -> ServerLimits:
    """The limits in force (read from the environment the first time)."""
    global _current
    if _current is None:
        _current = limits_from_env()
    return _current


def configure(new: ServerLimits) -> ServerLimits:
    """Set the limits in force (app.py does this from its flags; tests do it to try a setting)."""
    global _current
    _current = new.validated()
    return _current


def training_device() -> str | None:
    """The device a background training job is held on: the CPU on ZeroGPU hardware (a job outlives
    any one lent call; its steps go to the GPU in chunks, training.chunks), else None (the best available)."""
    return "cpu" if zero_gpu() else None
