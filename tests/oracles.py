"""Oracles the tests share: Gaussian data N(MU, diag(S2)) and its closed-form denoisers, so samplers,
inversion and flows are checked against exact answers with no training involved."""

import math

import torch

MU = torch.tensor([0.7, -0.4], dtype=torch.float64)
S2 = torch.tensor([0.3**2, 0.6**2], dtype=torch.float64)  # data N(MU, diag(S2))


def exact_eps(schedule):
    """E[eps | x_t] for x0 ~ N(MU, diag(S2)): x_t ~ N(sqrt(ab) MU, ab S2 + 1 - ab) and
    eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab), so E[eps | x_t] = sqrt(1 - ab)(x_t - sqrt(ab) MU) / (ab S2 + 1 - ab)."""

    def model(x, t):
        ab = schedule.alpha_bar[int(t)]
        return math.sqrt(1 - ab) * (x - math.sqrt(ab) * MU) / (ab * S2 + 1 - ab)

    return model


def exact_v(schedule):
    """E[v | x_t] for the same Gaussian data, v = a eps - s x0 = (a x_t - x0) / s, with
    E[x0 | x_t] = MU + a S2 (x_t - a MU) / (a^2 S2 + s^2): finite at zero SNR (a = 0, s = 1)."""

    def model(x, t):
        ab = float(schedule.alpha_bar[int(t)])
        a, s = math.sqrt(ab), math.sqrt(1 - ab)
        x0 = MU + a * S2 * (x - a * MU) / (ab * S2 + 1 - ab)
        return (a * x - x0) / s

    return model


def exact_flow(schedule, mu=MU, s2=S2, prediction="flow"):
    """E[eps - x0 | x_t] (or E[eps | x_t]) for data N(mu, diag s2) on x_t = a x0 + s eps, with the
    schedule's scales (a = 1 - t, s = t for rectified flow): E[x0 | x_t] = mu + a s2 (x_t - a mu) / (a^2 s2 + s^2)
    and E[eps | x_t] = s (x_t - a mu) / (a^2 s2 + s^2)."""

    def model(x, t):
        a, s = float(schedule.sqrt_alpha_bar[int(t)]), float(schedule.sqrt_one_minus_alpha_bar[int(t)])
        scale = (x - a * mu) / (a * a * s2 + s * s)
        return s * scale - (mu + a * s2 * scale) if prediction == "flow" else s * scale

    return model


def gaussian_data(n, seed=0):
    return MU + S2.sqrt() * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def x_T(n=512, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def counted(model):
    """The model, with a counter of its calls in .calls."""

    def wrapper(x, t):
        wrapper.calls += 1
        return model(x, t)

    wrapper.calls = 0
    return wrapper
