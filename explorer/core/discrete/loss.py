"""The D3PM losses: L_vb terms as KLs of categoricals, and the hybrid loss L_vb + lambda L_ce
(Austin et al. 2021, eq. 5).

Time convention as in core.discrete.process.
"""

from __future__ import annotations

import math

import torch

from explorer.core.discrete.process import HYBRID_LAMBDA, LOG_EPS, DiscreteProcess, q_posterior, stationary


def one_hot(x: torch.Tensor, states: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(x, states).to(torch.float64)


def vb_terms(
    process: DiscreteProcess, logits: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, k: int | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Per position, in nats: the L_vb term at step k, KL(q(x_{k-1} | x_k, x0) || p(x_{k-1} | x_k)) with
    p built from the model's p(x0 | x_k) = softmax(logits) (over the K data categories), or at k = 0
    the decoder term -log p(x0 | x_1); and -log p(x0 | x_k), the cross-entropy L_ce. k is one step, or
    a (B,) tensor of steps, one per batch row. Computed in the logits' floating type (so it runs on
    devices without float64) and finite even where probabilities underflow."""
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    log_p0 = torch.log_softmax(logits.to(dtype), dim=-1)  # (..., K)
    p0 = log_p0.exp()
    if process.states > process.K:  # absorbing: the model never predicts the mask as data
        p0 = torch.cat([p0, p0.new_zeros(*p0.shape[:-1], 1)], -1)
    ce = -log_p0.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
    q = q_posterior(process, one_hot(x0, process.states).to(dtype), xt, k)
    p = q_posterior(process, p0, xt, k)
    kl = (q * (torch.log(q.clamp_min(LOG_EPS)) - torch.log(p.clamp_min(LOG_EPS)))).sum(-1)
    first = torch.as_tensor(k, device=logits.device) == 0
    if first.dim() > 0:
        first = first.view((-1,) + (1,) * (ce.dim() - 1))
    return torch.where(first, ce, kl), ce


def hybrid_loss(
    process: DiscreteProcess, logits: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, k: int | torch.Tensor,
    hybrid_lambda: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """L_vb + lambda L_ce (Austin et al. sec. 3.4), averaged over positions (see vb_terms)."""
    lam = HYBRID_LAMBDA[process.transition] if hybrid_lambda is None else hybrid_lambda
    vb, ce = vb_terms(process, logits, x0, xt, k)
    return (vb + lam * ce).mean()


def prior_kl(process: DiscreteProcess, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x0) || the stationary distribution) per position, in nats: 0 for absorbing
    corruption (everything is masked at T), close to 0 for uniform noise (Qbar_T near 11^T / K)."""
    q = process.Qbar[-1][x0]  # (..., S)
    prior = stationary(process).to(q)
    return (q * (torch.log(q.clamp_min(LOG_EPS)) - torch.log(prior.clamp_min(LOG_EPS)))).sum(-1)


def entropy_bits(probs: torch.Tensor) -> float:
    """Mean entropy in bits of the distributions on the last axis (for the tab's readings)."""
    p = probs.clamp_min(LOG_EPS)
    return float(-(probs * torch.log(p)).sum(-1).mean() / math.log(2))
