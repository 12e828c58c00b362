"""Early stopping chosen by FD: which checkpoint of a digits run to ship.

A run trained with `holdout` never sees the 297 held-out digits of data.split_indices. With
`keep_best`, its EMA model is scored at every checkpoint by the Fréchet distance of FD_N samples
(a deterministic few-step sampler, SELECT_STEPS steps; D3PM: ancestral over SELECT_STEPS) to those
held-out digits, and the weights with the lowest FD are the ones the checkpoint ships. A model that
starts to copy its 1,500 training digits drifts away from digits it has not met, so this FD turns
up where the training-set FD would keep falling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

SELECT_STEPS = 25


SELECT_SEED = 7  # added to the run's seed: the same x_T at every checkpoint


@dataclass
class Selection:
    """The held-out FD of every checkpoint so far and the best weights (on the CPU)."""

    trace: list[tuple[int, float]] = field(default_factory=list)  # (step, FD to the held-out digits)
    best_step: int = 0
    best_fd: float = math.inf
    best_weights: dict[str, torch.Tensor] | None = None

    def record(self, step: int, fd: float, weights: dict[str, torch.Tensor]) -> None:
        """Add a checkpoint's score; keep its weights when it is the best so far."""
        self.trace.append((step, fd))
        if fd < self.best_fd:
            self.best_step, self.best_fd = step, fd
            self.best_weights = {k: v.detach().cpu().clone() for k, v in weights.items()}

    def section(self) -> dict[str, Any]:
        """What config.json records: the rule, every checkpoint's FD and the step shipped."""
        return {"metric": f"FD to the 297 held-out digits, {SELECT_STEPS}-step sampler",
                "trace": [[s, round(f, 4)] for s, f in self.trace], "kept_step": self.best_step}  # fmt: skip

    @classmethod
    def restored(cls, section: dict[str, Any] | None, weights: dict[str, torch.Tensor] | None) -> Selection:
        """The selection of a saved run (its config section and the best weights kept for resuming)."""
        selection = cls()
        for step, fd in (section or {}).get("trace", []):
            selection.trace.append((int(step), float(fd)))
        if weights and section:
            selection.best_step = int(section["kept_step"])
            selection.best_fd = dict(selection.trace).get(selection.best_step, math.inf)
            selection.best_weights = weights
        return selection


def held_out_fd(objective: Any, model: torch.nn.Module, seed: int) -> float:
    """FD of the model's samples to the held-out digits (evaluation.sample_report.fd_to_held_out)."""
    from explorer.evaluation.sample_report import FD_N, fd_to_held_out

    generator = torch.Generator(device=objective.device).manual_seed(seed + SELECT_SEED)
    was_training = model.training
    model.eval()
    try:
        return fd_to_held_out(objective.samples(model, FD_N, generator, min(SELECT_STEPS, objective.config.T)))
    finally:
        model.train(was_training)
