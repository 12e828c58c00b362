"""The trainer: the loss falls, resume is exact, cancel and NaN keep a loadable checkpoint."""

import math

import pytest
import torch

from explorer.store.checkpoint import load_checkpoint, read_config
from explorer.training.config import TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer, learning_rate

SMALL = TrainConfig(width=32, depth=2, steps=300, batch=256, n_data=2000, checkpoint_every=100, T=200, lr=2e-3,
                    prediction="eps")  # fmt: skip


def test_the_default_recipe_trains_the_spiral_within_the_issues_target(tmp_path):
    """Settings left unset take the kind's recipe (benchmarks/train.py chose it: a width-64 MLP, v-prediction,
    lr 6e-3, 3,500 steps; 14 s on 2 CPU cores there); its EMA model's DDPM-1000 samples lie within 0.005 of
    the spiral (measured 0.0022); flow, VE and images keep their own targets."""
    from explorer.evaluation.metrics import mean_spiral_distance
    from explorer.training.trainer import ema_samples

    config = TrainConfig(dataset="spiral").validated()
    assert (config.width, config.depth, config.prediction, config.lr, config.steps) == (64, 3, "v", 6e-3, 3500)
    assert TrainConfig(dataset="spiral", schedule="flow").validated().prediction == "flow"
    assert TrainConfig(dataset="spiral", schedule="ve").validated().prediction == "eps"
    assert TrainConfig(dataset="digits").validated().prediction == "eps"
    trainer = Trainer(TrainConfig(dataset="spiral"), tmp_path / "recipe", device="cpu")
    while trainer.step < trainer.config.steps:
        trainer.train_step()
    assert mean_spiral_distance(ema_samples(trainer, 2000, 1)) < 0.005


def test_a_few_hundred_steps_lower_the_loss(tmp_path):
    trainer = Trainer(SMALL, tmp_path / "m", device="cpu")
    losses = [trainer.train_step() for _ in range(300)]
    first, final = sum(losses[:30]) / 30, sum(losses[-30:]) / 30
    assert final < 0.75 * first, (first, final)


def test_learning_rate_schedule():
    c = TrainConfig(lr=1e-3, warmup=10, steps=110)
    assert learning_rate(c, 0) == pytest.approx(1e-4)
    assert learning_rate(c, 9) == pytest.approx(1e-3)
    assert learning_rate(c, 60) == pytest.approx(0.5e-3)
    assert learning_rate(c, 110) == pytest.approx(0.0, abs=1e-12)


def test_resume_continues_exactly(tmp_path):
    straight = Trainer(SMALL, tmp_path / "a", device="cpu")
    for _ in range(40):
        straight.train_step()
    first = Trainer(SMALL, tmp_path / "b", device="cpu")
    for _ in range(20):
        first.train_step()
    first.save()
    resumed = Trainer(SMALL, tmp_path / "b", device="cpu")
    resumed.resume()
    assert resumed.step == 20
    for _ in range(20):
        resumed.train_step()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_resume_refuses_other_settings(tmp_path):
    trainer = Trainer(SMALL, tmp_path / "m", device="cpu")
    trainer.train_step()
    trainer.save()
    other = Trainer(TrainConfig(**{**SMALL.__dict__, "lr": 1e-4}), tmp_path / "m", device="cpu")
    with pytest.raises(ValueError, match="other settings"):
        other.resume()


def test_cancel_leaves_a_loadable_checkpoint(tmp_path):
    job = TrainingJob(Trainer(TrainConfig(**{**SMALL.__dict__, "steps": 100_000}), tmp_path / "c", device="cpu"))
    job.start()
    for _ in range(200):
        if job.snapshot().step >= 5:
            break
        job.join(0.05)
    job.cancel()
    job.join(30)
    snap = job.snapshot()
    assert snap.status == "cancelled" and snap.step >= 5 and snap.losses
    loaded = load_checkpoint(tmp_path / "c")
    assert loaded.info.steps == snap.step


