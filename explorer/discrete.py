"""Discrete-state diffusion: D3PM (Austin et al. 2021).

Every position holds one of K categories; corruption is a Markov chain with transition
matrices Q_t (rows: from, columns: to), so q(x_t | x_{t-1}) = Cat(x_{t-1} Q_t) and
q(x_t | x0) = Cat(x0 Qbar_t) with Qbar_t = Q_1 ... Q_t. Absorbing corruption adds a
[MASK] state, index K, so it has K + 1 states. Time convention as elsewhere: index k
holds the paper's step t = k + 1, and the data sit before index 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from explorer import frames
from explorer.limits import MAX_T, MIN_T, check_int
from explorer.schedules import cosine_betas, linear_betas

TRANSITIONS = ("uniform", "absorbing", "gaussian")
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
    u = torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=probs.device).clamp(1e-12, 1 - 1e-6)
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


# ---------------------------------------------------------------- data and the corruption view

TEXT_VOCAB = "abcdefghijklmnopqrstuvwxyz0123456789 .,!?'-"
MASK_CHAR = "▮"
MAX_TEXT = 200
DATASETS = ("digits", "text", "image")
DEFAULT_TEXT = "diffusion models turn noise into data, one small step at a time."


def encode_text(text: str) -> torch.Tensor:
    """Characters to indices over TEXT_VOCAB (lower-cased); others are refused with a message."""
    text = str(text).lower()
    if not text.strip():
        raise ValueError("type a sentence to corrupt")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the sentence has {len(text)} characters; the limit is {MAX_TEXT}")
    unknown = sorted({c for c in text if c not in TEXT_VOCAB})
    if unknown:
        raise ValueError(f"characters outside the vocabulary: {''.join(unknown)!r} (letters, digits, space and .,!?'-)")
    return torch.tensor([TEXT_VOCAB.index(c) for c in text], dtype=torch.long)


def decode_text(x: torch.Tensor) -> str:
    return "".join(TEXT_VOCAB[i] if i < len(TEXT_VOCAB) else MASK_CHAR for i in x.tolist())


def quantize(images: torch.Tensor, K: int) -> torch.Tensor:
    """Images in [-1, 1] to K integer levels 0..K-1."""
    return ((images.clamp(-1, 1) + 1) / 2 * (K - 1)).round().long()


def coupled_sample(process: DiscreteProcess, x0: torch.Tensor, k: int, u: torch.Tensor) -> torch.Tensor:
    """x_k ~ Cat(x0 Qbar_k) by the inverse CDF of one fixed uniform u per position, so that
    scrubbing t moves a picture coherently (absorbing: a position is masked once u > abar_t)."""
    cdf = q_probs(process, x0, k).cumsum(-1)
    return torch.searchsorted(cdf.contiguous(), u.unsqueeze(-1).contiguous()).squeeze(-1).clamp(max=process.states - 1)


@dataclass(frozen=True)
class CorruptionSettings:
    dataset: str = "digits"
    transition: str = "absorbing"
    T: int = 100
    K: int = 17  # images: levels to quantise to (digits: always their 17)
    n: int = 16
    seed: int = 0
    text: str = DEFAULT_TEXT
    image_path: str | None = None


@dataclass
class Corruption:
    settings: CorruptionSettings
    process: DiscreteProcess
    x0: torch.Tensor  # integer data: (N, 1, H, W) for images, (L,) for text
    u: torch.Tensor  # the fixed uniforms of coupled_sample
    marginals: torch.Tensor  # (T, S): q(x_t) averaged over the data's positions
    distance: torch.Tensor  # (T,): total variation between that marginal and the stationary distribution

    def categories(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """At the paper's t: the share of each state in this sample, the exact q(x_t) averaged over
        positions, the stationary distribution, and the total variation between the last two."""
        x = self.at(t)
        empirical = np.bincount(x.reshape(-1).numpy(), minlength=self.process.states) / x.numel()
        exact = self.marginals[t - 1].numpy() if t > 0 else empirical
        limit = stationary(self.process).numpy()
        return empirical, exact, limit, 0.5 * float(np.abs(exact - limit).sum())

    def at(self, t: int) -> torch.Tensor:
        """x_t at the paper's t (0: the data)."""
        t = check_int("t", t, 0, self.process.T)
        return self.x0 if t == 0 else coupled_sample(self.process, self.x0, t - 1, self.u)


