"""Image quality of every shipped digits model: the Fréchet distance in the digits evaluator's features
(at n = 297, with its jackknife interval), its floor (the 297 held-out digits), k-NN precision and
recall with their floors, and the memorised share, at the model's reference sampler (all T steps:
DDPM, Euler for the flow, D3PM ancestral) and at 10, 25 and 50 model calls (DDIM for Gaussian models,
Euler for the flow, both on trailing steps; respaced ancestral steps for D3PM). 300 samples each, seed 0.
Run: python -m benchmarks.quality   (writes results/quality.json)
"""

from __future__ import annotations

import time

from benchmarks.common import report
from explorer.runs.evaluate import EvaluateSettings, run_evaluation
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import REGISTRY

MODELS = ["digits-unet", "digits-flow", "digits-cond", "digits-absorbing", "digits-uniform"]
BUDGETS = (10, 25, 50)
N = 300


def samplers(model: str) -> list[SamplerSettings | None]:
    """None (the reference sampler), then each budget with the model's few-step sampler."""
    handle = REGISTRY.handle(model)
    if handle.discrete:  # the respaced ancestral sampler reads only the step count
        return [None, *(SamplerSettings("ddpm", S) for S in BUDGETS)]
    name = "euler" if handle.schedule.kind == "flow" else "ddim"
    spacing = "trailing"  # from t = T: a flow's x_T is its prior only there (registry.check_start)
    return [None, *(SamplerSettings(name, S, spacing=spacing) for S in BUDGETS)]


def main() -> None:
    rows = []
    for model in MODELS:
        for sampler in samplers(model):
            start = time.perf_counter()
            run = run_evaluation(EvaluateSettings(model, N, 0, sampler))
            m = run.metrics
            rows.append({"model": model, "sampler": run.sampler, "NFE": run.nfe,
                         "FD": f"{m['fd']:.2f} [{m['fd_interval'][0]:.2f}, {m['fd_interval'][1]:.2f}]",
                         "floor": round(m["fd_floor"], 2), "precision": round(m["precision"], 3),
                         "recall": round(m["recall"], 3), "memorised": f"{m['memorised_share']:.1%}",
                         "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(rows[-1], flush=True)
    floors = run.metrics
    rows.append({"model": "297 held-out digits (floor)", "sampler": "-", "NFE": 0,
                 "FD": f"{floors['fd_floor']:.2f} [{floors['fd_floor_interval'][0]:.2f}, "
                       f"{floors['fd_floor_interval'][1]:.2f}]",
                 "floor": round(floors["fd_floor"], 2), "precision": round(floors["precision_floor"], 3),
                 "recall": round(floors["recall_floor"], 3), "memorised": "-", "seconds": 0})  # fmt: skip
    report("quality", rows, ["model", "sampler", "NFE", "FD", "floor", "precision", "recall", "memorised",
                             "seconds"])  # fmt: skip


if __name__ == "__main__":
    main()
