"""Training objectives: each kind of model owns its training data, its loss, how its samples are
drawn for previews and evaluation, and what its checkpoint records about its process.

- Gaussian diffusion (Ho et al. 2020, eq. 14): L_simple = E |target - f(x_t, t)|^2 with
  x_t = q_sample(x0, t, eps) and the target eps, x0 or v; conditional models drop labels. On the VE
  process x_t = x0 + sigma eps the eps loss is denoising score matching with Song et al.'s weight
  lambda = sigma^2: sigma^2 |s_theta + eps / sigma|^2 = |eps_theta - eps|^2 for s_theta = -eps_theta / sigma.
- Rectified flow (Liu et al. 2023): the same loss on the straight path with the velocity eps - x0
  as the target, optionally on the coupled pairs of a teacher flow (reflow) or with each batch's
  noise paired to its data by minibatch optimal transport (training.coupling).
- D3PM (Austin et al. 2021): the hybrid loss L_vb + lambda L_ce on integer images.

Time convention: `t` is the 0-based schedule index (see core.schedules).
"""

from __future__ import annotations

from typing import Any

import torch

from explorer import data
from explorer.core.discrete.loss import hybrid_loss
from explorer.core.discrete.process import DiscreteProcess, categorical, make_process, on_device
from explorer.core.gaussian import q_sample
from explorer.core.parametrization import training_target
from explorer.core.schedules import FLOW, VE, NoiseSchedule, make_schedule, ve_sigma_max
from explorer.models.d3pm import DIGIT_LEVELS, model_logits
from explorer.sampling.discrete import prior_sample, reverse_steps, to_images
from explorer.sampling.gaussian import last
from explorer.sampling.registry import fast_sampler, reference_sampler, sample_steps
from explorer.training.config import TrainConfig, labelled_training_data, sample_shape
from explorer.training.coupling import ot_pairing, ot_pool
from explorer.training.reflow import reflow_pairs


def d3pm_loss(
    model: torch.nn.Module, process: DiscreteProcess, x0: torch.Tensor, generator: torch.Generator,
    hybrid_lambda: float,
) -> torch.Tensor:  # fmt: skip
    """The hybrid loss on one batch of integer images, one uniform step per image (`process` on
    the model's device, see discrete.on_device)."""
    k = torch.randint(0, process.T, (x0.shape[0],), generator=generator, device=x0.device)
    probs = process.Qbar[k].gather(1, x0.flatten(1).unsqueeze(-1).expand(-1, -1, process.states))  # (B, P, S)
    xt = categorical(probs, generator).view_as(x0)
    with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=x0.device.type == "cuda"):
        logits = model_logits(model, xt, k, process.states)
    return hybrid_loss(process, logits.float(), x0, xt, k, hybrid_lambda)


