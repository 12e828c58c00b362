"""Evaluate a model: draw n samples with a sampler and score them (explorer.evaluation.sample_report).

Images are drawn in chunks of at most MAX_IMAGES (runs.common.chunk_seed: chunk 0 is the interactive run
of the same seed), so a request is bounded by its work (n x model calls, MAX_EVAL_WORK) rather than by
the interactive image limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from explorer.core.guidance import UNCONDITIONAL, Conditioning
from explorer.limits import MAX_IMAGES, MAX_POINTS, check_int
from explorer.runs.common import draw_samples
from explorer.sampling.registry import SamplerSettings, reference_sampler
from explorer.store.registry import REGISTRY, ModelHandle, data_bound, is_image_model

MAX_EVAL_IMAGES = 2000
MAX_EVAL_WORK = {"images": 1_000_000, "points": 20_000_000}  # samples x model calls


@dataclass(frozen=True)
class EvaluateSettings:
    model: str
    n: int = 1000
    seed: int = 0
    sampler: SamplerSettings | None = None  # None: the model's reference sampler (DDPM-T, Euler-T, D3PM-T)
    cond: Conditioning = UNCONDITIONAL  # a class-conditional model: the class asked for and the guidance scale
    clip: bool = True  # Gaussian and flow models: x0_hat clipped to the data range unless the sampler sets a bound


@dataclass(frozen=True)
class EvaluationRun:
    model: str
    kind: str  # "images" or "points"
    n: int
    sampler: str
    nfe: int
    metrics: dict[str, Any]
    seconds: float = 0.0  # sampling and scoring, wall time


def _check_work(kind: str, n: int, nfe: int) -> None:
    if n * nfe > MAX_EVAL_WORK[kind]:
        raise ValueError(f"{n} samples x {nfe} model calls is more work than one evaluation does "
                         f"({MAX_EVAL_WORK[kind]:,}); use fewer samples or steps")  # fmt: skip


def _digits(settings: EvaluateSettings, handle: ModelHandle) -> tuple[torch.Tensor, str, int]:
    n, chunks = settings.n, []
    if handle.discrete:
        if settings.cond.label is not None:
            raise ValueError(f"{settings.model!r} is a D3PM model, which here is unconditional: ask for no class")
        from explorer.runs.discrete import DiscreteSettings, run_discrete
        from explorer.sampling.discrete import to_images

        steps = None if settings.sampler is None else settings.sampler.steps
        nfe = handle.process.T if steps is None else check_int("reverse steps", steps, 1, handle.process.T)
        _check_work("images", n, nfe)
        for k, start in enumerate(range(0, n, MAX_IMAGES)):
            run = run_discrete(DiscreteSettings(settings.model, min(MAX_IMAGES, n - start), steps, settings.seed,
                                                chunk=k))  # fmt: skip
            chunks.append(to_images(run.xs[-1], run.process.K))
        return torch.cat(chunks), f"D3PM ancestral, {nfe} steps", nfe
    sampler = _gaussian_sampler(settings, handle)
    _check_work("images", n, sampler.nfe(handle.schedule))
    images, nfe = draw_samples(handle, handle.schedule, n, settings.seed, sampler, handle.network_for(settings.cond))
    return images, sampler.label(), nfe


def _gaussian_sampler(settings: EvaluateSettings, handle: ModelHandle) -> SamplerSettings:
    sampler = settings.sampler or reference_sampler(handle.schedule)
    if sampler.clip_x0 is None and settings.clip:
        sampler = replace(sampler, clip_x0=data_bound(handle))
    return sampler.validated(handle.schedule.T)


def run_evaluation(settings: EvaluateSettings, allow_path: bool = False) -> EvaluationRun:
    """Sample and score: FD, its floor, precision / recall and the memorised share for digits; the
    distances and precision / recall for points."""
    from explorer.evaluation.sample_report import digits_quality, points_quality

    start = time.perf_counter()
    handle = REGISTRY.handle(settings.model, allow_path=allow_path)
    seed = check_int("seed", settings.seed, 0, 2**20)
    settings = replace(settings, seed=seed)
    if handle.discrete or is_image_model(handle):
        if settings.cond.label is not None and settings.cond.scale != 0.0:
            raise ValueError("FD compares samples with all ten digits: set the class to none (or w = 0) to score")
        n = check_int("number of samples", settings.n, 1, MAX_EVAL_IMAGES)
        images, label, nfe = _digits(replace(settings, n=n), handle)
        quality = digits_quality(images)
        fd, floor = quality.fd, quality.fd_floor
        metrics = {"fd": fd.value, "fd_interval": [fd.low, fd.high], "fd_floor": floor.value,
                   "fd_floor_interval": [floor.low, floor.high],
                   "fd_n": quality.n, "precision": quality.precision, "recall": quality.recall,
                   "precision_floor": quality.precision_floor, "recall_floor": quality.recall_floor,
                   "memorised_share": quality.memorised_share, "confidence": quality.confidence}  # fmt: skip
        return EvaluationRun(settings.model, "images", n, label, nfe, metrics, time.perf_counter() - start)
    n = check_int("number of samples", settings.n, 1, MAX_POINTS)
    sampler = _gaussian_sampler(settings, handle)
    _check_work("points", n, sampler.nfe(handle.schedule))
    samples, nfe = draw_samples(handle, handle.schedule, n, seed, sampler, handle.network_for(settings.cond))
    metrics = points_quality(samples, handle.dataset, handle.train.noise, seed)
    return EvaluationRun(settings.model, "points", n, sampler.label(), nfe, metrics, time.perf_counter() - start)


def score_images(settings: EvaluateSettings) -> EvaluationRun:
    """What a tab's Score button reports: run_evaluation of an image model at FD's fixed n (FD_N)."""
    from explorer.evaluation.sample_report import FD_N

    handle = REGISTRY.handle(settings.model)
    if not (handle.discrete or is_image_model(handle)):
        raise ValueError("Score ranks image models; a point model's quality shows with every run")
    return run_evaluation(replace(settings, n=FD_N))
