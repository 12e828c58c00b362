"""The checkpoints that ship in checkpoints/: each loads, and the spiral model is good."""

import torch

from explorer.checkpoints import SHIPPED_DIR, find_checkpoints, load_checkpoint
from explorer.metrics import mean_spiral_distance
from explorer.samplers import ddpm_steps, last
from explorer.schedules import make_schedule


def test_shipped_models_load_and_record_how_they_were_made():
    shipped = find_checkpoints([SHIPPED_DIR])
    assert len(shipped) >= 3 and any("spiral" in name for name in shipped)
    for folder in shipped.values():
        loaded = load_checkpoint(folder)
        assert loaded.config["command"].startswith("python -m explorer train")
        assert isinstance(loaded.config["seed"], int) and loaded.config["metrics"]


def test_shipped_spiral_samples_lie_on_the_spiral():
    loaded = load_checkpoint(find_checkpoints([SHIPPED_DIR])["spiral-mlp"])
    s = loaded.config["schedule"]
    schedule = make_schedule(s["name"], s["T"])
    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn(1000, 2, generator=gen)
    x = last(ddpm_steps(loaded.model, schedule, x_T, gen, loaded.config["prediction"])).x
    assert loaded.config["prediction"] == "v" and mean_spiral_distance(x) < 0.002  # pure noise scores 0.515


def test_the_ideal_denoiser_reproduces_training_points_whatever_the_model_predicts():
    """The Reverse tab's ideal denoiser predicts x0 itself, so it works beside a v-model (spiral-mlp) too."""
    from explorer.reverse import ReverseSettings, load_model, run_reverse, training_set

    run = run_reverse(ReverseSettings("spiral-mlp", n=200, seed=0, ideal=True))
    train = training_set(load_model("spiral-mlp")[0], 2000)
    nearest = torch.cdist(torch.from_numpy(run.xs[-1]).double(), train.double()).min(1).values
    assert float((nearest < 0.01).float().mean()) > 0.95 and float(nearest.median()) < 2e-3
