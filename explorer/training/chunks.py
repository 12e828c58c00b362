"""Training on a GPU lent one call at a time (Hugging Face ZeroGPU).

ZeroGPU lends its GPU only inside a function wrapped by `spaces.GPU(duration=...)`, run in another
process for at most that long, with its arguments and result passed by value. A background training
job therefore advances in chunks: the job's thread keeps the run on the CPU (checkpoints, previews,
the held-out selection, cancel and progress work as in any run) and hands each chunk the run's state
(Trainer.run_state: weights, optimiser moments, EMA, generator state) with a step count and a time
budget; the chunk rebuilds the trainer on the GPU, trains until either runs out, and returns the new
state and the losses. Cancelling takes effect between chunks. The budget stays under the duration
asked for, with room for building the trainer and moving the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer

CHUNK_DURATION_S = 60  # what each call asks ZeroGPU for


CHUNK_BUDGET = 0.75  # of the duration spent on steps: the rest builds the trainer and moves the state


ChunkState = dict[str, torch.Tensor]


def train_chunk(config: TrainConfig, state: ChunkState, step: int, steps: int, budget_s: float,
                device: str) -> tuple[ChunkState, list[float]]:  # fmt: skip
    """At most `steps` optimiser steps from `state` (taken at `step`) on `device`, stopping early when
    `budget_s` has passed or a loss is not finite (that step is not applied). Runs inside the lent
    call: everything in and out is plain data on the CPU."""
    start = time.perf_counter()
    trainer = Trainer(config, Path("unused"), device=device)
    trainer.load_run_state(state, step)
    losses = []
    while len(losses) < steps and (not losses or time.perf_counter() - start < budget_s):
        losses.append(trainer.train_step())
        if not torch.isfinite(torch.tensor(losses[-1])):
            break
    return {k: v.cpu() for k, v in trainer.run_state(ema=True).items()}, losses


@dataclass
class ChunkedSteps:
    """The `advance` of run_training for lent GPU time: each call runs one chunk through `lend`
    (train_chunk wrapped by spaces.GPU) and brings its state back into the CPU trainer."""

    lend: Callable[..., tuple[ChunkState, list[float]]]
    device: str = "cuda"
    duration_s: float = CHUNK_DURATION_S
    calls: int = 0
    rng: torch.Tensor | None = None  # the lent device's generator state, carried from chunk to chunk

    def __call__(self, trainer: Trainer, steps: int) -> list[float]:
        state = trainer.run_state(ema=True)
        if self.rng is not None:  # the CPU trainer's generator cannot hold a GPU generator's state
            state["rng"] = self.rng
        state, losses = self.lend(trainer.config, state, trainer.step, steps, CHUNK_BUDGET * self.duration_s,
                                  self.device)  # fmt: skip
        self.calls, self.rng = self.calls + 1, state["rng"]
        applied = sum(1 for loss in losses if torch.isfinite(torch.tensor(loss)))
        trainer.load_run_state(state, trainer.step + applied)
        return losses


def chunkable(config: TrainConfig) -> bool:
    """Whether a chunk can rebuild the run's trainer quickly: not with a teacher's reflow pairs or a
    pre-paired OT pool, which take minutes to make (those runs train on the CPU)."""
    return config.reflow is None and not config.ot_pairs


def lent_gpu_steps(spaces_module: object, duration_s: float = CHUNK_DURATION_S, device: str = "cuda") -> ChunkedSteps:
    """Chunks for ZeroGPU: train_chunk wrapped by `spaces.GPU(duration=duration_s)`, run on `device`."""
    lend = spaces_module.GPU(duration=duration_s)(train_chunk)  # type: ignore[attr-defined]
    return ChunkedSteps(lend, device, duration_s)
