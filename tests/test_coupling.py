"""Minibatch optimal-transport coupling for flow matching: exact per chunk, a permutation of the
noise, refused where it does not apply, and straighter learned flows."""

import itertools
import math

import pytest
import torch

from explorer.training.config import TrainConfig
from explorer.training.coupling import ot_pairing


def pairing_cost(x0, eps):
    return (x0 - eps).pow(2).sum(1).sum().item()


def test_ot_pairing_is_the_least_cost_permutation():
    """Against brute force over all 720 permutations of six noise draws."""
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 2, generator=gen) + 2.0, torch.randn(6, 2, generator=gen)
    paired = ot_pairing(x0, eps)
    best = min(pairing_cost(x0, eps[list(p)]) for p in itertools.permutations(range(6)))
    assert pairing_cost(x0, paired) == pytest.approx(best, rel=1e-6)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, eps.tolist())), "the same draws, reordered"
    assert pairing_cost(x0, paired) < pairing_cost(x0, eps)


def test_ot_pairing_assigns_each_chunk_on_its_own():
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(8, 1, 2, 2, generator=gen), torch.randn(8, 1, 2, 2, generator=gen)  # image-shaped rows
    paired = ot_pairing(x0, eps, chunk=4)
    for rows in (slice(0, 4), slice(4, 8)):
        chunk_best = min(pairing_cost(x0[rows].flatten(1), eps[rows][list(p)].flatten(1))
                         for p in itertools.permutations(range(4)))  # fmt: skip
        assert pairing_cost(x0[rows].flatten(1), paired[rows].flatten(1)) == pytest.approx(chunk_best, rel=1e-6)
        assert sorted(map(tuple, paired[rows].flatten(1).tolist())) == sorted(map(tuple, eps[rows].flatten(1).tolist()))
    with pytest.raises(ValueError, match="pair equal batches"):
        ot_pairing(x0, eps[:4])


@pytest.mark.parametrize("change, message", [
    ({"coupling": "sinkhorn"}, "unknown coupling"),
    ({"schedule": "linear", "prediction": "eps"}, "an OT coupling pairs noise with data for rectified flow"),
    ({"reflow": "spiral-flow"}, "without --reflow"),
])  # fmt: skip
def test_an_ot_coupling_is_refused_where_it_does_not_apply(change, message):
    config = dict(dataset="spiral", schedule="flow", prediction="flow", coupling="ot")
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**config, **change}).validated()


def test_training_with_an_ot_coupling_pairs_each_batch(tmp_path):
    from explorer.training.trainer import Trainer

    small = dict(dataset="two_moons", schedule="flow", prediction="flow", T=50, batch=64, width=16, depth=1, steps=3)
    trainer = Trainer(TrainConfig(**small, coupling="ot"), tmp_path / "ot", device="cpu")
    objective = trainer.objective
    idx = torch.arange(64)
    x0 = objective.x_data[idx]
    eps = objective.noise_for(x0, idx, torch.Generator().manual_seed(0))
    fresh = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(eps, ot_pairing(x0, fresh)), "the batch's own draws, paired by OT"
    assert math.isfinite(trainer.train_step())


def test_an_ot_pool_is_paired_chunk_by_chunk_once_and_trained_on(tmp_path):
    """--ot-pairs N --ot-chunk C: N draws of data and noise, each chunk of C rows paired exactly;
    the batches then read the pool's pairs (as reflow reads its teacher's)."""
    from explorer.training.coupling import ot_pool
    from explorer.training.trainer import Trainer

    x_data = torch.randn(40, 2, generator=torch.Generator().manual_seed(3)) + 3.0
    x0, eps = ot_pool(x_data, 12, 4, torch.Generator().manual_seed(4))
    assert x0.shape == eps.shape == (12, 2)
    assert all(any(torch.equal(row, d) for d in x_data) for row in x0), "the pool's data are training points"
    for rows in (slice(0, 4), slice(4, 8), slice(8, 12)):
        best = min(pairing_cost(x0[rows], eps[rows][list(p)]) for p in itertools.permutations(range(4)))
        assert pairing_cost(x0[rows], eps[rows]) == pytest.approx(best, rel=1e-6)

    small = dict(dataset="two_moons", schedule="flow", prediction="flow", T=50, batch=16, width=16, depth=1, steps=2)
    trainer = Trainer(TrainConfig(**small, coupling="ot", ot_chunk=32, ot_pairs=96), tmp_path / "pool", device="cpu")
    objective = trainer.objective
    assert objective.x_data.shape == objective.noise.shape == (96, 2)
    idx = torch.tensor([0, 5, 95])
    assert torch.equal(objective.noise_for(objective.x_data[idx], idx, torch.Generator()), objective.noise[idx])
    assert math.isfinite(trainer.train_step())


@pytest.mark.parametrize("change, message", [
    ({"coupling": "independent", "ot_pairs": 100}, "add --coupling ot"),
    ({"ot_chunk": 1}, "OT chunk must be between 2 and 2048"),
    ({"ot_pairs": 2_000_000}, "OT pairs must be between 0 and"),
])  # fmt: skip
def test_ot_pool_settings_are_checked(change, message):
    config = dict(dataset="spiral", schedule="flow", prediction="flow", coupling="ot")
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**config, **change}).validated()
