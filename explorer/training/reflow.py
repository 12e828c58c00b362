"""Reflow (Liu et al. 2023, sec. 2.3): noise-data pairs coupled by a flow model's ODE."""

from __future__ import annotations

import torch

from explorer.core.schedules import FLOW
from explorer.training.config import TrainConfig, sample_shape

REFLOW_BATCH = 2048


@torch.no_grad()
def reflow_pairs(config: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Reflow (Liu et al. 2023, sec. 2.3): n_data noises eps ~ N(0, I), seeded, and the data x0 the
    teacher flow model's ODE (Euler, reflow_steps steps) carries each to. Training on the straight
    lines between these coupled pairs straightens the paths."""
    from explorer.sampling.gaussian import Estimator, euler_steps, last
    from explorer.sampling.spacings import timesteps
    from explorer.store.registry import REGISTRY

    teacher = REGISTRY.handle(config.reflow, str(device))
    schedule = teacher.schedule
    if schedule is None or schedule.kind != FLOW or teacher.dataset != config.dataset:
        process = teacher.info.schedule.name
        raise ValueError(f"reflow needs a rectified-flow model of {config.dataset!r}; {config.reflow!r} is a "
                         f"{process} model of {teacher.dataset!r}")  # fmt: skip
    gen = torch.Generator(device=device).manual_seed(config.seed + 7)
    noise = torch.randn(sample_shape(teacher.hyper, config.n_data), generator=gen, device=device)
    estimate, ts = (
        Estimator(teacher.model, schedule, "flow"),
        timesteps(schedule.T, config.reflow_steps, "trailing", schedule),
    )
    data_ = [last(euler_steps(estimate, batch, ts)).x
             for batch in noise.split(REFLOW_BATCH)]  # fmt: skip
    return torch.cat(data_), noise
