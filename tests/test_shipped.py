"""The checkpoints that ship in checkpoints/: each loads, and the spiral model is good."""

import torch

from explorer.config import SHIPPED_DIR
from explorer.core.schedules import make_schedule
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.sampling.gaussian import Estimator, ddpm_steps, last
from explorer.sampling.spacings import timesteps
from explorer.store.checkpoint import load_checkpoint
from explorer.store.registry import find_checkpoints


def test_shipped_models_load_and_record_how_they_were_made():
    shipped = find_checkpoints([SHIPPED_DIR])
    assert len(shipped) >= 3 and any("spiral" in name for name in shipped)
    for folder in shipped.values():
        loaded = load_checkpoint(folder)
        assert loaded.info.command.startswith("python -m explorer train")
        assert isinstance(loaded.info.seed, int) and loaded.info.metrics


def test_shipped_spiral_samples_lie_on_the_spiral():
    loaded = load_checkpoint(find_checkpoints([SHIPPED_DIR])["spiral-mlp"])
    schedule = make_schedule(loaded.info.schedule.name, loaded.info.schedule.T)
    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn(1000, 2, generator=gen)
    estimate = Estimator(loaded.model, schedule, loaded.info.prediction)
    x = last(ddpm_steps(estimate, x_T, timesteps(1000, 1000, "leading"), gen)).x
    assert loaded.info.prediction == "v" and mean_spiral_distance(x) < 0.002  # pure noise scores 0.515


def test_the_ideal_denoiser_reproduces_training_points_whatever_the_model_predicts():
    """The Reverse tab's ideal denoiser predicts x0 itself, so it works beside a v-model (spiral-mlp) too."""
    from explorer.runs.common import training_set
    from explorer.runs.reverse import ReverseSettings, run_reverse
    from explorer.store.registry import load_model

    run = run_reverse(ReverseSettings("spiral-mlp", n=200, seed=0, ideal=True))
    train = training_set(load_model("spiral-mlp")[0], 2000)
    nearest = torch.cdist(torch.from_numpy(run.xs[-1]).double(), train.double()).min(1).values
    assert float((nearest < 0.01).float().mean()) > 0.95 and float(nearest.median()) < 2e-3


def test_shipped_discrete_models_make_legible_digits_and_stay_out_of_the_gaussian_pickers():
    from explorer.evaluation.digits import evaluate_digits
    from explorer.evaluation.sample_report import digits_quality
    from explorer.sampling.discrete import prior_sample, reverse_steps, to_images
    from explorer.store.registry import discrete_models
    from explorer.ui.reverse_tab import model_choices

    assert {"digits-absorbing", "digits-uniform"} <= set(discrete_models())
    assert not {"digits-absorbing", "digits-uniform"} & set(model_choices())
    for name in ("digits-absorbing", "digits-uniform"):
        from explorer.store.registry import load_discrete

        loaded, process = load_discrete(name)
        gen = torch.Generator().manual_seed(0)
        final = last(reverse_steps(loaded.model, process, prior_sample(process, (300, 1, 8, 8), gen), 25, gen))
        images = to_images(final.x, process.K)
        quality, report = digits_quality(images), evaluate_digits(images)
        assert quality.fd.value < 3 * quality.fd_floor.value, (name, quality)  # uniform noise: 45 floors
        assert quality.recall > 0.8 and quality.memorised_share == 0.0, (name, quality)
        assert sum(1 for count in report.histogram if count) == 10  # every digit appears


def test_the_shipped_conditional_digits_model_draws_the_digit_asked_for():
    from explorer.core.guidance import Guided
    from explorer.evaluation.digits import predict_digits
    from explorer.sampling.registry import SamplerSettings, sample_steps
    from explorer.store.registry import load_model

    loaded, schedule = load_model("digits-cond")
    sampler = SamplerSettings("ddim", 20, 0.0, "trailing", clip_x0=1.0).validated(schedule.T)
    for digit in (0, 7):
        gen = torch.Generator().manual_seed(digit)
        x_T = torch.randn(32, 1, 8, 8, generator=gen).to(loaded.device)
        x = last(sample_steps(sampler, Guided(loaded.model, digit, 2.0), schedule, x_T, gen, "eps")).x
        assert (predict_digits(x) == digit).float().mean() > 0.9, digit


