"""Discrete-state diffusion: D3PM (Austin et al. 2021), its transition matrices and posterior.

Every position holds one of K categories; corruption is a Markov chain with transition
matrices Q_t (rows: from, columns: to), so q(x_t | x_{t-1}) = Cat(x_{t-1} Q_t) and
q(x_t | x0) = Cat(x0 Qbar_t) with Qbar_t = Q_1 ... Q_t. Absorbing corruption adds a
[MASK] state, index K, so it has K + 1 states. Time convention: index k holds the paper's
step t = k + 1, and the data sit before index 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch

from explorer.core import draws
from explorer.core.schedules import cosine_betas, linear_betas
from explorer.limits import MAX_T, MIN_T, check_int


class Transition(StrEnum):
    """The corruption a D3PM process applies (Austin et al. 2021, sec. 3-4)."""

    UNIFORM = "uniform"
    ABSORBING = "absorbing"
    GAUSSIAN = "gaussian"  # discretized Gaussian


TRANSITIONS = tuple(t.value for t in Transition)


MIN_CATEGORIES, MAX_CATEGORIES = 2, 256


HYBRID_LAMBDA = {"uniform": 0.001, "absorbing": 0.001, "gaussian": 0.001}  # Austin et al.: 0.001 for images


LOG_EPS = 1e-20  # probabilities are floored here before a log, so a loss never sees log(0)


@dataclass(frozen=True)
class DiscreteProcess:
    """The matrices of one corruption process (float64)."""

    transition: str
    K: int  # data categories
    T: int
    betas: torch.Tensor  # (T,)
    Q: torch.Tensor  # (T, S, S), S = K (+ 1 for the mask)
    Qbar: torch.Tensor  # (T, S, S)

    @property
    def states(self) -> int:
        return self.Q.shape[-1]

    @property
    def mask(self) -> int | None:
        return self.K if self.transition == "absorbing" else None


def absorbing_betas(T: int) -> torch.Tensor:
    """beta_t = 1 / (T - t + 1), t = 1..T: the chance of being masked at step t given unmasked
    so far, so that exactly (T - t) / T of the positions remain at step t and all are masked at T."""
    t = torch.arange(1, T + 1, dtype=torch.float64)
    return 1.0 / (T - t + 1)


def gaussian_matrix(K: int, beta: float) -> torch.Tensor:
    """Austin et al. eq. (discretized Gaussian): Q_ij = exp(-4 (i - j)^2 / ((K - 1)^2 beta)) / Z for
    i != j, Z = sum over n from -(K - 1) to K - 1 of exp(-4 n^2 / ((K - 1)^2 beta)), and the
    diagonal takes the rest; symmetric, so doubly stochastic."""
    n = torch.arange(-(K - 1), K, dtype=torch.float64)
    z = torch.exp(-4 * n**2 / ((K - 1) ** 2 * beta)).sum()
    i = torch.arange(K, dtype=torch.float64)
    Q = torch.exp(-4 * (i[:, None] - i[None, :]) ** 2 / ((K - 1) ** 2 * beta)) / z
    Q.fill_diagonal_(0.0)
    Q += torch.diag(1.0 - Q.sum(1))
    return Q


def make_process(transition: str, K: int, T: int) -> DiscreteProcess:
    """Q_t and Qbar_t for `transition` with the paper's schedules: uniform with the cosine
    schedule (closed form Qbar_t = abar_t I + (1 - abar_t) 11^T / K), absorbing with
    1 / (T - t + 1) (closed form Qbar_t = abar_t I + (1 - abar_t) 1 e_mask^T), discretized
    Gaussian with the linear schedule (Qbar_t as a float64 running product). The Gaussian kernel's
    width is a fixed fraction of the K levels, so on the integer grid it reaches the uniform limit
    by t = T for K of about 16 and up (the paper's 256 levels, the digits' 17) but barely moves
    small K: the tab shows the marginal beside the stationary distribution for that reason."""
    if transition not in TRANSITIONS:
        raise ValueError(f"unknown transition {transition!r}; choose from {list(TRANSITIONS)}")
    K = check_int("categories K", K, MIN_CATEGORIES, MAX_CATEGORIES)
    T = check_int("T", T, MIN_T, MAX_T)
    if transition == "uniform":
        betas = cosine_betas(T).clamp(max=1.0)
        eye, flat = torch.eye(K, dtype=torch.float64), torch.full((K, K), 1.0 / K, dtype=torch.float64)
        Q = (1 - betas)[:, None, None] * eye + betas[:, None, None] * flat
        abar = torch.cumprod(1 - betas, 0)
        Qbar = abar[:, None, None] * eye + (1 - abar)[:, None, None] * flat
    elif transition == "absorbing":
        betas = absorbing_betas(T)
        S = K + 1
        eye = torch.eye(S, dtype=torch.float64)
        to_mask = torch.zeros(S, S, dtype=torch.float64)
        to_mask[:, K] = 1.0
        Q = (1 - betas)[:, None, None] * eye + betas[:, None, None] * to_mask
        Q[:, K] = 0.0
        Q[:, K, K] = 1.0  # the mask absorbs
        abar = torch.cumprod(1 - betas, 0)
        Qbar = abar[:, None, None] * eye + (1 - abar)[:, None, None] * to_mask
        Qbar[:, K] = 0.0
        Qbar[:, K, K] = 1.0
    else:
        betas = linear_betas(T)
        Q = torch.stack([gaussian_matrix(K, float(b)) for b in betas])
        Qbar = torch.empty_like(Q)
        running = torch.eye(K, dtype=torch.float64)
        for k in range(T):
            running = running @ Q[k]
            Qbar[k] = running
    return DiscreteProcess(transition, K, T, betas, Q, Qbar)


def on_device(process: DiscreteProcess, device: torch.device | str) -> DiscreteProcess:
    """The process's matrices as float32 on `device` (cast on the CPU first: MPS has no float64)."""
    move = lambda m: m.float().to(device)  # noqa: E731
    return DiscreteProcess(process.transition, process.K, process.T, move(process.betas), move(process.Q),
                           move(process.Qbar))  # fmt: skip