class GaussianObjective:
    """L_simple for eps-, x0- and v-prediction models, conditional ones with label dropout."""

    tag = "ddpm"  # the reference sampler its evaluation metrics are named after

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        x_data, y_data = labelled_training_data(config)
        sigma_max = config.sigma_max
        if config.schedule == VE and sigma_max is None:
            sigma_max = ve_sigma_max(x_data)  # Song & Ermon 2020, technique 1
        self.schedule: NoiseSchedule = make_schedule(config.schedule, config.T, config.zero_terminal_snr, sigma_max)
        self.x_data = x_data.to(device)
        self.y_data = y_data.to(device) if config.conditional else None
        self.noise: torch.Tensor | None = None  # reflow or an OT pool: the eps paired with each x_data row

    def noise_for(self, x0: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(x0.shape, generator=generator, device=self.device)

    def loss(self, model: torch.nn.Module, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """L_simple on the batch x_data[idx] (eq. 14), one uniform timestep per item."""
        c = self.config
        x0 = self.x_data[idx]
        t = torch.randint(0, c.T, (c.batch,), generator=generator, device=self.device)
        eps = self.noise_for(x0, idx, generator)
        xt = q_sample(self.schedule, x0, t, eps)
        y = None
        if self.y_data is not None:  # label dropout: one model learns the conditional and the null branch
            drop = torch.rand(c.batch, generator=generator, device=self.device) < c.label_dropout
            y = torch.where(drop, c.num_classes, self.y_data[idx])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = model(xt, t, y)
        return (out.float() - training_target(c.prediction, self.schedule, t, x0, eps)).pow(2).mean()

    @torch.no_grad()
    def samples(self, model: torch.nn.Module, n: int, generator: torch.Generator, steps: int | None) -> torch.Tensor:
        """n samples on the CPU: with the model's reference sampler (DDPM-T; Euler-T for rectified flow),
        or with `steps`, the deterministic few-step sampler (registry.fast_sampler, x0_hat in the data's range)."""
        shape = sample_shape(self.config.hyper(), n)
        x_T = torch.randn(shape, generator=generator, device=self.device) * self.schedule.prior_std
        bound = float(self.x_data.abs().max())
        sampler = reference_sampler(self.schedule) if steps is None else fast_sampler(self.schedule, steps, bound)
        run = sample_steps(sampler, model, self.schedule, x_T, generator, self.config.prediction)
        return last(run).x.float().cpu()

    def checkpoint_section(self) -> dict[str, Any]:
        """What config.json records about the process."""
        c = self.config
        section = {"name": c.schedule, "T": c.T, "zero_terminal_snr": c.zero_terminal_snr}
        if c.schedule == VE:
            section["sigma_max"] = self.schedule.prior_std
        return {"schedule": section}


class FlowObjective(GaussianObjective):
    """Rectified flow: the velocity eps - x0 on the straight path; with reflow, on a teacher's pairs."""

    tag = "euler"

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        if config.reflow:
            self.x_data, self.noise = reflow_pairs(config, device)
        elif config.coupling == "ot" and config.ot_pairs:
            gen = torch.Generator(device=device).manual_seed(config.seed + 11)
            self.x_data, self.noise = ot_pool(self.x_data, config.ot_pairs, config.ot_chunk, gen)

    def noise_for(self, x0: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.noise is not None:
            return self.noise[idx]  # reflow: the noise whose ODE path ends at x0; an OT pool: its pair
        eps = super().noise_for(x0, idx, generator)
        return ot_pairing(x0, eps, self.config.ot_chunk) if self.config.coupling == "ot" else eps


class D3PMObjective:
    """The hybrid loss of D3PM on the digits at their 17 grey levels."""

    tag = "d3pm"

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        self.process = make_process(config.transition, DIGIT_LEVELS, config.T)
        self.device_process = on_device(self.process, device)
        levels = data.digits_levels()[0]
        self.x_data = (levels[data.split_indices()[0]] if config.holdout else levels).to(device)

    def loss(self, model: torch.nn.Module, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return d3pm_loss(model, self.device_process, self.x_data[idx], generator, self.config.hybrid_lambda)

    @torch.no_grad()
    def samples(self, model: torch.nn.Module, n: int, generator: torch.Generator, steps: int | None) -> torch.Tensor:
        """n digits by ancestral sampling over `steps` of the T steps (None: all), as images in [-1, 1]."""
        x_T = prior_sample(self.process, (n, 1, 8, 8), generator, self.device)
        final = last(reverse_steps(model, self.process, x_T, steps or self.config.T, generator))
        return to_images(final.x, self.process.K).cpu()

    def checkpoint_section(self) -> dict[str, Any]:
        c = self.config
        return {"schedule": {"name": c.schedule, "T": c.T, "zero_terminal_snr": c.zero_terminal_snr},
                "discrete": {"transition": c.transition, "K": self.process.K, "states": self.process.states,
                             "hybrid_lambda": c.hybrid_lambda}}  # fmt: skip


Objective = GaussianObjective | FlowObjective | D3PMObjective


def make_objective(config: TrainConfig, device: torch.device) -> Objective:
    """The objective a validated config trains with."""
    if config.discrete:
        return D3PMObjective(config, device)
    if config.schedule == FLOW:
        return FlowObjective(config, device)
    return GaussianObjective(config, device)
