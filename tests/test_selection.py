"""Models that generalise: the held-out digits kept out of training, early stopping chosen by FD on
them, the digits' class recall, and image scores drawn in chunks."""

import pytest
import torch

from explorer import data
from explorer.training.config import TrainConfig, training_data
from explorer.training.trainer import Progress, Trainer, run_training

TINY_DIGITS = TrainConfig(dataset="digits", schedule="cosine", T=20, width=8, depth=1, steps=30, batch=8,
                          checkpoint_every=10, warmup=5, holdout=True, keep_best=True)  # fmt: skip


def test_the_split_is_disjoint_and_holdout_trains_on_the_1500_only():
    train, held_out = data.split_indices()
    assert len(train) == 1500 and len(held_out) == 297
    assert set(train.tolist()).isdisjoint(held_out.tolist())
    assert len(set(train.tolist()) | set(held_out.tolist())) == 1797
    images = data.digits()[0]
    torch.testing.assert_close(training_data(TINY_DIGITS), images[train], rtol=0, atol=0)
    assert len(training_data(TrainConfig(dataset="digits"))) == 1797  # without holdout: every digit, as before
    d3pm = Trainer(TrainConfig(**{**TINY_DIGITS.__dict__, "transition": "absorbing", "keep_best": False}), "/x", "cpu")
    assert d3pm.objective.x_data.shape == (1500, 1, 8, 8)


@pytest.mark.parametrize(
    "change, message",
    [({"dataset": "spiral", "keep_best": False}, "use --dataset digits"), ({"holdout": False}, "add --holdout")],
)
def test_holdout_and_keep_best_refuse_what_they_cannot_measure(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**TINY_DIGITS.__dict__, **change}).validated()


def test_keep_best_ships_the_checkpoint_with_the_lowest_held_out_fd(tmp_path, monkeypatch):
    """Scripted scores 5, 3, 4 at steps 10, 20, 30: the checkpoint ships step 20's EMA weights, records the
    trace, and the final evaluation sees those weights; a resumed trainer gets the trace, the best weights
    and the EMA it left off with (not the shipped ones)."""
    import threading

    import explorer.training.trainer as trainer_module
    from explorer.store.checkpoint import load_checkpoint, read_config

    scores, ema_at = iter([5.0, 3.0, 4.0]), {}

    def scripted(objective, model, seed):
        ema_at[len(ema_at) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return next(scores)

    monkeypatch.setattr(trainer_module, "held_out_fd", scripted)
    trainer = Trainer(TINY_DIGITS, tmp_path / "m", device="cpu")
    seen = {}

    def evaluate(t):
        seen.update({k: v.clone() for k, v in t.ema.state_dict().items()})
        return {}

    progress = run_training(trainer, Progress(), threading.Event(), threading.Lock(), evaluate)
    assert (
        "shipped the weights of step 20, whose samples were nearest the held-out digits (FD 3.00)" in progress.message
    )
    config = read_config(tmp_path / "m")
    assert config["selection"]["trace"] == [[10, 5.0], [20, 3.0], [30, 4.0]] and config["selection"]["kept_step"] == 20
    shipped = load_checkpoint(tmp_path / "m", "cpu").model.state_dict()
    for key, value in ema_at[2].items():
        torch.testing.assert_close(shipped[key], value, rtol=0, atol=0)
        torch.testing.assert_close(seen[key], value, rtol=0, atol=0)
    resumed = Trainer(TINY_DIGITS, tmp_path / "m", device="cpu")
    resumed.resume()
    assert resumed.selection.trace == [(10, 5.0), (20, 3.0), (30, 4.0)] and resumed.selection.best_step == 20
    assert resumed.selection.best_fd == 3.0


def test_held_out_fd_is_zero_on_the_held_out_digits_and_ranks_noise_far_behind_real_digits():
    from explorer.evaluation.digits import split
    from explorer.evaluation.sample_report import fd_to_held_out

    x_train, _, x_test, _ = split()
    assert fd_to_held_out(x_test) == pytest.approx(0.0, abs=1e-6)
    real = fd_to_held_out(x_train[:297])
    noise = fd_to_held_out(torch.rand(297, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert 0 < real < 20 and noise > 10 * real, (real, noise)
    with pytest.raises(ValueError, match="n = 297 or more"):
        fd_to_held_out(x_test[:100])


def test_class_recall_reads_a_collapsed_class_as_not_diverse():
    """64 real digits of a class cover most of it; 64 copies of one digit cover almost nothing (the
    pixel-spread ratio this replaces cannot tell grain from variety)."""
    from explorer.evaluation.classes import digit_class_recall
    from explorer.evaluation.digits import split

    x_train, y_train, x_test, y_test = split()
    varied = x_test[y_test == 3]
    assert len(varied) >= 20
    copies = x_train[y_train == 3][:1].repeat(64, 1, 1, 1)
    copies = copies + 0.01 * torch.randn(copies.shape, generator=torch.Generator().manual_seed(0))
    assert digit_class_recall(varied, 3) > 0.5
    assert digit_class_recall(copies, 3) < 0.05


def test_image_draws_come_in_chunks_whose_first_is_the_interactive_run():
    from explorer.runs.common import chunk_seed, draw_samples, trajectory
    from explorer.sampling.registry import SamplerSettings
    from explorer.store.registry import load_model

    loaded, schedule = load_model("digits-unet")
    sampler = SamplerSettings("ddim", 2, spacing="trailing")
    images, nfe = draw_samples(loaded, schedule, 70, 3, sampler)
    assert images.shape == (70, 1, 8, 8) and nfe == 2
    _, xs, _, _ = trajectory(loaded, schedule, 64, 3, sampler, {0})  # what the tabs draw for seed 3
    torch.testing.assert_close(images[:64], xs[-1], rtol=0, atol=0)
    _, xs, _, _ = trajectory(loaded, schedule, 6, 3, sampler, {0}, chunk=1)
    torch.testing.assert_close(images[64:], xs[-1], rtol=0, atol=0)
    # every image its own draw: torch's CPU generator keeps 32 bits of a seed, so chunk seeds must differ there
    assert len({tuple(x.flatten().tolist()) for x in draw_samples(loaded, schedule, 297, 0, sampler)[0]}) == 297
    seeds = {chunk_seed(s, k) % 2**32 for s in range(50) for k in range(5)}
    assert len(seeds) == 250 and all(chunk_seed(s, k) >= 2**31 for s in range(50) for k in range(1, 5))
