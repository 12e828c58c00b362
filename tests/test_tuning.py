"""Tuned timesteps: the coordinate search, the 'tuned' spacing, and a model's stored tuned.json."""

import json

import pytest
import torch

from explorer.core.schedules import make_schedule
from explorer.runs import tuned as tuned_runs
from explorer.sampling.registry import SamplerSettings, sample_steps
from explorer.sampling.spacings import timesteps
from explorer.sampling.tuning import check_tuned, shifts, tune_timesteps
from explorer.store.registry import load_model
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer
from tests.oracles import exact_eps, x_T
from tests.test_solvers import exact_ode_at_index_0


def test_the_search_reaches_a_reachable_optimum_and_keeps_the_list_valid():
    """A separable score with its minimum at a valid list: coordinate descent lands on it exactly,
    starting from the first timestep fixed at T - 1, and every candidate it scores is a valid list."""
    T, target = 1000, [999, 640, 301, 77, 3]
    scored = []

    def score(seq):
        scored.append(check_tuned(seq, T))
        return sum((a - b) ** 2 for a, b in zip(seq, target, strict=True))

    found = tune_timesteps(score, [999, 800, 600, 400, 200], T, max_sweeps=200)
    assert found.timesteps == target and found.score == 0 and found.start_score > 0
    assert found.evaluations == len(scored) and all(seq[0] == T - 1 for seq in scored)


def test_the_search_stops_when_a_pass_improves_nothing():
    calls = []
    found = tune_timesteps(lambda seq: calls.append(seq) or 1.0, [99, 50, 0], 100)
    assert found.sweeps == 1 and found.timesteps == [99, 50, 0] and found.score == found.start_score == 1.0
    assert shifts(100) == [-4, -2, -1, 4, 2, 1] and len(calls) == found.evaluations
    assert found.evaluations == 1 + 6 + 3  # the start; every shift of t = 50; the upward shifts of t = 0


@pytest.mark.parametrize("bad", [[998, 500, 0], [999, 500, 500], [999, 10, -1], [999, 10, 20], []])
def test_invalid_tuned_lists_are_refused(bad):
    with pytest.raises(ValueError, match="tuned timesteps"):
        check_tuned(bad, 1000)


def test_tuned_timesteps_lower_unipcs_error_against_the_exact_ode_on_gaussian_data():
    """With the exact denoiser of Gaussian data, the error of UniPC at 4 steps against the ODE's exact
    solution falls when its timesteps are tuned on one x_T, and falls as much on another x_T."""
    schedule = make_schedule("linear", 1000)
    model = exact_eps(schedule)

    def error(seq, xT):
        seq = [*seq[:-1], 0] if seq[-1] != 0 else seq  # compare at index 0, where the exact solution is known
        settings = SamplerSettings("unipc", len(seq), spacing="tuned", tuned=(tuple(seq),))
        x = next(s.x for s in sample_steps(settings, model, schedule, xT, torch.Generator()) if s.t_prev == 0)
        return (x - exact_ode_at_index_0(schedule, xT)).norm(dim=1).mean().item()

    start = timesteps(1000, 5, "logsnr", schedule)
    found = tune_timesteps(lambda seq: error(seq, x_T(256, 0)), start, 1000)
    held_out = x_T(256, 1)
    assert found.score < 0.5 * found.start_score
    assert error(found.timesteps, held_out) < 0.5 * error(start, held_out)


def test_the_tuned_spacing_visits_its_list_and_says_which_step_counts_it_has():
    schedule = make_schedule("linear", 100)
    settings = SamplerSettings("unipc", 3, spacing="tuned", tuned=((99, 40, 5), (99, 70, 30, 2)))
    assert settings.validated(100).visited(schedule) == [99, 40, 5] and settings.nfe(schedule) == 3
    assert SamplerSettings("unipc", 4, spacing="tuned", tuned=settings.tuned).visited(schedule) == [99, 70, 30, 2]
    with pytest.raises(ValueError, match="exist for 3, 4 steps of UniPC on this model, not for 5"):
        SamplerSettings("unipc", 5, spacing="tuned", tuned=settings.tuned).visited(schedule)
    with pytest.raises(ValueError, match="needs the model's tuned timesteps"):
        SamplerSettings("unipc", 3, spacing="tuned").validated(100)
    with pytest.raises(ValueError, match="must start at t = T - 1"):
        SamplerSettings("unipc", 2, spacing="tuned", tuned=((50, 0),)).validated(100)
    with pytest.raises(ValueError, match="exist for 3, 4 steps of UniPC on this model, not for 6"):
        SamplerSettings("unipc", 6, spacing="tuned", tuned=settings.tuned).validated(100)


@pytest.fixture(scope="module")
def small_model():
    from explorer.config import user_models_dir

    config = TrainConfig(dataset="spiral", T=100, steps=200, batch=256, width=64, depth=2, n_data=2000)
    trainer = Trainer(config, user_models_dir() / "tune-small", device="cpu")
    for _ in range(config.steps):
        trainer.train_step()
    trainer.save()
    return "tune-small"


