"""Quality against the number of model evaluations for every sampler, on the shipped spiral and
digits models, plus the issue's two targets measured with more samples.

The curves are the Sampler comparison tab's own (explorer.runs.curves.quality_curve: 2,000 points or
297 digits, seed 0, x0_hat clipped to the data range): every sampler of the registry as the tab sets it
up (runs.compare.shipped_configs), read from the curves that ship with the checkpoint (`python -m
explorer curves`) or computed into the cache. The targets use 5,000
points and three seeds: DDIM (eta = 0) at 50 steps against DDPM-1000, and DPM-Solver++(2M) at 15
steps against DDIM at 50; and the few-step issue's: UniPC at 10 and 5 NFE on log-SNR and on the
model's tuned timesteps against the converged ODE (DDIM over all 1,000 steps).
Run: python -m benchmarks.samplers   (writes results/samplers.json and assets/quality-vs-nfe.png)
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.chart import line_chart, side_by_side
from benchmarks.common import report
from explorer.evaluation.digits import classifier
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.evaluation.quality import metric_for
from explorer.runs.common import trajectory
from explorer.runs.compare import clip_bound, curve_label, shipped_configs
from explorer.runs.curves import quality_curve
from explorer.runs.tuned import with_tuned
from explorer.sampling.registry import SamplerSettings
from explorer.sampling.tuning import TUNED
from explorer.store.registry import load_model

ROOT = Path(__file__).resolve().parents[1]

MODELS = ["spiral-mlp", "digits-unet"]
TARGET_POINTS, TARGET_SEEDS = 5000, (0, 1, 2)
FIGURE = ROOT / "assets" / "quality-vs-nfe.png"


def spiral_targets() -> list[dict]:
    """Mean spiral distance over three seeds of 5,000 points for the configurations the issue names."""
    loaded, schedule = load_model("spiral-mlp")
    bound = clip_bound("spiral-mlp")
    spacings = ("leading", "trailing", "linspace", "quadratic", "karras", "logsnr")
    configs = [
        SamplerSettings("ddpm"),
        *(SamplerSettings("ddim", 50, spacing=s) for s in spacings),
        SamplerSettings("dpmpp2m", 15, spacing="logsnr"),
        SamplerSettings("heun", 8, spacing="logsnr"),
        SamplerSettings("ddim", 1000, spacing="trailing"),  # the converged probability-flow ODE
        *(SamplerSettings("unipc", S, spacing=spacing) for S in (10, 5) for spacing in ("logsnr", TUNED)),
    ]
    rows = []
    for config in configs:
        config = with_tuned(replace(config, clip_x0=bound), loaded)  # tuned on seed 100; these seeds are held out
        start, distances = time.perf_counter(), []
        for seed in TARGET_SEEDS:
            _, xs, _, nfe = trajectory(loaded, schedule, TARGET_POINTS, seed, config, {0})
            distances.append(mean_spiral_distance(xs[-1]))
        rows.append({"model": "spiral-mlp", "configuration": config.label(), "NFE": nfe,
                     "spiral distance": round(sum(distances) / len(distances), 5),
                     "per seed": [round(d, 5) for d in distances],
                     "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    reference = rows[0]["spiral distance"]
    for row in rows:
        row["vs DDPM-1000"] = f"{row['spiral distance'] / reference:.2f}x"
    return rows


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    classifier()  # train or load the evaluator before timing anything
    rows, charts = [], []
    for model in MODELS:
        loaded, _ = load_model(model)
        metric = metric_for(loaded.dataset)
        series = {}
        for config in shipped_configs(model):
            points = quality_curve(model, config, lambda f, text, m=model: print(f"  {m}: {text}", flush=True))
            series[curve_label(config)] = ([p.nfe for p in points], [p.quality for p in points])
            for p in points:
                rows.append({"model": model, "sampler": curve_label(config), "steps": p.steps, "NFE": p.nfe,
                             "quality": round(p.quality, 5), "seconds": round(p.seconds, 2)})  # fmt: skip
        charts.append(line_chart(series, model, "NFE (log)", metric.name,
                                 y_log=not metric.higher_is_better))  # fmt: skip
    report("samplers", rows, ["model", "sampler", "steps", "NFE", "quality", "seconds"])
    targets = spiral_targets()
    report("samplers-targets", targets, ["configuration", "NFE", "spiral distance", "vs DDPM-1000", "per seed",
                                         "seconds"])  # fmt: skip
    FIGURE.parent.mkdir(exist_ok=True)
    side_by_side(charts).save(FIGURE)
    print(f"wrote {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
