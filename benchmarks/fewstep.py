"""Few-step sampling on the shipped spiral-mlp (linear-beta VP) and spiral-ve (geometric sigma
from 0.01 to 5, the same MLP and data): mean distance to the spiral of 4,000 samples
(seed 0, x0_hat clipped to the data range) at 5, 10 and 20 model evaluations for every
one-call-a-step sampler at each of its useful spacings, beside the converged probability-flow
ODE (DDIM over all 1,000 steps). The issue's anchors, measured the same way before these
samplers: 0.00053 converged; DPM-Solver++(2M) with log-SNR spacing 0.0051 at 10 NFE and 0.091
at 5; DDIM 0.0145 at 10. Then EDM's stochastic sampler (Karras et al. 2022, Algorithm 2) at
S_churn = 0 (Heun, the ODE), 10 and 40 over 10, 25 and 50 karras steps. UniPC on the model's tuned
timesteps (`python -m explorer tune`, searched on seed 100: seed 0 here is held out) at 5 and 10.
Run: python -m benchmarks.fewstep   (writes results/fewstep.json)
"""

from __future__ import annotations

import time

from benchmarks.common import report
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.runs.common import trajectory
from explorer.runs.compare import clip_bound
from explorer.runs.tuned import with_tuned
from explorer.sampling.registry import SamplerSettings
from explorer.sampling.tuning import TUNED
from explorer.store.registry import load_model

MODELS, POINTS, SEED = ("spiral-mlp", "spiral-ve"), 4000, 0
NFES = (5, 10, 20)
EDM_STEPS = (10, 25, 50)  # Heun-type steps: 2 S - 1 model calls
CONFIGS = [("ddim", "trailing"), ("ddim", "logsnr"), ("dpmpp2m", "logsnr"), ("dpmpp2m", "karras"),
           ("dpmpp3m", "logsnr"), ("dpmpp3m", "trailing"), ("unipc", "logsnr"), ("unipc", "karras"),
           ("unipc", "trailing"), ("ipndm", "karras"), ("ipndm", "trailing"), ("ipndm", "logsnr"),
           ("unipc", TUNED)]  # fmt: skip


def distance(loaded, schedule, settings: SamplerSettings) -> tuple[float, int]:
    _, xs, _, nfe = trajectory(loaded, schedule, POINTS, SEED, settings, {0})
    return mean_spiral_distance(xs[-1]), nfe


def model_rows(model: str) -> list[dict]:
    loaded, schedule = load_model(model)
    bound = clip_bound(model)
    converged, _ = distance(loaded, schedule, SamplerSettings("ddim", schedule.T, spacing="trailing", clip_x0=bound))
    rows = []
    for name, spacing in CONFIGS:
        row = {"model": model, "sampler": name, "spacing": spacing}
        start = time.perf_counter()
        for nfe in NFES:
            settings = with_tuned(SamplerSettings(name, nfe, spacing=spacing, clip_x0=bound), loaded)
            if spacing == TUNED and nfe not in settings.tuned_steps():
                row[f"{nfe} NFE"] = row[f"{nfe} NFE / converged"] = ""  # tuned at 5 and 10 calls only
                continue
            value, used = distance(loaded, schedule, settings)
            assert used == nfe, (name, used)
            row[f"{nfe} NFE"] = round(value, 5)
            row[f"{nfe} NFE / converged"] = round(value / converged, 1)
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
        print(row, flush=True)
    rows.append({"model": model, "sampler": "ddim (converged)", "spacing": "trailing",
                 **{f"{n} NFE": "" for n in NFES}, "1000 NFE": round(converged, 5)})  # fmt: skip
    for churn in (0.0, 10.0, 40.0):  # the ODE (Heun) against EDM's stochastic sampler at the same steps
        row = {"model": model, "sampler": f"edm churn={churn:g}", "spacing": "karras"}
        for S in EDM_STEPS:
            settings = SamplerSettings("edm", S, spacing="karras", churn=churn, clip_x0=bound)
            value, used = distance(loaded, schedule, settings)
            row[f"S={S} (NFE {used})"] = round(value, 5)
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    rows = [row for model in MODELS for row in model_rows(model)]
    columns = ["model", "sampler", "spacing", *[c for n in NFES for c in (f"{n} NFE", f"{n} NFE / converged")],
               "1000 NFE", *[c for c in rows[-1] if c.startswith("S=")], "seconds"]  # fmt: skip
    report("fewstep", [{c: row.get(c, "") for c in columns} for row in rows], columns)


if __name__ == "__main__":
    main()