def test_tune_searches_from_the_samplers_usual_spacing_and_scores_held_out_seeds(small_model, monkeypatch):
    monkeypatch.setattr(tuned_runs, "HELD_OUT_POINTS", 400)
    loaded, schedule = load_model(small_model)
    record = tuned_runs.tune_sampler(loaded, "unipc", 4, samples=200)
    assert record["start"] == "logsnr" and record["start timesteps"] == timesteps(100, 4, "logsnr", schedule)
    assert record["score"] <= record["start score"] and check_tuned(record["timesteps"], 100)
    assert record["evaluations"] > 1 and record["held-out score"] > 0 and record["held-out start score"] > 0
    with pytest.raises(ValueError, match="draws noise on the way"):
        tuned_runs.tune_sampler(loaded, "ddpm", 4)


def test_tune_keeps_only_what_scores_better_on_held_out_seeds_and_the_tab_runs_it(small_model, monkeypatch):
    """tuned.json holds a search's timesteps with the weights' hash when they beat the starting spacing
    on the held-out seeds, and records them under "left out" when they do not; a row with the tuned
    spacing then visits them, and its curve's ladder is the tuned step counts."""
    from explorer.runs.compare import default_configs, row_settings, visited_timesteps
    from explorer.runs.curves import curve_key

    found = {3: ([99, 60, 9], 0.10, 0.12), 4: ([99, 70, 20, 1], 0.13, 0.12)}  # (timesteps, held-out, its start)

    def search(loaded, sampler, steps, samples, progress):
        seq, held, start = found[steps]
        return {"timesteps": seq, "held-out score": held, "held-out start score": start}

    monkeypatch.setattr(tuned_runs, "tune_sampler", search)
    loaded, _ = load_model(small_model)
    with pytest.raises(ValueError, match="has no tuned timesteps for UniPC"):
        row_settings(small_model, "unipc", 3, "tuned", None, 1.5)
    path = tuned_runs.tune_model(loaded, "unipc", [3, 4], "python -m explorer tune --model tune-small")
    stored = json.loads(path.read_text())
    assert stored["weights"] == loaded.weights and stored["made by"]["unipc 4"].endswith("tune-small")
    assert list(stored["tuned"]["unipc"]) == ["3"] and list(stored["left out"]) == ["unipc 4"]
    row = row_settings(small_model, "unipc", 3, "tuned", None, 1.5)
    assert visited_timesteps(row, small_model) == [100, 61, 10] and curve_key(small_model, row)[2] == [3]
    assert default_configs(small_model)[3].spacing == "logsnr"  # tuned at 3 steps, not the row's 10
    found[3] = ([99, 50, 5], 0.13, 0.12)  # a later search that does not generalise takes the old one's place
    stored = json.loads(tuned_runs.tune_model(loaded, "unipc", [3], "again").read_text())
    assert stored["tuned"]["unipc"] == {} and sorted(stored["left out"]) == ["unipc 3", "unipc 4"]
    found[3] = ([99, 60, 9], 0.10, 0.12)
    tuned_runs.tune_model(loaded, "unipc", [3], "again")
    stored = json.loads(path.read_text())
    stored["tuned"]["unipc"]["5"] = {"timesteps": [98, 40, 3, 2, 1]}  # not from t = T - 1: skipped
    stored["tuned"]["ddim"] = "not a table"
    path.write_text(json.dumps(stored))
    assert tuned_runs.tuned_table(loaded, "unipc") == ((99, 60, 9),) and tuned_runs.tuned_table(loaded, "ddim") == ()
    with pytest.raises(ValueError, match="draws noise on the way: only deterministic samplers"):
        row_settings(small_model, "ddpm", 3, "tuned", None, 1.5)
    stored["weights"] = "0" * 64  # tuned for other weights: ignored
    path.write_text(json.dumps(stored))
    assert tuned_runs.tuned_table(loaded, "unipc") == ()


def test_every_shipped_tuned_file_matches_its_weights_and_beats_its_start_on_held_out_seeds():
    """What ships in a checkpoint's tuned.json was tuned for those weights, on a seed apart from the
    held-out ones, and scored better there than the spacing it started from; what did not is named
    under "left out". Every spiral model has UniPC at 5 and 10 steps (the tab's default row)."""
    from explorer.config import SHIPPED_DIR

    files = sorted(SHIPPED_DIR.glob(f"*/{tuned_runs.TUNED_FILE}"))
    assert {f.parent.name for f in files} >= {"spiral-mlp", "spiral-ve", "spiral-flow", "spiral-otflow"}
    for path in files:
        loaded, schedule = load_model(path.parent.name)
        stored = json.loads(path.read_text())
        assert stored["weights"] == loaded.weights and stored["seed"] not in stored["held-out seeds"], path
        for sampler, entries in stored["tuned"].items():
            for steps, record in entries.items():
                assert len(record["timesteps"]) == int(steps) and record["start timesteps"][0] == schedule.T - 1
                assert check_tuned(record["timesteps"], schedule.T) == record["timesteps"]
                assert record["held-out score"] < record["held-out start score"], (path, sampler, steps)
                assert f"{sampler} {steps}" in stored["made by"]
        for key, record in stored["left out"].items():
            assert record["held-out score"] >= record["held-out start score"], (path, key)
        if path.parent.name.startswith("spiral"):
            assert sorted(stored["tuned"]["unipc"], key=int) == ["5", "10"], path
