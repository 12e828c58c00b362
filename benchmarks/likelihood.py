"""Likelihoods of every shipped model: the ELBO (respaced, and all T terms as the reference) and, for
Gaussian and flow models, the exact NLL through the probability-flow ODE.

Digits are scored in bits/dim on their 17 grey levels (the ELBO with the discretised decoder or D3PM's
categorical one; the ODE after uniform dequantisation over each level's bin, Hutchinson's divergence);
points in nats per held-out point (densities: lower is better, and negative is possible). The D3PM
paper's CIFAR-10 ordering (Austin et al. 2021, table 2: Gaussian DDPM <= 3.44 < absorbing 4.40 <
uniform 5.08 bits/dim) is the reference the digits rows are read against.
Run: python -m benchmarks.likelihood   (writes results/likelihood.json)
"""

from __future__ import annotations

import time

from benchmarks.common import report
from explorer.config import model_roots
from explorer.runs.likelihood import ElboSettings, NllSettings, run_elbo, run_nll
from explorer.store.registry import REGISTRY, find_checkpoints

DIGITS = ("digits-unet", "digits-flow", "digits-absorbing", "digits-uniform")
POINTS = ("spiral-mlp", "spiral-flow", "spiral-otflow", "spiral-reflow", "two_moons-mlp", "checkerboard-mlp")
SEED = 0
RESPACED_EVERY = 10
# items scored: (respaced ELBO, full ELBO, ODE) for digits and for points
DIGIT_ITEMS, POINT_ITEMS = (297, 100, 200), (2000, 1000, 1000)  # digits: the 297 held-out ones at most
ODE_STEPS = 100


def _measure(name: str) -> dict:
    handle = REGISTRY.handle(name)
    respaced_n, full_n, ode_n = DIGIT_ITEMS if name.startswith("digits") else POINT_ITEMS
    start = time.perf_counter()
    respaced = run_elbo(ElboSettings(name, respaced_n, SEED, RESPACED_EVERY)).terms
    full = run_elbo(ElboSettings(name, full_n, SEED, 1)).terms
    row = {"model": name, "kind": "D3PM" if handle.discrete else handle.prediction, "unit": full.unit,
           f"ELBO every {RESPACED_EVERY}": f"{respaced.total:.3f} ± {respaced.stderr:.3f}",
           "ELBO all T": f"{full.total:.3f} ± {full.stderr:.3f}", "L_0 (all T)": round(full.decoder, 4)}  # fmt: skip
    if handle.discrete:
        row["ODE NLL"] = "-"
    else:
        nll = run_nll(NllSettings(name, ode_n, SEED, ODE_STEPS, 1))
        row["ODE NLL"] = f"{nll.mean:.3f} ± {nll.stderr:.3f}"
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main() -> None:
    available = find_checkpoints(model_roots())
    rows = []
    for name in (*DIGITS, *POINTS):
        if name not in available:
            print(f"skipping {name}: not in the registry")
            continue
        rows.append(_measure(name))
        print(rows[-1], flush=True)
    report("likelihood", rows, ["model", "kind", "unit", f"ELBO every {RESPACED_EVERY}", "ELBO all T", "L_0 (all T)",
                                "ODE NLL", "seconds"])  # fmt: skip


if __name__ == "__main__":
    main()
