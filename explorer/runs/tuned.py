"""A model's tuned timesteps: searched by `python -m explorer tune`, stored beside its checkpoint.

The search (sampling.tuning) scores a sampler's samples from one seed set apart for tuning
(TUNE_SEED), and the result is kept only where it also scores better on other seeds
(HELD_OUT_SEEDS); the curves and benchmarks draw from seeds 0-2, which neither decision saw. The
file records both scores, the command, and the weights' hash: after retraining, the old timesteps
are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from explorer.evaluation.quality import metric_for, sample_quality
from explorer.limits import MAX_POINTS, check_int
from explorer.runs.common import draw_samples
from explorer.sampling.registry import DEFAULT_SPACING, SamplerSettings, sampler_spec
from explorer.sampling.spacings import timesteps
from explorer.sampling.tuning import TUNED, TunedSearch, check_tuned, tune_timesteps
from explorer.store.registry import ModelHandle, data_bound, is_image_model

TUNED_FILE = "tuned.json"
TUNE_SEED = 100  # the seed the search scores on: apart from the curves' and the benchmarks' seeds 0-2
HELD_OUT_SEEDS = (200, 201, 202)  # apart from the seed searched and from the curves' and benchmarks' 0-2
TUNE_POINTS, HELD_OUT_POINTS = 2000, 5000  # per seed; image models use FD's fixed n (evaluation.sample_report)
MAX_TUNED_STEPS = 50  # a search costs about 40 passes of S model calls per timestep: few steps only


def _read(loaded: ModelHandle) -> dict[str, Any]:
    try:
        stored = json.loads((Path(loaded.folder) / TUNED_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) and stored.get("weights") == loaded.weights else {}


def tuned_table(loaded: ModelHandle, sampler: str) -> tuple[tuple[int, ...], ...]:
    """The model's tuned timesteps for `sampler`, one list per step count (none if not tuned, or
    tuned for weights it no longer has); an entry that is not a valid list for its schedule is skipped."""
    tuned = _read(loaded).get("tuned")
    entries = tuned.get(sampler) if isinstance(tuned, dict) else None
    table = []
    for entry in entries.values() if isinstance(entries, dict) else ():
        try:
            table.append(tuple(check_tuned(entry["timesteps"], loaded.schedule.T)))
        except (KeyError, TypeError, ValueError):  # an entry edited out of shape
            continue
    return tuple(sorted(table, key=len))


def with_tuned(settings: SamplerSettings, loaded: ModelHandle) -> SamplerSettings:
    """`settings` with the model's tuned timesteps attached where its spacing is "tuned" (ValueError
    if the model has none for that sampler)."""
    if settings.spacing != TUNED:
        return settings
    spec = sampler_spec(settings.name)
    if spec.stochastic:
        raise ValueError(f"{spec.label} draws noise on the way: only deterministic samplers have tuned timesteps")
    table = tuned_table(loaded, settings.name)
    if not table:
        raise ValueError(f"{loaded.name} has no tuned timesteps for {spec.label}: choose another spacing, or run "
                         f"`python -m explorer tune --model {loaded.name} --sampler {settings.name}`")  # fmt: skip
    return replace(settings, tuned=table)


def has_tuned(loaded: ModelHandle, sampler: str, steps: int) -> bool:
    """Whether the model has tuned timesteps for `sampler` at `steps`."""
    return any(len(seq) == steps for seq in tuned_table(loaded, sampler))


def _score(loaded: ModelHandle, settings: SamplerSettings, n: int, seeds: tuple[int, ...]) -> float:
    """The mean quality of `settings`' samples over `seeds` (sign flipped where higher is better)."""
    sign = -1.0 if metric_for(loaded.dataset).higher_is_better else 1.0
    total = 0.0
    for seed in seeds:
        samples, _ = draw_samples(loaded, loaded.schedule, n, seed, settings)
        total += sample_quality(loaded.dataset, loaded.train.noise, samples)
    return sign * total / len(seeds)


def tune_sampler(
    loaded: ModelHandle, sampler: str, steps: int, samples: int = TUNE_POINTS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Search `sampler`'s timesteps at `steps` for the model, starting from its usual spacing, with
    x0_hat clipped to the data range (the Comparison tab's default); returns the record tune stores."""
    schedule = loaded.schedule
    if schedule is None:
        raise ValueError(f"{loaded.name} is a discrete model: it has no timesteps to tune")
    steps = check_int("steps", steps, 2, min(MAX_TUNED_STEPS, schedule.T))
    spec = sampler_spec(sampler)
    if spec.stochastic:
        raise ValueError(f"{spec.label} draws noise on the way: tune a deterministic sampler, whose score a seed fixes")
    image = is_image_model(loaded)
    from explorer.evaluation.sample_report import FD_N

    n = FD_N if image else check_int("samples", samples, 100, MAX_POINTS)
    held_n = FD_N if image else HELD_OUT_POINTS
    base = SamplerSettings(sampler, steps, spacing=DEFAULT_SPACING[sampler], clip_x0=data_bound(loaded))
    start = timesteps(schedule.T, steps, base.spacing, schedule)

    def settings_for(seq: list[int]) -> SamplerSettings:
        return replace(base, spacing=TUNED, tuned=(tuple(seq),))

    def report(sweep: int, best: float) -> None:
        if progress:
            progress(f"{spec.short} {steps} steps: pass {sweep}, score {best:.6g}")

    search: TunedSearch = tune_timesteps(lambda seq: _score(loaded, settings_for(seq), n, (TUNE_SEED,)), start,
                                         schedule.T, progress=report)  # fmt: skip
    return {"timesteps": search.timesteps, "start": base.spacing, "start timesteps": start,
            "score": search.score, "start score": search.start_score,
            "held-out score": _score(loaded, settings_for(search.timesteps), held_n, HELD_OUT_SEEDS),
            "held-out start score": _score(loaded, base, held_n, HELD_OUT_SEEDS),
            "evaluations": search.evaluations, "passes": search.sweeps}  # fmt: skip


def tune_model(
    loaded: ModelHandle, sampler: str, steps: list[int], command: str, samples: int = TUNE_POINTS,
    progress: Callable[[str], None] | None = None,
) -> Path:  # fmt: skip
    """Tune `sampler` at each step count and store the results in the checkpoint's tuned.json (other
    samplers' entries for the same weights are kept: run one tune at a time per model, since each
    rewrites the whole file). A result that scores worse on the held-out seeds than the spacing it
    started from is recorded under "left out", not used. Returns the file."""
    stored = _read(loaded)
    made = {"weights": loaded.weights, "metric": metric_for(loaded.dataset).name, "seed": TUNE_SEED,
            "held-out seeds": list(HELD_OUT_SEEDS), "tuned": stored.get("tuned", {}),
            "left out": stored.get("left out", {}), "made by": stored.get("made by", {})}  # fmt: skip
    for S in steps:
        record = tune_sampler(loaded, sampler, S, samples, progress)
        key = f"{sampler} {S}"
        made["made by"][key] = command
        if record["held-out score"] < record["held-out start score"]:
            made["tuned"].setdefault(sampler, {})[str(S)] = record
            made["left out"].pop(key, None)
        else:
            made["tuned"].get(sampler, {}).pop(str(S), None)
            made["left out"][key] = record
    path = Path(loaded.folder) / TUNED_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(made, indent=1))
    os.replace(tmp, path)
    return path
