"""The Sampler comparison core: same x_T for every configuration, exact NFE, metrics, limits,
the quality-versus-NFE cache, and zero-terminal-SNR models (refused for eps, sampled for v)."""

import numpy as np
import pytest
import torch

from explorer.config import user_models_dir
from explorer.evaluation.quality import SPIRAL_METRIC
from explorer.runs import curves
from explorer.runs.compare import MAX_COMPARE_POINTS, CompareSettings, run_comparison, table, visited_timesteps
from explorer.runs.curves import curves_csv, quality_curve
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import load_model
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer
from explorer.viz.animations import compare_animation
from explorer.viz.panels import side_by_side

FAST = (
    SamplerSettings("ddim", 20, spacing="trailing", clip_x0=1.5),
    SamplerSettings("dpmpp2m", 10, spacing="logsnr", clip_x0=1.5),
    SamplerSettings("em", 20, spacing="karras", clip_x0=1.5),
)


def test_runs_share_x_T_and_report_exact_nfe_and_quality():
    c = run_comparison(CompareSettings("spiral-mlp", FAST, n=300, seed=3))
    assert c.kind == "points" and c.T == 1000 and c.metric == SPIRAL_METRIC
    starts = [run.xs[0] for run in c.runs]
    for other in starts[1:]:
        np.testing.assert_array_equal(other, starts[0])
    assert [run.nfe for run in c.runs] == [20, 10, 20]
    for run in c.runs:
        assert run.t[0] == 1000 and run.t[-1] == 0 and len(run.t) == run.nfe + 1
        assert 0 < run.quality < 0.1, run  # pure noise scores about 0.5
        assert run.frame_at(0.0) == 0 and run.frame_at(1.0) == len(run.t) - 1
    seeded = run_comparison(CompareSettings("spiral-mlp", FAST[:2], n=300, seed=4))
    assert not np.array_equal(seeded.runs[0].xs[0], starts[0])
    rows = table(c)
    assert rows[0][:5] == ["DDIM", 20, "trailing", 0.0, 20] and rows[1][0] == "DPM-Solver++(2M)"


def test_frames_and_animation_are_synchronised_by_fraction():
    c = run_comparison(CompareSettings("spiral-mlp", FAST, n=300, seed=3))
    image = side_by_side(c, 0.5, 128)
    assert image.shape == (128, 3 * 128 + 2 * 6, 3)
    frames = compare_animation(c, 5, 96)
    assert len(frames) == 5 and frames[0].shape == (96, 3 * 96 + 12, 3)
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.parametrize(
    "configs, n, message",
    [
        (FAST[:1], 100, "compare 2 to 4 sampler configurations"),
        (FAST * 2, 100, "compare 2 to 4 sampler configurations"),
        (FAST[:2], MAX_COMPARE_POINTS + 1, "number of samples must be between 1 and 5000"),
        ((FAST[0], SamplerSettings("ddim", 0)), 100, "steps must be between 1 and 1000"),
        ((FAST[0], SamplerSettings("ddim", 2000)), 100, "steps must be between 1 and 1000"),
        ((FAST[0], SamplerSettings("ddim", 10, eta=float("nan"))), 100, "eta must be a finite number"),
        ((FAST[0], SamplerSettings("rk4", 10)), 100, "unknown sampler 'rk4'"),
        ((FAST[0], SamplerSettings("ddim", 10, spacing="cubic")), 100, "unknown spacing 'cubic'"),
    ],
)
def test_limits_are_enforced_in_the_core(configs, n, message):
    with pytest.raises(ValueError, match=message):
        run_comparison(CompareSettings("spiral-mlp", configs, n=n))


