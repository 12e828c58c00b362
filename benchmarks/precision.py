"""Mixed precision's effect on sample quality: the network under autocast in bf16 or fp16, the
sampler in float32 (explorer.sampling.precision), against float32, on the shipped spiral-mlp
(4,000 points, seed 0: mean distance to the spiral) and digits-unet (297 digits, seed 0: FD to
the real digits), with the model-call seconds on this machine's CPU at one torch thread (the
server's). CPU timings say little about a GPU: bf16 runs on AVX-512 BF16 where the CPU has it,
fp16 is emulated (so the digits UNet's DDPM-1000 in fp16 is left to a GPU). The GPU's are taken
by scripts/gpu_checks.sh.
Run: python -m benchmarks.precision   (writes results/precision-cpu.json, or -cuda on a GPU)
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from benchmarks.common import report
from explorer.evaluation.quality import sample_quality
from explorer.runs.common import draw_samples
from explorer.runs.compare import clip_bound
from explorer.runs.tuned import with_tuned
from explorer.sampling.precision import PRECISIONS, with_precision
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import ModelHandle, load_model

POINTS, IMAGES, SEED = 4000, 297, 0
CONFIGS = {
    "spiral-mlp": [SamplerSettings("ddpm"), SamplerSettings("ddim", 50, spacing="trailing"),
                   SamplerSettings("unipc", 10, spacing="tuned")],
    "digits-unet": [SamplerSettings("ddpm"), SamplerSettings("ddim", 50, spacing="trailing"),
                    SamplerSettings("unipc", 10, spacing="logsnr")],
}  # fmt: skip


def slow_fp16(loaded: ModelHandle, config: SamplerSettings, T: int) -> bool:
    """fp16 on a CPU is emulated: the digits UNet's 1,000 calls took over 4 minutes (against 77-83 s in
    float32) and are left to a GPU."""
    return loaded.device.type == "cpu" and loaded.dataset == "digits" and config.resolved_steps(T) > 100


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for model, configs in CONFIGS.items():
        loaded, schedule = load_model(model)
        n = IMAGES if model.startswith("digits") else POINTS
        for config in configs:
            config = with_tuned(replace(config, clip_x0=clip_bound(model)), loaded)
            reference = None
            for precision in PRECISIONS:
                if precision == "fp16" and slow_fp16(loaded, config, schedule.T):
                    continue
                start = time.perf_counter()
                samples, nfe = draw_samples(loaded, schedule, n, SEED, config, with_precision(loaded.model, precision))
                seconds = time.perf_counter() - start
                quality = sample_quality(loaded.dataset, loaded.train.noise, samples)
                reference = reference or (quality, seconds)
                row = {"model": model, "sampler": config.label(), "NFE": nfe, "precision": precision,
                       "quality": round(quality, 5 if quality < 0.1 else 2),
                       "vs fp32": f"{quality / reference[0]:.2f}x", "seconds": round(seconds, 2),
                       "speed vs fp32": f"{reference[1] / seconds:.2f}x"}  # fmt: skip
                rows.append(row)
                print(row, flush=True)
    report(f"precision-{load_model('spiral-mlp')[0].device.type}", rows, list(rows[0]))


if __name__ == "__main__":
    main()