def test_the_shipped_ot_flow_is_straighter_than_the_independent_one():
    """spiral-otflow (train --coupling ot, 1,024-row chunks) against spiral-flow, same settings: one
    Euler step within the issue's 0.03 of the spiral (measured 0.022 against 0.33) and ten steps no
    worse (0.0005 against 0.024)."""
    from explorer.sampling.gaussian import euler_steps

    distances = {}
    for name in ("spiral-flow", "spiral-otflow"):
        loaded = load_checkpoint(find_checkpoints([SHIPPED_DIR])[name])
        schedule = make_schedule("flow", loaded.info.schedule.T)
        x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
        for S in (1, 10):
            ts = timesteps(schedule.T, S, "trailing", schedule)
            with torch.no_grad():
                x = last(euler_steps(Estimator(loaded.model, schedule, "flow", 1.5), x_T, ts)).x
            distances[name, S] = mean_spiral_distance(x)
    assert "--coupling ot" in load_checkpoint(find_checkpoints([SHIPPED_DIR])["spiral-otflow"]).info.command
    assert distances["spiral-otflow", 1] <= 0.03 < distances["spiral-flow", 1] / 3, distances
    assert distances["spiral-otflow", 10] <= distances["spiral-flow", 10], distances


def test_the_shipped_ve_model_records_its_sigma_max_and_samples_the_spiral_by_sde_and_ode():
    """spiral-ve (train --schedule ve): its config keeps sigma_max, the registry rebuilds the same process,
    and predictor-corrector (the reverse SDE with Langevin steps) and Heun on the probability-flow ODE
    both put 1,000 points from N(0, sigma_max^2) on the spiral."""
    from explorer.runs.common import trajectory
    from explorer.sampling.registry import SamplerSettings
    from explorer.store.registry import load_model

    loaded, schedule = load_model("spiral-ve")
    assert "--schedule ve" in loaded.info.command and loaded.info.prediction == "eps"
    assert schedule.kind == "ve" and schedule.prior_std == loaded.info.schedule.sigma_max > 1.0
    assert float(schedule.sqrt_one_minus_alpha_bar[-1]) == schedule.prior_std
    for sampler in (SamplerSettings("pc", 100, spacing="trailing"), SamplerSettings("heun", 25, spacing="karras")):
        _, xs, _, _ = trajectory(loaded, schedule, 1000, 0, sampler, {0})
        assert mean_spiral_distance(xs[-1]) < 0.002, sampler  # pure noise scores 0.515


DIGIT_MODELS = ("digits-unet", "digits-flow", "digits-cond", "digits-absorbing", "digits-uniform")


def test_every_shipped_digits_model_generalises_by_the_measures_it_records():
    """Issue 19: each shipped digits model was trained with the 297 held-out digits kept out and the
    checkpoint nearest them by FD kept (its trace recorded), and the metrics measured at save time (its
    reference sampler, 297 samples) put it within 2x of the real digits' FD floor with at most 2% near-copies
    of training digits."""
    shipped = find_checkpoints([SHIPPED_DIR])
    for name in DIGIT_MODELS:
        info = load_checkpoint(shipped[name]).info
        assert info.train["holdout"] and info.train["keep_best"], name
        trace = dict(info.selection["trace"])
        assert trace[info.selection["kept_step"]] == min(trace.values()) and len(trace) >= 10, name
        m = info.metrics
        tag = next(k for k in m if k.startswith("fd_") and k not in ("fd_floor",) and "held_out" not in k)[3:]
        assert m[f"fd_{tag}"] <= 2 * m["fd_floor"], (name, m)
        assert m[f"memorised_share_{tag}"] <= 0.02, (name, m)
