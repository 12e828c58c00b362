"""Latent space: DDIM inversion round trips and rectified flow against diffusion with few steps.

1. Round trip x0 -> x_T -> x0 with S = 10, 50, 200 steps each way: MSE per dimension and PSNR
   (data in [-1, 1]), for 1,000 freshly drawn spiral points and 64 training digits, plus the
   latents' standard deviation (N(0, I) has 1); then the same with 1 and 3 Anderson-accelerated
   fixed-point iterations per inverse step (AIDI, Pan et al. 2023; `invert --refine K`), and with Heun
   run forwards to encode and backwards to decode (`invert --solver heun`, 2S - 1 calls each way).
2. The shipped rectified-flow models against the diffusion models of the same data, from the
   same x_T: straightness of Euler-200 trajectories (mean distance from the chord over its
   length) and the quality metric with 1, 2, 5 and 10 Euler steps (digits: FD of 297 samples).
Run: python -m benchmarks.latent [--flow-only]   (writes results/latent-roundtrip.json and results/latent-flow.json)
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import report
from explorer.config import model_roots
from explorer.evaluation.digits import classifier
from explorer.runs.flow import FEW_STEPS, FlowComparisonSettings, run_flow_comparison
from explorer.runs.latent import data_items
from explorer.sampling.inversion import REFINE_CURVES, round_trip
from explorer.store.registry import (
    data_bound,
    find_checkpoints,
    load_model,
)

ROUND_TRIPS = {"spiral-mlp": 1000, "digits-unet": 64, "spiral-flow": 1000, "digits-flow": 64}
GROUPS = [("spiral-mlp", "spiral-flow", "spiral-otflow", "spiral-reflow"), ("digits-unet", "digits-flow")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flow-only", action="store_true", help="only the rectified-flow comparison")
    args = parser.parse_args()
    classifier()
    available = find_checkpoints(model_roots())
    if not args.flow_only:
        round_trips(available)
    flow_comparisons(available)


def round_trips(available: dict) -> None:
    rows = []
    for name, n in ROUND_TRIPS.items():
        if name not in available:
            continue
        loaded, schedule = load_model(name)
        x0 = data_items(loaded, n, seed=0)
        for solver, refine in (("ddim", 0), *(("ddim", k) for k in REFINE_CURVES), ("heun", 0)):
            for S in (10, 25, 50, 200):
                start = time.perf_counter()
                trip = round_trip(loaded.model, schedule, x0, loaded.info.prediction, S, clip_x0=data_bound(loaded),
                                  refine=refine, solver=solver)  # fmt: skip
                rows.append({"model": name, "items": n, "solver": solver, "refine": refine, "S": S,
                             "MSE": f"{trip.mse():.2e}", "PSNR dB": round(trip.psnr(), 1),
                             "latent std": round(float(trip.x_T.std()), 3),
                             "seconds": round(time.perf_counter() - start, 2)})  # fmt: skip
    report("latent-roundtrip", rows, ["model", "items", "solver", "refine", "S", "MSE", "PSNR dB", "latent std",
                                      "seconds"])  # fmt: skip


def flow_comparisons(available: dict) -> None:
    flow_rows = []
    for group in GROUPS:
        present = tuple(name for name in group if name in available)
        if len(present) < 2:
            print(f"skipping {group}: fewer than two present")
            continue
        c = run_flow_comparison(FlowComparisonSettings(present))
        for name in present:
            row = {"model": name, "metric": c.metric, "straightness S": round(c.straightness[name], 4),
                   "chord deviation": round(c.chord_deviation[name], 4)}  # fmt: skip
            row |= {f"{S} step{'s' if S > 1 else ''}": round(c.quality[name][S], 4) for S in FEW_STEPS}
            flow_rows.append(row)
    if flow_rows:
        report("latent-flow", flow_rows, list(flow_rows[0]))


if __name__ == "__main__":
    main()
