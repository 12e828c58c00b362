"""The Score and likelihood tab's runs on the shipped models: the ELBO bounds the ODE likelihood,
the digits score better than chance over their 17 levels, the learned score tracks the exact one,
and bad settings are refused with a message."""

import math

import numpy as np
import pytest

from explorer.models.d3pm import DIGIT_LEVELS
from explorer.runs import likelihood as likelihood_run
from explorer.runs import score as score_run
from explorer.runs.likelihood import ElboSettings, NllSettings, run_elbo, run_nll
from explorer.runs.score import ScoreSettings, run_score_field
from explorer.store.registry import ModelKindError


def test_the_elbo_of_held_out_points_bounds_their_ode_likelihood():
    elbo = run_elbo(ElboSettings("spiral-mlp", n=200, seed=1, every=10))
    nll = run_nll(NllSettings("spiral-mlp", n=200, seed=1, steps=30))
    assert elbo.terms.unit == nll.unit == "nats"
    assert "held out" in elbo.items == nll.items
    # -ELBO >= -log p: the bound sits above the exact negative log-likelihood, beyond both errors
    assert elbo.terms.total - nll.mean > 2 * math.hypot(elbo.terms.stderr, nll.stderr)
    assert -3.0 < nll.mean < -1.5  # a thin spiral: its density is high (log p > 0)
    assert nll.nfe > 30 and nll.divergence == "exact"
    assert elbo.terms.total == pytest.approx(elbo.terms.prior + elbo.terms.transitions + elbo.terms.decoder)
    steps, weight = elbo.weights["ELBO (Ho et al. eq. 12)"]
    assert np.mean(weight) == pytest.approx(1.0) and weight[0] > 10 * weight[-1]  # the ELBO favours small t


@pytest.mark.parametrize("name", ["digits-absorbing", "digits-unet"])
def test_digit_elbos_are_bits_per_dim_better_than_a_uniform_guess_over_the_levels(name):
    # every = 20: 50 terms of the Gaussian sum; with every = 100 digits-unet's estimate is 5.2 bits (a
    # ten-term estimate, too coarse for it), against 3.6 at 20 and 3.3 at 10
    run = run_elbo(ElboSettings(name, n=24, seed=0, every=20))
    assert run.terms.unit == "bits/dim" and run.terms.dims == 64
    assert 0.5 < run.terms.total < math.log2(DIGIT_LEVELS)  # log2 17 = 4.09 bits is knowing nothing
    assert run.items == "24 held-out digits, never trained on (seed 0)"  # the shipped models train with holdout


def test_a_holdout_models_likelihood_is_measured_on_the_297_digits_it_never_saw():
    from explorer import data
    from explorer.runs.likelihood import evaluation_items
    from explorer.store.registry import REGISTRY

    handle = REGISTRY.handle("digits-unet")
    items, where = evaluation_items(handle, 297, 0, (5000, 500))
    held_out = data.digits()[0][data.split_indices()[1]]
    assert "held-out" in where and sorted(items.flatten(1).tolist()) == sorted(held_out.flatten(1).tolist())
    with pytest.raises(ValueError, match="there are 297 held-out digits"):
        evaluation_items(handle, 298, 0, (5000, 500))


def test_digit_ode_likelihood_after_dequantisation():
    run = run_nll(NllSettings("digits-unet", n=8, seed=0, steps=12, probes=2))
    assert run.unit == "bits/dim" and run.divergence == "hutchinson"
    assert 0.5 < run.mean < math.log2(DIGIT_LEVELS) and "dequantisation" in run.note


def test_the_point_density_map_is_a_density(monkeypatch):
    monkeypatch.setattr(likelihood_run, "DENSITY_GRID", 96)  # fine enough for a Riemann sum over a thin spiral
    run = run_nll(NllSettings("spiral-mlp", n=10, seed=0, steps=50, density=True))
    cell = (2 * likelihood_run.DENSITY_LIM / 95) ** 2
    assert 0.95 < np.exp(run.log_density).sum() * cell < 1.05  # the spiral lies inside the map
    assert 0.99 < run.data_density.sum() * cell <= 1 + 1e-9  # the histogram is a density on the same cells


def test_bad_likelihood_settings_are_refused():
    with pytest.raises(ValueError, match="reverse variance"):
        run_elbo(ElboSettings("spiral-mlp", n=10, variance="large"))
    with pytest.raises(ValueError, match="number of items"):
        run_elbo(ElboSettings("spiral-mlp", n=0))
    with pytest.raises(ValueError, match="every"):
        run_elbo(ElboSettings("spiral-mlp", n=10, every=0))
    with pytest.raises(ValueError, match="no probability-flow ODE"):
        run_nll(NllSettings("digits-absorbing", n=4))
    with pytest.raises(ValueError, match="296,703 item-evaluations; at most 100,000"):
        run_elbo(ElboSettings("digits-unet", n=297, every=1))  # refused before any model call
    with pytest.raises(ValueError, match="take fewer steps"):
        run_nll(NllSettings("spiral-mlp", n=500, steps=500, density=True))
    with pytest.raises(ValueError, match="Hutchinson probes"):
        run_nll(NllSettings("digits-unet", n=4, probes=100))


def test_the_learned_score_field_tracks_the_exact_score(monkeypatch):
    monkeypatch.setattr(score_run, "FIELD_FRAMES", 6)
    field = run_score_field(ScoreSettings("spiral-mlp", seed=0))
    assert [frame.t for frame in field.frames] == sorted(frame.t for frame in field.frames)
    assert field.frames[0].t == 1 and field.frames[-1].t == field.T
    for frame in field.frames:
        assert frame.learned.shape == frame.exact.shape == field.grid.shape
        assert frame.relative_error < 0.05
    assert field.nearest(3).t == 1
    # Tweedie's estimate from barely-noised points lands back near the points themselves
    first = field.frames[0]
    assert np.abs(first.tweedie - first.noisy).max() < 0.05


def test_the_score_field_is_drawn_for_point_models_only():
    with pytest.raises(ModelKindError):
        run_score_field(ScoreSettings("digits-unet"))