def test_quality_curve_is_computed_once_then_read_from_the_cache(monkeypatch):
    monkeypatch.setattr(curves, "CURVE_STEPS", (2, 5, 10))
    monkeypatch.setattr(curves, "CURVE_POINTS", 200)
    config = SamplerSettings("dpmpp2m", spacing="logsnr", clip_x0=1.5)
    seen = []
    points = quality_curve("spiral-mlp", config, lambda f, text: seen.append(text))
    assert [p.steps for p in points] == [2, 5, 10] and [p.nfe for p in points] == [2, 5, 10]
    assert points[0].quality > points[-1].quality  # more steps, closer to the spiral
    assert len(seen) == 3

    def fail(*args, **kwargs):
        raise AssertionError("the cached curve was recomputed")

    monkeypatch.setattr(curves, "draw_samples", fail)
    assert quality_curve("spiral-mlp", config) == points
    heun = SamplerSettings("heun", spacing="karras")
    monkeypatch.undo()
    monkeypatch.setattr(curves, "CURVE_STEPS", (2, 5))
    monkeypatch.setattr(curves, "CURVE_POINTS", 100)
    assert [p.nfe for p in quality_curve("spiral-mlp", heun)] == [3, 9]
    text = curves_csv("spiral-mlp", {"dpm": points}, SPIRAL_METRIC)
    lines = text.strip().splitlines()
    assert lines[0] == "model,configuration,steps,nfe,mean distance to the spiral,seconds" and len(lines) == 4


def test_visited_timesteps_are_the_papers_t():
    assert visited_timesteps(SamplerSettings("ddim", 4, spacing="leading"), "spiral-mlp") == [751, 501, 251, 1]
    assert visited_timesteps(SamplerSettings("ddpm"), "spiral-mlp") == list(range(1000, 0, -1))


@pytest.fixture(scope="module")
def zero_snr_models():
    """Two tiny models on a zero-terminal-SNR schedule: one predicting eps, one v."""
    names = {}
    for prediction in ("eps", "v"):
        name = f"zsnr-{prediction}"
        config = TrainConfig(dataset="two_moons", T=100, zero_terminal_snr=True, prediction=prediction, steps=30,
                             batch=128, width=32, depth=1, n_data=500)  # fmt: skip
        trainer = Trainer(config, user_models_dir() / name, device="cpu")
        for _ in range(config.steps):
            trainer.train_step()
        trainer.save()
        names[prediction] = name
    return names


def test_zero_terminal_snr_eps_model_is_refused_with_a_clear_message(zero_snr_models):
    loaded, schedule = load_model(zero_snr_models["eps"])
    assert loaded.info.schedule.zero_terminal_snr and float(schedule.alpha_bar[-1]) == 0.0
    with pytest.raises(ValueError, match="zero terminal SNR.*cannot recover x0"):
        run_comparison(CompareSettings(zero_snr_models["eps"], FAST, n=50))


def test_zero_terminal_snr_v_model_samples_finite_points(zero_snr_models):
    c = run_comparison(CompareSettings(zero_snr_models["v"], FAST, n=50))
    for run in c.runs:
        assert np.isfinite(run.xs).all() and np.isfinite(run.quality)
    assert torch.isfinite(torch.from_numpy(c.runs[0].x0s)).all()


@pytest.mark.parametrize("model", ["spiral-mlp", "spiral-ve", "digits-unet"])
def test_shipped_curves_answer_at_once_and_are_the_curves_the_tab_would_compute(model, monkeypatch):
    """`python -m explorer curves` stored every default configuration's curve in the checkpoint (keyed
    by its weights and settings): the tab reads them without sampling, and a fresh run of the cheapest
    step count gives the same quality (same seed, same x_T)."""
    import json
    from dataclasses import replace

    from explorer.evaluation.quality import sample_quality
    from explorer.runs.compare import default_configs
    from explorer.store.registry import is_image_model

    loaded, schedule = load_model(model)
    made_by = json.loads((loaded.folder / curves.SHIPPED_CURVES / "made-by.json").read_text())
    assert made_by["command"] == f"python -m explorer curves --model {model}" and made_by["seed"] == curves.CURVE_SEED
    assert made_by["weights"] == loaded.weights, "made for the weights that ship"
    real_draw = curves.draw_samples

    def fail(*args, **kwargs):
        raise AssertionError("a shipped curve was recomputed")

    monkeypatch.setattr(curves, "draw_samples", fail)
    configs = default_configs(model)
    shipped = {config.name: quality_curve(model, config) for config in configs}
    assert set(shipped) == {"ddpm", "ddim", "dpmpp2m", "unipc"}
    assert [p.steps for p in shipped["ddim"]] == list(curves.CURVE_STEPS)
    ddim = next(c for c in configs if c.name == "ddim")
    n = curves.CURVE_IMAGES if is_image_model(loaded) else curves.CURVE_POINTS
    samples, _ = real_draw(loaded, schedule, n, curves.CURVE_SEED, replace(ddim, steps=5))
    fresh = sample_quality(loaded.dataset, loaded.train.noise, samples)
    # an FD's matrix square root moves by ~1e-4 between numpy/scipy releases (5.0443 -> 5.0439 with numpy
    # 2.4.6, scipy 1.17.1); another seed or step count moves it by percents
    tolerance = 1e-3 if is_image_model(loaded) else 1e-5
    assert fresh == pytest.approx(shipped["ddim"][0].quality, rel=tolerance)


