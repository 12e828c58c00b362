"""The ELBO of a model on data, estimated term by term: Gaussian (DDPM, flow) and discrete (D3PM).

Every index t >= 1 is a term L_{t-1}; the full evaluation computes all T - 1 of them (T model calls
with the decoder), the reference. The respaced estimate (`every` = k > 1) splits 1..T-1 into strata
of k consecutive indices (narrower near the data, see strata) and draws one index per stratum and per
item, uniformly, weighting its term by the stratum's size: an unbiased, stratified estimate of the same
sum from about T / k model calls.
The standard error is that of the mean over items (it covers the noise draws, the strata draws and
the data). Every draw takes the generator (a CPU one: core.draws moves its draws to the data's device).
Time convention: `t` is the 0-based schedule index; the reported steps are the paper's t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from explorer.core import draws
from explorer.core.discrete.loss import prior_kl, vb_terms
from explorer.core.discrete.process import DiscreteProcess, categorical
from explorer.core.likelihood import (
    bits_per_dim,
    decoder_term,
    flat_sum,
    prior_term,
    transition_term,
)
from explorer.core.parametrization import predict_x0_eps
from explorer.core.schedules import NoiseSchedule
from explorer.limits import MAX_T, check_int
from explorer.models.d3pm import model_logits

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, per-row t) -> network output

BATCH = 512  # items per model call


@dataclass(frozen=True)
class ElboTerms:
    """An ELBO estimate over n items, in `unit` (bits/dim for images, nats per point for points)."""

    unit: str
    dims: int
    n: int
    every: int
    prior: float  # mean L_T
    transitions: float  # mean sum of the L_{t-1}
    decoder: float  # mean L_0
    total: float
    stderr: float  # of the total's mean over the items
    steps: list[int]  # the paper's t of each plotted term (a stratum's middle when respaced)
    terms: list[float]  # mean L_{t-1} per index at those steps (per step, so strata compare with full)
    nfe: int
    decoder_kind: str


def strata(T: int, every: int) -> list[range]:
    """Indices 1..T-1 in runs of `every` consecutive ones (the last may be shorter), narrower near the
    data: a run is never wider than the index it starts at (1, 2-3, 4-7, 8-15, ... up to `every`). The
    terms fall roughly like 1/t there (digits-unet: 0.38 bits/dim at t = 2, 0.059 at t = 10), so a run of
    10 from t = 1 weighted a 6x spread of terms by 10, and its draws dominated the estimate's variance;
    with runs no wider than their start, the terms within one differ by about 2x at most."""
    every = check_int("every", every, 1, MAX_T)
    runs, start = [], 1
    while start < T:
        end = min(start + min(every, start), T)
        runs.append(range(start, end))
        start = end
    return runs


def _draw(stratum: range, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return stratum.start + draws.randint(len(stratum), (n,), generator, device)


def _summary(per_item: dict[str, torch.Tensor], plotted: list[tuple[int, float]], every: int, nfe: int,
             dims: int, image: bool, decoder_kind: str) -> ElboTerms:  # fmt: skip
    """Means (and the total's standard error) of per-item nats, converted to the unit."""
    scale = (lambda v: float(bits_per_dim(v, dims))) if image else float  # noqa: E731
    total = per_item["prior"] + per_item["transitions"] + per_item["decoder"]
    n = total.shape[0]
    stderr = float(total.std()) / n**0.5 if n > 1 else float("nan")
    return ElboTerms(
        unit="bits/dim" if image else "nats", dims=dims, n=n, every=every,
        prior=scale(per_item["prior"].mean()), transitions=scale(per_item["transitions"].mean()),
        decoder=scale(per_item["decoder"].mean()), total=scale(total.mean()), stderr=scale(stderr),
        steps=[s for s, _ in plotted], terms=[scale(v) for _, v in plotted], nfe=nfe, decoder_kind=decoder_kind,
    )  # fmt: skip


@torch.no_grad()
def gaussian_elbo(
    model: Denoiser, schedule: NoiseSchedule, prediction: str, x0: torch.Tensor, generator: torch.Generator,
    every: int = 1, variance: str = "beta", levels: int | None = None,
) -> ElboTerms:  # fmt: skip
    """The ELBO of a Gaussian (or rectified-flow) model on x0: images on `levels` grey levels in
    [-1, 1] get the discretised decoder and bits/dim; points (levels None) a Gaussian density
    decoder and nats per point. One eps draw per item and term."""
    image = x0.dim() > 2
    device, dims, n = x0.device, x0[0].numel(), x0.shape[0]

    def x0_hat(t: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, n, BATCH):
            x, tt = x0[start : start + BATCH], t[start : start + BATCH]
            eps = draws.randn(x.shape, generator, device, x.dtype)
            a = schedule.sqrt_alpha_bar.to(device)[tt].to(x.dtype).view(-1, *[1] * (x.dim() - 1))
            s = schedule.sqrt_one_minus_alpha_bar.to(device)[tt].to(x.dtype).view_as(a)
            xt = a * x + s * eps
            out.append(predict_x0_eps(schedule, model(xt, tt), xt, tt, prediction)[0])
        return torch.cat(out)

    transitions = torch.zeros(n, dtype=torch.float64, device=device)
    plotted, nfe = [], 0
    for stratum in strata(schedule.T, every):
        t = _draw(stratum, n, generator, device)
        term = transition_term(schedule, t.cpu(), x0.double().cpu(), x0_hat(t).double().cpu(), variance).to(device)
        transitions += len(stratum) * term
        plotted.append((stratum.start + len(stratum) // 2 + 1, float(term.mean())))
        nfe += 1
    zero = torch.zeros(n, dtype=torch.long, device=device)
    decoder = decoder_term(schedule, x0.double().cpu(), x0_hat(zero).double().cpu(), variance, levels).to(device)
    per_item = dict(prior=prior_term(schedule, x0.double()), transitions=transitions, decoder=decoder)
    kind = f"discretised Gaussian over {levels} levels" if levels else "Gaussian density"
    return _summary(per_item, plotted, every, nfe + 1, dims, image, kind)


@torch.no_grad()
def discrete_elbo(
    model: torch.nn.Module, process: DiscreteProcess, x0: torch.Tensor, generator: torch.Generator, every: int = 1
) -> ElboTerms:
    """The D3PM ELBO of integer images x0 (B, 1, H, W) in bits/dim: L_T against the stationary
    distribution, categorical KLs L_{t-1} (the L_vb of the hybrid loss), and L_0 = -log p(x0 | x_1)."""
    device, dims, n = x0.device, x0[0].numel(), x0.shape[0]
    Qbar = process.Qbar.to(device=device, dtype=torch.float32)

    def term(k: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, n, BATCH):
            x, kk = x0[start : start + BATCH], k[start : start + BATCH]
            probs = Qbar[kk.view(-1, 1, 1, 1), x]  # q(x_k | x0) per position: (B, 1, H, W, S)
            xt = categorical(probs, generator)
            logits = model_logits(model, xt, kk, process.states).double()
            vb, _ = vb_terms(process, logits, x, xt, kk)
            out.append(flat_sum(vb))
        return torch.cat(out)

    transitions = torch.zeros(n, dtype=torch.float64, device=device)
    plotted, nfe = [], 0
    for stratum in strata(process.T, every):
        value = term(_draw(stratum, n, generator, device))
        transitions += len(stratum) * value
        plotted.append((stratum.start + len(stratum) // 2 + 1, float(value.mean())))
        nfe += 1
    decoder = term(torch.zeros(n, dtype=torch.long, device=device))
    per_item = dict(prior=flat_sum(prior_kl(process, x0.cpu())).to(device), transitions=transitions, decoder=decoder)
    return _summary(per_item, plotted, every, nfe + 1, dims, True, "categorical p(x0 | x_1)")
