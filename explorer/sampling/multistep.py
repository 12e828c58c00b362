"""Higher-order multistep solvers of the probability-flow ODE: DPM-Solver++(3M), iPNDM and UniPC.

Each reuses the model's earlier estimates instead of calling it again, so S steps cost S model
calls; each warms up from first order (the first step is DDIM) and takes a first-order last step
to the data, where log-SNR is infinite. Notation as in sampling.gaussian: a = sqrt(alpha_bar),
s = sqrt(1 - alpha_bar), lambda = log(a / s), h = lambda' - lambda.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from explorer.sampling.gaussian import Estimator, Step, scales
from explorer.sampling.spacings import step_pairs

MAX_IPNDM_ORDER = 4
UNIPC_VARIANTS = ("bh1", "bh2")


def log_snr(schedule, t: int) -> float:
    """lambda_t = log(a / s): -inf at zero SNR, +inf at the data (t = -1)."""
    a, s = scales(schedule, t)
    if s == 0:
        return math.inf
    return math.log(a / s) if a > 0 else -math.inf


def _first_order(x: torch.Tensor, x0_hat: torch.Tensor, a: float, s: float, a_prev: float, s_prev: float):
    """DDIM / DPM-Solver++(1): x' = (s'/s) x + a' (1 - e^{-h}) x0_hat, with a' (1 - e^{-h}) = a' - a s'/s
    (finite at zero SNR)."""
    return (s_prev / s) * x + (a_prev - a * s_prev / s) * x0_hat


@torch.no_grad()
def dpm_solver_pp_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int], order: int = 3) -> Iterator[Step]:
    """DPM-Solver++(3M), Lu et al. 2022b: the exponential integrator
    x' = (s'/s) x + s' int e^lambda x0(lambda) d lambda, with x0 expanded to second order about the
    current lambda from the last three estimates m0, m1, m2 (log-SNR gaps h0, h1 before this step):
    D1_0 = (m0 - m1) / r0, D1_1 = (m1 - m2) / r1 (r_k = h_k / h), D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1)
    (= h x0'), D2 = (D1_0 - D1_1) / (r0 + r1) (= h^2 x0'' / 2), and
    x' = (s'/s) x + a' (1 - e^{-h}) m0 + a' (1 + (e^{-h} - 1) / h) D1 + 2 a' (1/2 - (h - 1 + e^{-h}) / h^2) D2,
    the last two being a' h^2 phi_2(-h) x0' and a' h^3 phi_3(-h) x0'' written with D1 and D2. The first
    step is DDIM, the second DPM-Solver++(2M) (order = 2 stays there: Lu et al.'s Algorithm 2, whose
    D = (1 + 1/(2 r0)) m0 - m1 / (2 r0) is m0 + D1_0 / 2); a step from zero SNR restarts the history."""
    if order not in (2, 3):
        raise ValueError(f"DPM-Solver++'s multistep order must be 2 or 3, got {order}")
    schedule = estimate.schedule
    x, history = x_T, []  # (x0_hat, lambda) of the steps since the last restart, newest last
    for i, t, t_prev in step_pairs(ts):
        x0_hat, _ = estimate(x, t)
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        lam, lam_prev = log_snr(schedule, t), log_snr(schedule, t_prev)
        history = [*history, (x0_hat, lam)][-order:] if math.isfinite(lam) else []
        if t_prev < 0:
            x = x0_hat  # the first-order step to the data (h = inf)
        elif len(history) < 2:
            x = _first_order(x, x0_hat, a, s, a_prev, s_prev)
        else:
            h = lam_prev - lam
            em = math.expm1(-h)  # e^{-h} - 1
            m0, m1 = history[-1][0], history[-2][0]
            r0 = (history[-1][1] - history[-2][1]) / h
            d1 = (m0 - m1) / r0
            if len(history) == 3:
                r1 = (history[-2][1] - history[-3][1]) / h
                d1_1 = (m1 - history[-3][0]) / r1
                d2 = (d1 - d1_1) / (r0 + r1)
                d1 = d1 + r0 * d2
                x = ((s_prev / s) * x - a_prev * em * m0 + a_prev * (em / h + 1) * d1
                     + 2 * a_prev * (0.5 - (h + em) / h**2) * d2)  # fmt: skip
            else:  # DPM-Solver++(2M)'s step: D = m0 + D1_0 / 2
                x = (s_prev / s) * x - a_prev * em * (m0 + 0.5 * d1)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def adams_bashforth_weights(nodes: list[float], start: float, end: float) -> list[float]:
    """Weights w_j with int_start^end p(u) du = sum_j w_j p(nodes[j]) for every polynomial p of degree
    < len(nodes): the integrals of the Lagrange basis on the nodes (on an even grid with step
    end - start these are the classic Adams-Bashforth weights, e.g. 55, -59, 37, -9 over 24)."""
    weights = []
    for j, node in enumerate(nodes):
        basis = [1.0]  # coefficients of prod_{k != j} (u - nodes[k]) / (node - nodes[k]), lowest first
        for k, other in enumerate(nodes):
            if k == j:
                continue
            scale = node - other
            basis = [(c_prev - other * c) / scale for c, c_prev in zip([*basis, 0.0], [0.0, *basis], strict=True)]
        weights.append(sum(c * (end ** (n + 1) - start ** (n + 1)) / (n + 1) for n, c in enumerate(basis)))
    return weights


@torch.no_grad()
def ipndm_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int], order: int = MAX_IPNDM_ORDER) -> Iterator[Step]:
    """iPNDM, Zhang & Chen 2023: a linear multistep (Adams-Bashforth) method on the probability-flow
    ODE dx~/dsigma = eps_hat in x~ = x / a, sigma = s / a, using the last `order` slopes, with lower
    orders while the history fills. The weights are those of the actual sigma gaps (Lagrange
    interpolation of eps_hat in sigma), which on an even grid are the classic constant ones. A step
    from zero SNR (sigma = inf) is an Euler step and restarts the history, and so is the step to the data
    (sigma' = 0: x0_hat), as in Karras et al.'s Algorithm 1 and DPM-Solver's lower-order final step: the
    polynomial extrapolated over [0, sigma_min] carries the network's error next to a thin data set into
    the sample (the shipped spiral-mlp then stalled at 0.0037 from 50 steps on; with it 0.00055 at 200)."""
    if not 1 <= order <= MAX_IPNDM_ORDER:
        raise ValueError(f"iPNDM's order must be between 1 and {MAX_IPNDM_ORDER}, got {order}")
    schedule = estimate.schedule
    x, history = x_T, []  # (eps_hat, sigma), newest last
    for i, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        if a == 0 or t_prev < 0:
            history = []
            x = a_prev * x0_hat + s_prev * eps_hat  # Euler from sigma = inf, or to the data
        else:
            sigma, sigma_prev = s / a, s_prev / a_prev
            history = [*history, (eps_hat, sigma)][-order:]
            weights = adams_bashforth_weights([sig for _, sig in history], sigma, sigma_prev)
            slope = sum(w * e for w, (e, _) in zip(weights, history, strict=True))
            x = a_prev * (x / a + slope)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def _unipc_coefficients(rks: list[float], h: float, variant: str) -> tuple[list[list[float]], list[float], float]:
    """UniPC's linear system (Zhao et al. 2023, Theorem 3.1, data prediction): R[i][k] = rks[k]^i and
    b[i] = (i+1)! h phi_{i+2}(-h) ... in the B(h) normalisation; B(h) = h (bh1) or e^h - 1 (bh2)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    factorial, rows, b = 1, [], []
    for i in range(1, len(rks) + 1):
        rows.append([r ** (i - 1) for r in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return rows, b, b_h


def _solve(rows: list[list[float]], b: list[float]) -> list[float]:
    return torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).tolist()


@torch.no_grad()
def unipc_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int], order: int = 2,
                variant: str = "bh2", corrector: bool = True) -> Iterator[Step]:  # fmt: skip
    """UniPC, Zhao et al. 2023, on the data prediction. The predictor UniP-p extrapolates x0 from the
    last p estimates m0 (now), m1, ...: x' = (s'/s) x + a' (1 - e^{-h}) m0 - a' B(h) sum_k rho_k D_k with
    D_k = (m_k - m0) / r_k, r_k = (lambda_k - lambda) / h. Once the model has been called at x' (which
    the next step needs anyway) the corrector UniC redoes the step with that estimate among the D_k,
    raising the order by one at no extra call. The step to the data is first order and is not
    corrected; a step from zero SNR restarts the history."""
    if variant not in UNIPC_VARIANTS:
        raise ValueError(f"unknown UniPC variant {variant!r}; choose from {list(UNIPC_VARIANTS)}")
    if not 1 <= order <= 3:
        raise ValueError(f"UniPC's order must be between 1 and 3, got {order}")
    schedule = estimate.schedule
    x, history = x_T, []  # (x0_hat, lambda) of the steps since the last restart, newest last
    previous = None  # (the sample the last predictor step started from, its t, its order)
    for i, t, t_prev in step_pairs(ts):
        x0_hat, _ = estimate(x, t)
        lam = log_snr(schedule, t)
        if not math.isfinite(lam):
            history, previous = [], None
        else:
            if corrector and previous is not None:  # UniC: the last step again, with x0_hat among the D_k
                start, t_start, k = previous
                x = _unipc_step(schedule, start, t_start, t, history[-k:], variant, new=x0_hat)
            history = [*history, (x0_hat, lam)][-order:]
        if t_prev < 0:
            x_next, previous = x0_hat, None  # first order to the data (h = inf)
        elif not history:
            a, s = scales(schedule, t)
            a_prev, s_prev = scales(schedule, t_prev)
            x_next, previous = _first_order(x, x0_hat, a, s, a_prev, s_prev), None
        else:
            x_next, previous = _unipc_step(schedule, x, t, t_prev, history, variant), (x, t, len(history))
        x = x_next
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def _unipc_step(schedule, x, t, t_next, estimates, variant, new=None):
    """One UniPC step from (x, t) to t_next with `estimates` (x0_hat, lambda), the one at t last:
    the predictor UniP, or with `new` (the estimate made at t_next) the corrector UniC."""
    a, s = scales(schedule, t)
    a_next, s_next = scales(schedule, t_next)
    lam, h = log_snr(schedule, t), log_snr(schedule, t_next) - log_snr(schedule, t)
    m0 = estimates[-1][0]
    earlier = estimates[:-1][::-1]  # m1, m2, ...
    rks = [(lam_k - lam) / h for _, lam_k in earlier]
    d = [(m - m0) / r for (m, _), r in zip(earlier, rks, strict=True)]
    x_base = (s_next / s) * x - a_next * math.expm1(-h) * m0
    if new is not None:
        d.append(new - m0)  # r = 1: the estimate at t_next
    if not d:
        return x_base
    rows, b, b_h = _unipc_coefficients([*rks, 1.0], h, variant)
    if new is not None:
        rho = [0.5] if len(d) == 1 else _solve(rows, b)
    else:
        rho = [0.5] if len(d) == 1 else _solve([row[:-1] for row in rows[:-1]], b[:-1])
    return x_base - a_next * b_h * sum(p * dk for p, dk in zip(rho, d, strict=True))
