"""The D3PM losses: L_vb terms as KLs of categoricals, and the hybrid loss L_vb + lambda L_ce
(Austin et al. 2021, eq. 5).

Time convention as in core.discrete.process.
"""

from __future__ import annotations

import math

import torch

from explorer.core.discrete.process import HYBRID_LAMBDA, LOG_EPS, DiscreteProcess, q_posterior


def one_hot(x: torch.Tensor, states: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(x, states).to(torch.float64)


def hybrid_loss(
    process: DiscreteProcess, logits: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, k: int | torch.Tensor,
    hybrid_lambda: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """L_vb + lambda L_ce (Austin et al. sec. 3.4), averaged over positions: KL(q(x_{k-1} | x_k, x0)
    || p(x_{k-1} | x_k)) with p built from the model's p(x0 | x_k) = softmax(logits) (over the K
    data categories), and -log p(x0 | x_k); at k = 0 the first term is -log p(x0 | x_1). k is one
    step, or a (B,) tensor of steps, one per batch row. Computed in the logits' floating type (so it
    runs on devices without float64) and finite even where probabilities underflow."""
    lam = HYBRID_LAMBDA[process.transition] if hybrid_lambda is None else hybrid_lambda
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
    vb = torch.where(first, ce, kl)
    return (vb + lam * ce).mean()


def entropy_bits(probs: torch.Tensor) -> float:
    """Mean entropy in bits of the distributions on the last axis (for the tab's readings)."""
    p = probs.clamp_min(LOG_EPS)
    return float(-(probs * torch.log(p)).sum(-1).mean() / math.log(2))