@lru_cache(maxsize=8)
def corruption(settings: CorruptionSettings) -> Corruption:
    """Build the process and the data, and the exact marginal at every t."""
    from explorer import data
    from explorer.limits import MAX_IMAGES

    if settings.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {settings.dataset!r}; choose from {list(DATASETS)}")
    gen = torch.Generator().manual_seed(check_int("seed", settings.seed, 0, 2**31 - 1))
    if settings.dataset == "text":
        x0, K = encode_text(settings.text), len(TEXT_VOCAB)
    elif settings.dataset == "digits":
        n = check_int("number of images", settings.n, 1, MAX_IMAGES)
        levels, _ = data.digits_levels()
        x0, K = levels[torch.randperm(len(levels), generator=gen)[:n]], 17
    else:
        if not settings.image_path:
            raise ValueError("upload an image first")
        K = check_int("levels K", settings.K, MIN_CATEGORIES, MAX_CATEGORIES)
        x0 = quantize(data.load_image(settings.image_path, 32, grey=True), K)
    process = make_process(settings.transition, K, settings.T)
    u = torch.rand(x0.shape, generator=gen, dtype=torch.float64)
    counts = torch.bincount(x0.reshape(-1), minlength=process.states).double()
    marginals = (counts / counts.sum()) @ process.Qbar  # (T, S)
    distance = 0.5 * (marginals - stationary(process)).abs().sum(-1)
    return Corruption(settings, process, x0, u, marginals, distance)


MASK_RGB = (0.9, -0.6, -0.6)  # a masked pixel is drawn red


def state_labels(process: DiscreteProcess, text: bool = False) -> list[str]:
    """Category names for the figures: characters for text, levels for images, and the mask."""
    names = [repr(c) if c == " " else c for c in TEXT_VOCAB] if text else [str(i) for i in range(process.K)]
    return names + (["MASK"] if process.mask is not None else [])


def to_rgb(x: torch.Tensor, process: DiscreteProcess) -> torch.Tensor:
    """Integer images (N, 1, H, W) as RGB in [-1, 1]: grey levels, the mask in red."""
    grey = x.clamp(max=process.K - 1).double() / (process.K - 1) * 2 - 1
    rgb = grey.repeat(1, 3, 1, 1)
    if process.mask is not None:
        masked = (x == process.mask).squeeze(1)
        for c, value in enumerate(MASK_RGB):
            rgb[:, c][masked] = value
    return rgb


def corruption_frame(c: Corruption, t: int, size: int) -> np.ndarray:
    """x_t as a captioned RGB frame: an image grid (mask red) or the wrapped sentence (mask ▮)."""
    x = c.at(t)
    caption = f"{c.process.transition}  t = {t} / {c.process.T}"
    progress = t / c.process.T
    if c.settings.dataset == "text":
        return frames.render_text(decode_text(x), size, caption, progress)
    return frames.render_images(to_rgb(x, c.process).numpy(), size, caption, progress)


def corruption_gif(settings: CorruptionSettings, n_frames: int, fps: float, size: int, out: str | Path) -> Path:
    """The corruption from t = 0 to T as a GIF (the tab's export and `python -m explorer corrupt`)."""
    from explorer.export import write_gif
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    c = corruption(settings)
    ts = np.linspace(0, c.process.T, n_frames).round().astype(int)
    return write_gif([corruption_frame(c, int(t), size) for t in ts], out, fps)