def test_every_shipped_gaussian_and_flow_model_ships_the_curve_of_every_sampler(monkeypatch):
    """The Comparison tab's curves draw at once for every model that ships (issue 18, section 4): its
    first rows, and every other sampler as picking it sets it up, each over the whole ladder."""
    import json

    from explorer.config import SHIPPED_DIR
    from explorer.runs.compare import curve_label, shipped_configs
    from explorer.sampling.registry import SAMPLERS, VP_ONLY
    from explorer.store.registry import REGISTRY, find_checkpoints

    def fail(*args, **kwargs):
        raise AssertionError("a shipped curve was recomputed")

    monkeypatch.setattr(curves, "draw_samples", fail)
    gaussian = [name for name in find_checkpoints([SHIPPED_DIR]) if REGISTRY.handle(name).schedule is not None]
    assert len(gaussian) >= 11, gaussian
    for name in gaussian:
        handle = REGISTRY.handle(name)
        configs = shipped_configs(name)
        made_by = json.loads((handle.folder / curves.SHIPPED_CURVES / "made-by.json").read_text())
        assert made_by["configurations"] == [curve_label(c) for c in configs] and not made_by["left out"], name
        expected = set(SAMPLERS) - (set(VP_ONLY) if handle.schedule.kind == "flow" else set())
        assert {c.name for c in configs} == expected, name
        for config in configs:  # a tuned row over the step counts its timesteps were tuned for
            ladder = config.tuned_steps() if config.spacing == "tuned" else list(curves.CURVE_STEPS)
            assert [p.steps for p in quality_curve(name, config)] == ladder, (name, config)
            assert made_by.get("own ladders", {}).get(curve_label(config), made_by["ladder"]) == ladder, name


def test_ship_curves_stores_every_sampler_and_names_what_it_left_out(zero_snr_models, monkeypatch):
    """`python -m explorer curves` on a small model: one file per configuration in curves/, made-by.json
    listing them, and the tab then reads them without sampling."""
    import json

    from explorer.runs.compare import curve_label, shipped_configs

    monkeypatch.setattr(curves, "CURVE_STEPS", (5, 10))
    monkeypatch.setattr(curves, "CURVE_POINTS", 200)
    name = zero_snr_models["v"]
    folder = curves.ship_curves(name, f"python -m explorer curves --model {name}")
    made_by = json.loads((folder / "made-by.json").read_text())
    labels = [curve_label(c) for c in shipped_configs(name)]
    assert sorted(made_by["configurations"] + list(made_by["left out"])) == sorted(labels)
    assert len(made_by["configurations"]) >= 9 and made_by["ladder"] == [5, 10] and made_by["n"] == 200
    assert len(list(folder.glob("*.json"))) == len(made_by["configurations"]) + 1

    def fail(*args, **kwargs):
        raise AssertionError("a shipped curve was recomputed")

    monkeypatch.setattr(curves, "draw_samples", fail)
    for config in shipped_configs(name):
        if curve_label(config) in made_by["configurations"]:
            assert [p.steps for p in quality_curve(name, config)] == [5, 10]