def stationary(process: DiscreteProcess) -> torch.Tensor:
    """The limit of q(x_t) as t grows: uniform over K (uniform and discretized Gaussian, both
    doubly stochastic) or all mass on the mask (absorbing)."""
    if process.mask is not None:
        out = torch.zeros(process.states, dtype=torch.float64)
        out[process.mask] = 1.0
        return out
    return torch.full((process.K,), 1.0 / process.K, dtype=torch.float64)


def q_probs(process: DiscreteProcess, x0: torch.Tensor, k: int) -> torch.Tensor:
    """q(x_k | x0) = x0 Qbar_k: (..., S) probabilities for integer x0 (...)."""
    return process.Qbar[k][x0]


def categorical(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per distribution on the last axis (Gumbel-max, seeded, in the probabilities' type and device)."""
    u = draws.rand(probs.shape, generator, probs.device, probs.dtype).clamp(1e-12, 1 - 1e-6)
    return torch.argmax(torch.log(probs.clamp_min(LOG_EPS)) - torch.log(-torch.log(u)), dim=-1)


def q_sample(process: DiscreteProcess, x0: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Draw x_k ~ Cat(x0 Qbar_k) at every position."""
    return categorical(q_probs(process, x0, k), generator)


def state_count(transition: str, K: int) -> int:
    """States of a process over K categories: absorbing corruption adds the [MASK]."""
    return K + (transition == "absorbing")


def transition_between(process: DiscreteProcess, s: int, k: int) -> torch.Tensor:
    """Q_{s -> k} = Q_{s+1} ... Q_k, the (S, S) matrix of q(x_k | x_s) for indices -1 <= s < k
    (s = -1 is the data, so Q_{-1 -> k} = Qbar_k). A float64 product of k - s matrices, so any
    transition works; a skipping sampler multiplies T matrices in all."""
    if not -1 <= s < k < process.T:
        raise ValueError(f"need -1 <= s < k < T, got s = {s}, k = {k}")
    if s == -1:
        return process.Qbar[k]
    out = process.Q[s + 1]
    for j in range(s + 2, k + 1):
        out = out @ process.Q[j]
    return out


def bayes_posterior(
    x0_probs: torch.Tensor, xt: torch.Tensor, forward: torch.Tensor, prior: torch.Tensor
) -> torch.Tensor:
    """Normalised forward[:, x_t] * (x0_probs prior) over the previous state, where forward holds
    q(x_t | x_s) and prior q(x_s | x0); both (S, S), or (B, S, S) for one matrix per batch row."""
    if forward.dim() == 2:
        likelihood = forward[:, xt].movedim(0, -1)  # (..., S)
        before = x0_probs @ prior
    else:
        lead = (xt.shape[0],) + (1,) * (xt.dim() - 1)
        rows = torch.arange(xt.shape[0], device=xt.device).view(lead)
        likelihood = forward.transpose(-1, -2)[rows, xt]  # (B, ..., S)
        before = (x0_probs.unsqueeze(-2) @ prior.view(*lead, *prior.shape[-2:])).squeeze(-2)
    joint = likelihood * before.clamp_min(LOG_EPS)  # the floor keeps a row alive when p(x0) underflows
    return joint / joint.sum(-1, keepdim=True).clamp_min(LOG_EPS)


def q_posterior(
    process: DiscreteProcess, x0_probs: torch.Tensor, xt: torch.Tensor, k: int | torch.Tensor, s: int | None = None
) -> torch.Tensor:
    """q(x_s | x_k, x0) weighted by a distribution over x0 (one-hot for the true posterior):
    proportional to Q_{s -> k}[:, x_k] (elementwise) x0_probs Qbar_s (Austin et al. eq. 3; with a
    model's p(x0 | x_k) this is the reverse step p(x_s | x_k) of eq. 4). s defaults to k - 1; when it
    is the data (s = -1) the result is x0_probs itself. k may be a (B,) tensor, one step per batch row
    (s = k - 1 then; rows with k = 0 return x0_probs). Returns (..., S) probabilities."""
    if isinstance(k, torch.Tensor) and k.dim() > 0:
        Q, Qbar = process.Q.to(x0_probs), process.Qbar.to(x0_probs)
        out = bayes_posterior(x0_probs, xt, Q[k], Qbar[(k - 1).clamp(min=0)])
        first = (k == 0).view((-1,) + (1,) * (x0_probs.dim() - 1))
        return torch.where(first, x0_probs, out)
    k = int(k)
    s = k - 1 if s is None else s
    if s == -1:
        return x0_probs
    forward = transition_between(process, s, k).to(x0_probs)
    return bayes_posterior(x0_probs, xt, forward, process.Qbar[s].to(x0_probs))


def coupled_sample(process: DiscreteProcess, x0: torch.Tensor, k: int, u: torch.Tensor) -> torch.Tensor:
    """x_k ~ Cat(x0 Qbar_k) by the inverse CDF of one fixed uniform u per position, so that
    scrubbing t moves a picture coherently (absorbing: a position is masked once u > abar_t)."""
    cdf = q_probs(process, x0, k).cumsum(-1)
    return torch.searchsorted(cdf.contiguous(), u.unsqueeze(-1).contiguous()).squeeze(-1).clamp(max=process.states - 1)