def test_the_final_checkpoint_is_saved_before_the_evaluation(tmp_path):
    """A run that dies while it is being evaluated keeps every step it trained (the evaluation is
    the slow part; a kill there used to lose up to checkpoint_every steps)."""
    config = TrainConfig(**{**SMALL.__dict__, "steps": 30, "checkpoint_every": 1000})

    def dies(trainer):
        raise RuntimeError("killed during the evaluation")

    job = TrainingJob(Trainer(config, tmp_path / "e", device="cpu"), evaluate=dies)
    job.start()
    job.join(60)
    assert job.snapshot().status == "failed"
    assert read_config(tmp_path / "e")["steps"] == 30 and read_config(tmp_path / "e")["metrics"] == {}


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = Trainer(SMALL, tmp_path / "n", device="cpu")
    real_loss = trainer.loss
    trainer.loss = lambda: real_loss() * (math.nan if trainer.step >= 150 else 1.0)
    job = TrainingJob(trainer).start()
    job.join(60)
    snap = job.snapshot()
    assert snap.status == "failed"
    assert "nan at step 151" in snap.message and "step 100" in snap.message
    assert read_config(tmp_path / "n")["steps"] == 100
    load_checkpoint(tmp_path / "n")


def test_bad_settings_are_refused(tmp_path):
    cases = [
        ({"steps": 0}, "steps"),
        ({"lr": float("nan")}, "learning rate"),
        ({"dataset": "upload"}, "not supported"),
        ({"dataset": "digits", "model": "mlp"}, "train a 'unet' model on it"),
        ({"prediction": "score"}, "prediction"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            Trainer(TrainConfig(**{**SMALL.__dict__, **change}), tmp_path / "x", device="cpu")


DISCRETE = TrainConfig(dataset="digits", transition="absorbing", width=8, depth=1, steps=40, batch=32, T=50,
                       checkpoint_every=20)  # fmt: skip


def test_a_discrete_run_saves_a_d3pm_checkpoint_that_resumes_exactly(tmp_path):
    from explorer.models.d3pm import PREDICTION
    from explorer.store.registry import is_discrete

    straight = Trainer(DISCRETE, tmp_path / "a", device="cpu")
    losses = [straight.train_step() for _ in range(10)]
    assert all(math.isfinite(v) and v > 0 for v in losses)
    first = Trainer(DISCRETE, tmp_path / "b", device="cpu")
    for _ in range(5):
        first.train_step()
    first.save()
    config = read_config(tmp_path / "b")
    assert config["discrete"] == {"transition": "absorbing", "K": 17, "states": 18, "hybrid_lambda": 0.001}
    assert config["prediction"] == PREDICTION and config["schedule"]["name"] == "absorbing"
    assert config["hyper"]["channels"] == 18 and config["hyper"]["out_channels"] == 17
    assert is_discrete(tmp_path / "b") and not is_discrete(tmp_path / "a")  # "a" was never saved
    resumed = Trainer(DISCRETE, tmp_path / "b", device="cpu")
    resumed.resume()
    for _ in range(5):
        resumed.train_step()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    model = load_checkpoint(tmp_path / "b").model
    assert model(torch.zeros(2, 18, 8, 8), torch.tensor(3)).shape == (2, 17, 8, 8)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"transition": "rotate"}, "unknown transition"),
        ({"dataset": "spiral"}, "discrete models train on"),
        ({"hybrid_lambda": float("nan")}, "hybrid lambda"),
        ({"steps": 0}, "steps must be between"),
    ],
)
def test_bad_discrete_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**DISCRETE.__dict__, **change}).validated()


def test_the_preview_shows_the_last_step_of_a_short_run(tmp_path):
    """A run shorter than the preview interval still ends with the finished model's samples."""
    import threading

    from explorer.training.trainer import Progress, run_training

    config = TrainConfig(**{**SMALL.__dict__, "steps": 12, "checkpoint_every": 1000})
    progress = run_training(Trainer(config, tmp_path / "p", device="cpu"), Progress(), threading.Event(),
                            threading.Lock(), preview_every=500)  # fmt: skip
    assert progress.status == "done" and progress.preview_step == 12 and progress.preview is not None
