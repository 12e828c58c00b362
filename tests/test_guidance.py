"""Class-conditional models and classifier-free guidance: the arithmetic, the null branch,
the equivalence across prediction types, and a trained toy model's precision rising with w."""

import numpy as np
import pytest
import torch

from explorer.core.guidance import Guided
from explorer.core.parametrization import predict_x0_eps
from explorer.core.schedules import make_schedule
from explorer.models.networks import MLPConfig, TimeMLP, UNet, UNetConfig


def conditional_mlp(seed=0):
    torch.manual_seed(seed)
    model = TimeMLP(MLPConfig(width=16, depth=1, num_classes=3))
    for weights in model.parameters():  # zero-initialised parts would hide the label's effect
        torch.nn.init.normal_(weights, std=0.3)
    return model.eval()


def test_guidance_is_the_extrapolation_of_eq_6_by_hand():
    model = conditional_mlp()
    x, t = torch.randn(5, 2), torch.tensor([3, 50, 100, 7, 999])
    cond = model(x, t, torch.full((5,), 2))
    uncond = model(x, t, torch.full((5,), 3))  # index num_classes is the null class
    for w in (0.0, 1.0, 2.5, 8.0):
        expected = uncond + w * (cond - uncond)
        torch.testing.assert_close(Guided(model, 2, w)(x, t), expected, rtol=1e-5, atol=1e-6)
    shared = torch.tensor(10)  # one t for the whole batch (the samplers' case)
    cond, uncond = model(x, shared, torch.full((5,), 2)), model(x, shared, torch.full((5,), 3))
    torch.testing.assert_close(Guided(model, 2, 4.0)(x, shared), uncond + 4.0 * (cond - uncond), rtol=1e-5, atol=1e-6)


def test_a_dropped_label_is_the_unconditional_branch_and_w0_ignores_the_label():
    model = conditional_mlp()
    x, t = torch.randn(4, 2), torch.tensor(20)
    null = model(x, t, torch.full((4,), 3))
    torch.testing.assert_close(model(x, t), null, rtol=0, atol=0)  # no label = the null class
    for label in range(3):
        torch.testing.assert_close(Guided(model, label, 0.0)(x, t), null, rtol=0, atol=0)
    assert not torch.allclose(model(x, t, torch.full((4,), 0)), model(x, t, torch.full((4,), 1)))
    unet = UNet(UNetConfig(base=8, mults=(1, 2), blocks=1, num_classes=10)).eval()
    images = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(unet(images, t), unet(images, t, torch.full((2,), 10)), rtol=0, atol=0)


def test_guiding_eps_or_x0_or_v_gives_the_same_update():
    """Each output is affine in eps at fixed x_t, so guided x0 = x0 of guided eps."""
    schedule = make_schedule("linear", 1000)
    eps_model = conditional_mlp(1)
    x, t = torch.randn(6, 2), torch.full((6,), 400)

    class AsX0(torch.nn.Module):  # the same network read as an x0-predictor
        def __init__(self):
            super().__init__()
            self.config = eps_model.config

        def forward(self, x, t, y=None):
            return predict_x0_eps(schedule, eps_model(x, t, y), x, t, "eps")[0]

    guided_eps = Guided(eps_model, 1, 3.0)(x, t)
    guided_x0 = Guided(AsX0(), 1, 3.0)(x, t)
    x0_of_guided_eps = predict_x0_eps(schedule, guided_eps, x, t, "eps")[0]
    torch.testing.assert_close(guided_x0, x0_of_guided_eps, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "label, scale, message",
    [(3, 1.0, "class label must be between 0 and 2"), (0, -1.0, "guidance scale"), (0, float("nan"), "guidance")],
)
def test_bad_labels_and_scales_are_refused(label, scale, message):
    with pytest.raises(ValueError, match=message):
        Guided(conditional_mlp(), label, scale)
    with pytest.raises(ValueError, match="not class-conditional"):
        Guided(TimeMLP(MLPConfig(width=8, depth=1)), 0, 1.0)


@pytest.fixture(scope="module")
def toy_conditional(tmp_path_factory):
    from explorer.training.config import TrainConfig
    from explorer.training.trainer import Trainer

    config = TrainConfig(dataset="patterns", conditional=True, width=64, depth=2, steps=1500, batch=512, T=100,
                         n_data=4000, lr=3e-3, prediction="v", checkpoint_every=1500)  # fmt: skip
    trainer = Trainer(config, tmp_path_factory.mktemp("cond") / "m", device="cpu")
    for _ in range(config.steps):
        trainer.train_step()
    return trainer


