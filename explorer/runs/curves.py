"""Quality against NFE: each sampler over a fixed ladder of step counts, cached on disk per model weights."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from explorer.config import cache_dir
from explorer.core.guidance import UNCONDITIONAL, Conditioning
from explorer.evaluation.quality import Metric, sample_quality
from explorer.limits import MAX_CURVE_CACHE_BYTES
from explorer.runs.common import draw_samples
from explorer.runs.compare import short_name
from explorer.sampling.registry import SamplerSettings
from explorer.sampling.tuning import TUNED
from explorer.store.files import prune_folder
from explorer.store.registry import is_image_model, load_model

CURVE_STEPS = (5, 10, 20, 50, 100, 200, 500, 1000)


CURVE_POINTS, CURVE_IMAGES = 2000, 297  # images: FD's fixed n (evaluation.sample_report.FD_N), drawn in chunks


CURVE_SEED = 0


CURVE_VERSION = 1  # bump when the curve's method changes: old cache entries are then ignored


SHIPPED_CURVES = "curves"  # a checkpoint folder's precomputed curves (`python -m explorer curves`), by cache key


_CURVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class CurvePoint:
    steps: int
    nfe: int
    quality: float
    seconds: float


def curve_cache_path(model: str, config: SamplerSettings, ladder: list[int], n: int, cond: Conditioning) -> Path:
    settings = asdict(replace(config, steps=None))
    if config.name != "pc":  # the corrector's options key only its own curves: the others keep their keys
        settings = {k: v for k, v in settings.items() if k not in ("snr", "corrector_steps")}
    if not config.tuned:  # tuned timesteps key only their own curves
        settings.pop("tuned")
    loaded = load_model(model)[0]  # its weights' SHA-256, as the checkpoint records it and loading verified
    fields = {"weights": loaded.weights, "config": settings, "ladder": ladder,
              "n": n, "seed": CURVE_SEED, "version": CURVE_VERSION}  # fmt: skip
    if cond.label is not None:  # unconditional curves keep the keys they had before guidance existed
        fields["cond"] = asdict(cond)
    if loaded.dataset == "digits":  # scored by the digits evaluator: a new one, new curves
        from explorer.evaluation.digits import VERSION

        fields["evaluator"] = VERSION
    key = json.dumps(fields, sort_keys=True)
    return cache_dir() / "curves" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def curve_steps(T: int) -> list[int]:
    return [s for s in CURVE_STEPS if s <= T] or [T]


def curve_key(
    model: str, config: SamplerSettings, cond: Conditioning = UNCONDITIONAL
) -> tuple[SamplerSettings, int, list[int], Path]:
    """What a curve of `config` is measured with (the checked settings without a step count, the
    sample count, the ladder of steps) and the cache file it is stored in."""
    loaded, schedule = load_model(model)
    config = replace(config, steps=None).validated(schedule.T)
    n = CURVE_IMAGES if is_image_model(loaded) else CURVE_POINTS
    ladder = config.tuned_steps() if config.spacing == TUNED else curve_steps(schedule.T)
    return config, n, ladder, curve_cache_path(model, config, ladder, n, cond)


def stored_curve(model: str, config: SamplerSettings, cond: Conditioning = UNCONDITIONAL) -> list[CurvePoint] | None:
    """The curve of quality_curve as shipped with the model or cached on disk, or None: never samples."""
    return _read_curve(load_model(model)[0].folder, curve_key(model, config, cond)[3])


def _read_curve(folder: str | Path, path: Path) -> list[CurvePoint] | None:
    for stored in (Path(folder) / SHIPPED_CURVES / path.name, path):  # shipped first, then the cache
        try:
            return [CurvePoint(**p) for p in json.loads(stored.read_text())]
        except (OSError, ValueError, TypeError):
            pass
    return None


def quality_curve(
    model: str,
    config: SamplerSettings,
    progress: Callable[[float, str], None] | None = None,
    cond: Conditioning = UNCONDITIONAL,
) -> list[CurvePoint]:
    """Quality and NFE of `config` at each step count of the ladder (fixed n and seed), from the
    disk cache when this model's weights were measured before."""
    loaded, schedule = load_model(model)
    network = loaded.network_for(cond)
    config, n, ladder, path = curve_key(model, config, cond)
    with _CURVE_LOCK:  # one curve at a time: a second request for the same one then reads the cache
        found = _read_curve(loaded.folder, path)
        if found is not None:
            return found
        points = []
        for i, S in enumerate(ladder):
            if progress:
                progress(i / len(ladder), f"{short_name(config)}: {S} steps")
            start = time.perf_counter()
            samples, nfe = draw_samples(loaded, schedule, n, CURVE_SEED, replace(config, steps=S), network)
            seconds = time.perf_counter() - start
            points.append(CurvePoint(S, nfe, sample_quality(loaded.dataset, loaded.train.noise, samples), seconds))
        path.parent.mkdir(parents=True, exist_ok=True)
        prune_folder(path.parent, math.inf, MAX_CURVE_CACHE_BYTES)  # every (sampler, eta, w) makes a file
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(p) for p in points]))
        os.replace(tmp, path)
        return points


def ship_curves(model: str, command: str, progress: Callable[[float, str], None] | None = None) -> Path:
    """Compute the curves of every configuration the Comparison tab first offers for `model`, and of
    every other sampler at its usual settings (compare.shipped_configs), and store them in its
    checkpoint folder (curves/, one file per cache key, with made-by.json saying how), so the tab shows
    them at once. A configuration the model's process cannot start from its prior is left out and
    named there. Returns that folder."""
    from explorer.runs.compare import curve_label, shipped_configs

    loaded, schedule = load_model(model)
    folder = Path(loaded.folder) / SHIPPED_CURVES
    folder.mkdir(exist_ok=True)
    n, ladder = CURVE_IMAGES if is_image_model(loaded) else CURVE_POINTS, curve_steps(schedule.T)
    made, skipped, own_ladders = [], {}, {}
    for config in shipped_configs(model):
        try:  # a spacing that starts below t = T on a VE or flow process is refused here
            points = quality_curve(model, config, progress)
        except ValueError as error:
            skipped[curve_label(config)] = str(error)
            continue
        _, _, config_ladder, path = curve_key(model, config)
        path = folder / path.name
        path.write_text(json.dumps([asdict(p) for p in points]))
        made.append(curve_label(config))
        if config_ladder != ladder:  # tuned timesteps: the step counts they were tuned for
            own_ladders[curve_label(config)] = config_ladder
    made_by = {"command": command, "seed": CURVE_SEED, "n": n, "ladder": ladder, "weights": loaded.weights,
               "configurations": made, "own ladders": own_ladders, "left out": skipped}  # fmt: skip
    (folder / "made-by.json").write_text(json.dumps(made_by, indent=1))
    return folder


def curves_csv(model: str, curves: dict[str, list[CurvePoint]], metric: Metric) -> str:
    """The curves as CSV text: one row per (configuration, step count)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model", "configuration", "steps", "nfe", metric.name, "seconds"])
    for label, points in curves.items():
        for p in points:
            writer.writerow([model, label, p.steps, p.nfe, f"{p.quality:.6g}", f"{p.seconds:.4f}"])
    return out.getvalue()
