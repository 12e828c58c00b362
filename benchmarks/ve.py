"""VE beside VP on the spiral: the shipped spiral-ve (variance exploding, sigma 0.01 -> sigma_max) and
spiral-mlp (variance preserving, linear betas), each sampled by ancestral sampling, the reverse SDE
(Euler-Maruyama), predictor-corrector with one Langevin step (r = 0.16), and the probability-flow ODE
(Heun), at equal settings: 4,000 points, seeds 0 and 1, x0_hat clipped to the data range. Quality is
the mean distance to the spiral, the sliced Wasserstein distance and the energy distance to 4,000 fresh
spiral points (their floor: two fresh samples). Likelihoods: the ELBO (all T terms) and the ODE NLL of
500 held-out points, in nats per point.
Run: python -m benchmarks.ve   (writes results/ve.json)
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from benchmarks.common import report
from explorer import data
from explorer.evaluation.metrics import energy_distance, mean_spiral_distance, sliced_wasserstein
from explorer.runs.common import trajectory
from explorer.runs.compare import clip_bound
from explorer.runs.likelihood import ElboSettings, NllSettings, run_elbo, run_nll
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import load_model

MODELS = ["spiral-ve", "spiral-mlp"]
N, SEEDS = 4000, (0, 1)
CONFIGS = [
    SamplerSettings("ddpm"),
    SamplerSettings("em", 100, spacing="trailing"),
    SamplerSettings("em", 1000, spacing="trailing"),
    SamplerSettings("pc", 100, spacing="trailing"),
    SamplerSettings("pc", 500, spacing="trailing"),
    SamplerSettings("heun", 25, spacing="karras"),
    SamplerSettings("dpmpp2m", 15, spacing="logsnr"),
]


def reference(seed: int) -> torch.Tensor:
    return data.make_points("spiral", N, 0.0, torch.Generator().manual_seed(10_000 + seed)).x.float()


def quality(points: torch.Tensor, seed: int) -> dict[str, float]:
    ref = reference(seed)
    return {"spiral distance": mean_spiral_distance(points),
            "sliced W": sliced_wasserstein(points, ref, torch.Generator().manual_seed(seed)),
            "energy": energy_distance(points, ref)}  # fmt: skip


def mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(sum(r[key] for r in rows) / len(rows), 5) for key in rows[0]}


def main() -> None:
    rows = []
    floor = mean_of([quality(reference(seed + 100), seed) for seed in SEEDS])
    rows.append({"model": "two fresh spiral samples (floor)", "sampler": "-", "NFE": 0, **floor, "seconds": 0})
    for name in MODELS:
        loaded, schedule = load_model(name)
        for config in CONFIGS:
            config = replace(config, clip_x0=clip_bound(name))
            start, measured = time.perf_counter(), []
            for seed in SEEDS:
                _, xs, _, nfe = trajectory(loaded, schedule, N, seed, config, {0})
                measured.append(quality(xs[-1], seed))
            rows.append({"model": name, "sampler": config.label(), "NFE": nfe, **mean_of(measured),
                         "seconds": round((time.perf_counter() - start) / len(SEEDS), 2)})  # fmt: skip
            print(rows[-1], flush=True)
        elbo = run_elbo(ElboSettings(name, 500, 0, 1)).terms
        nll = run_nll(NllSettings(name, 500, 0, 100, 1))
        rows.append({"model": name, "sampler": "ELBO / ODE NLL (nats per point)", "NFE": nll.nfe,
                     "ELBO": f"{elbo.total:.3f} ± {elbo.stderr:.3f} (prior {elbo.prior:.4f})",
                     "ODE NLL": f"{nll.mean:.3f} ± {nll.stderr:.3f}"})  # fmt: skip
        print(rows[-1], flush=True)
    columns = ["model", "sampler", "NFE", "spiral distance", "sliced W", "energy", "ELBO", "ODE NLL", "seconds"]
    report("ve", [{c: row.get(c, "") for c in columns} for row in rows], columns)


if __name__ == "__main__":
    main()