def test_a_trained_toy_models_precision_rises_with_guidance(toy_conditional):
    from explorer.evaluation.classes import class_readings
    from explorer.sampling.gaussian import last
    from explorer.sampling.registry import SamplerSettings, sample_steps

    trainer = toy_conditional
    sampler = SamplerSettings("ddim", 20, 0.0, "trailing", clip_x0=1.5).validated(100)
    precision = {}
    for w in (0.0, 1.0, 2.0):
        gen = torch.Generator().manual_seed(0)
        x_T = torch.randn(800, 2, generator=gen)
        model = Guided(trainer.ema, 2, w)  # class 2: the circle
        x = last(sample_steps(sampler, model, trainer.schedule, x_T, gen, "v")).x
        precision[w] = class_readings(x, 2, "patterns")[0]
    assert precision[0.0] < 0.45  # unguided: about a quarter of the samples are circle points
    assert precision[1.0] > precision[0.0] + 0.3
    assert precision[2.0] > precision[0.0] + 0.3, precision
    # (beyond w = 2 precision falls again for these thin sets: benchmarks/guidance.py and README)


def test_the_class_pickers_values_become_a_conditioning():
    from explorer.core.guidance import Conditioning, conditioning

    assert conditioning("any", 2) == Conditioning(None, 2.0)
    assert conditioning("", None) == conditioning(None, 1) == Conditioning(None, 1.0)
    assert conditioning("2", "3.5") == Conditioning(2, 3.5)
    assert Conditioning(1, 2.0).caption(("spiral", "moons")) == "class moons, w = 2"
    bad = [("spiral", 1, "class label must be a whole number"), (0, 21, "guidance scale"),
           (0, float("nan"), "guidance scale"), (-1, 1, "class label must be between")]  # fmt: skip
    for label, scale, message in bad:
        with pytest.raises(ValueError, match=message):
            conditioning(label, scale)


def test_reverse_and_comparison_runs_steer_the_shipped_conditional_model():
    from explorer.core.guidance import Conditioning
    from explorer.runs.compare import CompareSettings, run_comparison
    from explorer.runs.reverse import ReverseSettings, run_reverse
    from explorer.sampling.registry import SamplerSettings

    plain = run_reverse(ReverseSettings("patterns-cond", n=400))
    w0 = run_reverse(ReverseSettings("patterns-cond", n=400, cond=Conditioning(2, 0.0)))
    np.testing.assert_array_equal(plain.xs, w0.xs)  # w = 0 ignores the label
    assert plain.precision is None and w0.precision < 0.45
    circle = run_reverse(ReverseSettings("patterns-cond", n=400, cond=Conditioning(2, 1.0)))
    assert circle.precision > 0.85 and circle.classes[2] == "circle"
    # the ideal reference of a class run is the ideal denoiser of that class: it lands on the circle
    radii = np.linalg.norm(circle.ideal_x0s[-1], axis=1)
    assert np.abs(radii - np.median(radii)).max() < 0.05

    configs = (SamplerSettings("ddim", 50, 0.0, "trailing", clip_x0=1.5), SamplerSettings("dpmpp2m", 10, 0.0, "logsnr"))
    steered = run_comparison(CompareSettings("patterns-cond", configs, n=400, cond=Conditioning(2, 1.0)))
    assert all(run.precision > 0.85 for run in steered.runs), [run.precision for run in steered.runs]
    with pytest.raises(ValueError, match="not class-conditional"):
        run_comparison(CompareSettings("spiral-mlp", configs, n=100, cond=Conditioning(0, 1.0)))
    with pytest.raises(ValueError, match="ideal denoiser of a class"):
        run_reverse(ReverseSettings("patterns-cond", n=100, ideal=True, cond=Conditioning(0, 3.0)))


def test_guided_quality_curves_are_cached_apart_from_unguided_ones():
    from explorer.core.guidance import Conditioning
    from explorer.runs.curves import curve_cache_path
    from explorer.sampling.registry import SamplerSettings

    config = SamplerSettings("ddim", None, 0.0, "trailing")
    conds = (Conditioning(), Conditioning(None, 4.0), Conditioning(0, 1.0), Conditioning(0, 2.0))
    paths = {curve_cache_path("patterns-cond", config, [5, 10], 100, c) for c in conds}
    assert len(paths) == 3  # the scale matters only with a class
