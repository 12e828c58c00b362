"""The command line: the contract's forward command, help, and one-line errors."""

import subprocess
import sys

import imageio.v3 as iio
import pytest
import torch

from explorer.cli.main import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_commands():
    result = run("--help")
    assert result.returncode == 0 and "forward" in result.stdout


def test_forward_writes_the_gif(tmp_path):
    out = tmp_path / "forward.gif"
    result = run("forward", "--dataset", "spiral", "--schedule", "cosine", "--T", "1000", "--frames", "12",
                 "--size", "160", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert iio.imread(out, index=None).shape == (12, 160, 160, 3)


def test_forward_digits_chain_in_process(tmp_path, capsys):
    out = tmp_path / "d.gif"
    assert main(["forward", "--dataset", "digits", "--mode", "chain", "--T", "50", "--frames", "5", "--size", "96",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "wrote" in capsys.readouterr().out
    assert iio.imread(out, index=None).shape == (5, 96, 96, 3)


def test_an_mp4_name_writes_a_video(tmp_path, capsys):
    import imageio_ffmpeg

    out = tmp_path / "d.mp4"
    assert main(["forward", "--dataset", "digits", "--T", "50", "--frames", "5", "--size", "95",
                 "--out", str(out)]) == 0  # fmt: skip
    meta = next(imageio_ffmpeg.read_frames(str(out)))
    assert meta["codec"] == "h264" and meta["size"] == (96, 96), "odd sides are padded to even ones"


@pytest.mark.parametrize(
    "args, message",
    [(["--T", "0"], "T must be between 2 and 4000"), (["--T", "10000000"], "T must be between"),
     (["--frames", "1"], "frames must be between"), (["--dataset", "upload"], "needs --image"),
     (["--dataset", "upload", "--image", "/etc/hostname"], "not an image"),
     (["--noise", "nan"], "noise must be a finite number")],
)  # fmt: skip
def test_bad_arguments_exit_with_one_line(args, message, tmp_path, capsys):
    assert main(["forward", "--out", str(tmp_path / "x.gif"), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_argparse_errors_are_one_line_no_traceback():
    result = run("forward", "--schedule", "wavy")
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr
    result = run("sample", "--model", "spiral-mlp", "--sampler", "nope")
    assert result.returncode == 2 and "invalid choice: 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_bench_unknown_name_is_one_line(capsys):
    assert main(["bench", "--only", "nope"]) == 1
    assert capsys.readouterr().err.strip().startswith("error: no benchmark named 'nope'")


def test_train_models_sample(tmp_path, monkeypatch, capsys):
    import numpy as np

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "models"))
    out = tmp_path / "models" / "tiny-spiral"
    assert main(["train", "--dataset", "spiral", "--steps", "30", "--width", "16", "--depth", "1", "--batch", "64",
                 "--T", "50", "--n-data", "500", "--eval-n", "200", "--out", str(out)]) == 0  # fmt: skip
    assert "spiral_distance_ddpm" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert any(line.startswith("tiny-spiral\tspiral") for line in capsys.readouterr().out.splitlines())
    samples, gif = tmp_path / "s.npy", tmp_path / "r.gif"
    assert main(["sample", "--model", "tiny-spiral", "--n", "300", "--seed", "1", "--out", str(samples),
                 "--gif", str(gif), "--frames", "6", "--size", "96"]) == 0  # fmt: skip
    x = np.load(samples)
    assert x.shape == (300, 2) and np.isfinite(x).all()
    assert iio.imread(gif, index=None).shape == (6, 96, 96, 3)
    again = tmp_path / "s2.npy"
    assert main(["sample", "--model", "tiny-spiral", "--n", "300", "--seed", "1", "--out", str(again)]) == 0
    assert np.array_equal(np.load(again), x), "a seed reproduces the same samples"


def test_train_a_ve_model_and_sample_it_by_predictor_corrector(tmp_path, monkeypatch, capsys):
    """train --schedule ve records sigma_max (the training set's largest pairwise distance unless given) and
    `sample --sampler pc` draws from N(0, sigma_max^2) with S + M (S - 1) model calls."""
    import json

    import numpy as np

    from explorer.core.schedules import ve_sigma_max
    from explorer.training.config import TrainConfig, labelled_training_data

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "models"))
    out = tmp_path / "models" / "tiny-ve"
    assert main(["train", "--dataset", "spiral", "--schedule", "ve", "--steps", "30", "--width", "16", "--depth", "1",
                 "--batch", "64", "--T", "50", "--n-data", "500", "--eval-n", "0", "--out", str(out)]) == 0  # fmt: skip
    recorded = json.loads((out / "config.json").read_text())["schedule"]["sigma_max"]
    x, _ = labelled_training_data(TrainConfig(n_data=500))
    assert recorded == ve_sigma_max(x) and 1.5 < recorded < 2.9
    capsys.readouterr()
    assert main(["models"]) == 0
    assert f"ve(sigma_max={recorded:.3g})" in capsys.readouterr().out
    samples = tmp_path / "ve.npy"
    assert main(["sample", "--model", "tiny-ve", "--sampler", "pc", "--steps", "10", "--corrector-steps", "2",
                 "--n", "100", "--out", str(samples)]) == 0  # fmt: skip
    assert "(28 model evaluations)" in capsys.readouterr().out and np.isfinite(np.load(samples)).all()


REFUSED_VE = [(["--schedule", "linear", "--sigma-max", "3"], "use --schedule ve"),
              (["--schedule", "ve", "--prediction", "v"], "v-prediction is defined")]  # fmt: skip


@pytest.mark.parametrize("extra, message", REFUSED_VE)
def test_ve_settings_that_do_not_fit_are_refused_in_one_line(tmp_path, capsys, extra, message):
    code = main(["train", "--dataset", "spiral", "--steps", "5", "--out", str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err


def test_sample_takes_a_checkpoint_folder_outside_the_registry(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "elsewhere" / "spiral-mlp"  # shadows the shipped name, but only for this command
    assert main(["train", "--dataset", "spiral", "--steps", "20", "--width", "16", "--depth", "1", "--batch", "64",
                 "--T", "50", "--n-data", "500", "--eval-n", "0", "--out", str(out)]) == 0  # fmt: skip
    by_path, by_name = tmp_path / "p.npy", tmp_path / "n.npy"
    assert main(["sample", "--model", str(out), "--n", "100", "--seed", "2", "--out", str(by_path)]) == 0
    assert "(100, 2) (50 model evaluations" in capsys.readouterr().out, "the folder's T = 50 model was sampled"
    assert main(["sample", "--model", "spiral-mlp", "--n", "100", "--seed", "2", "--out", str(by_name)]) == 0
    assert "(100, 2) (1000 model evaluations" in capsys.readouterr().out, "the name is still the shipped model"
    assert not np.array_equal(np.load(by_path), np.load(by_name))


@pytest.mark.parametrize(
    "args, message",
    [(["--model", "../../etc/passwd"], "no checkpoint at ../../etc/passwd"),
     (["--model", "/etc/passwd"], "no checkpoint at /etc/passwd"), (["--model", "a b"], "bad model name"),
     (["--model", "nosuchmodel"], "no model named 'nosuchmodel'"),
     (["--model", "spiral-mlp", "--n", "-5"], "number of samples must be"),
     (["--model", "spiral-mlp", "--n", "1000000000"], "number of samples must be between 1 and 10000"),
     (["--model", "spiral-mlp", "--steps", "99999999"], "steps must be between 1 and 1000"),
     (["--model", "spiral-mlp", "--sampler", "ddim", "--steps", "-3"], "steps must be between 1 and 1000"),
     (["--model", "spiral-mlp", "--sampler", "ddim", "--eta", "nan"], "eta must be a finite number"),
     (["--model", "patterns-cond", "--label", "0", "--guidance", "nan"], "guidance scale must be a finite number"),
     (["--model", "spiral-mlp", "--label", "0"], "not class-conditional")],
)  # fmt: skip
def test_sample_bad_arguments(args, message, capsys):
    assert main(["sample", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_sample_with_ddim(tmp_path, capsys):
    import numpy as np

    from explorer.evaluation.metrics import mean_spiral_distance

    out, gif = tmp_path / "ddim.npy", tmp_path / "ddim.gif"
    args = ["--sampler", "ddim", "--steps", "50", "--eta", "0", "--n", "1000", "--out", str(out)]
    assert main(["sample", "--model", "spiral-mlp", *args, "--gif", str(gif), "--frames", "10", "--size", "96"]) == 0
    assert "(50 model evaluations)" in capsys.readouterr().out
    assert mean_spiral_distance(torch.from_numpy(np.load(out))) < 0.03
    assert iio.imread(gif, index=None).shape[0] == 10
    assert main(["sample", "--model", "spiral-mlp", "--sampler", "ddim", "--eta", "nan", "--out", str(out)]) == 1
    assert "eta must be a finite number between 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "sampler, steps, nfe", [("dpmpp2m", 15, 15), ("heun", 10, 19), ("em", 30, 30), ("euler", 20, 20)]
)
def test_sample_with_each_solver(tmp_path, capsys, sampler, steps, nfe):
    import numpy as np

    from explorer.evaluation.metrics import mean_spiral_distance

    out = tmp_path / f"{sampler}.npy"
    args = ["sample", "--model", "spiral-mlp", "--sampler", sampler, "--steps", str(steps), "--n", "500",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert f"({nfe} model evaluations)" in capsys.readouterr().out
    assert mean_spiral_distance(torch.from_numpy(np.load(out))) < 0.05


def test_sample_on_the_models_tuned_timesteps(tmp_path, capsys):
    """`--spacing tuned` runs the timesteps `python -m explorer tune` stored with the checkpoint, at the
    step counts it tuned; elsewhere it says what exists."""
    import numpy as np

    from explorer.evaluation.metrics import mean_spiral_distance

    out = tmp_path / "tuned.npy"
    args = ["sample", "--model", "spiral-mlp", "--sampler", "unipc", "--spacing", "tuned", "--n", "2000", "--out"]
    assert main([*args, str(out), "--steps", "10"]) == 0
    assert "(10 model evaluations)" in capsys.readouterr().out
    assert mean_spiral_distance(torch.from_numpy(np.load(out))) < 0.0015  # log-SNR steps: 0.0030
    assert main([*args, str(out)]) == 0  # without --steps: the most steps it was tuned for
    assert "(10 model evaluations)" in capsys.readouterr().out
    assert main([*args, str(out), "--steps", "7"]) == 1
    assert "tuned timesteps exist for 5, 10 steps of UniPC on this model, not for 7" in capsys.readouterr().err
    assert main(["sample", "--model", "digits-unet", *args[3:], str(out), "--steps", "10"]) == 1
    assert "digits-unet has no tuned timesteps for UniPC" in capsys.readouterr().err


def test_sample_in_bf16_and_its_refusal_for_a_discrete_model(tmp_path, capsys):
    import numpy as np

    from explorer.evaluation.metrics import mean_spiral_distance

    out = tmp_path / "bf16.npy"
    args = ["sample", "--model", "spiral-mlp", "--sampler", "ddim", "--steps", "50", "--n", "1000", "--out", str(out)]
    assert main([*args, "--precision", "bf16"]) == 0
    assert np.load(out).dtype == np.float32 and mean_spiral_distance(torch.from_numpy(np.load(out))) < 0.02
    assert main(["sample", "--model", "digits-absorbing", "--precision", "bf16", "--out", str(out)]) == 1
    assert "takes --steps, not --sampler/--eta/--spacing/--precision/--graphs" in capsys.readouterr().err


def test_sample_with_graphs_is_the_eager_sample_off_the_gpu(tmp_path):
    """--graphs replays the network as CUDA graphs on a GPU and runs it eagerly elsewhere: on the CPU
    the samples are the eager ones, bit for bit (tests/test_graphs.py compares the two on a GPU)."""
    import numpy as np

    args = ["sample", "--model", "spiral-mlp", "--sampler", "ddim", "--steps", "20", "--n", "500", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "eager.npy")]) == 0
    assert main([*args, "--graphs", "--out", str(tmp_path / "graphed.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "eager.npy"), np.load(tmp_path / "graphed.npy"))


def test_sample_refuses_bad_solver_settings(tmp_path, capsys):
    out = str(tmp_path / "x.npy")
    cases = [
        (["--sampler", "heun", "--steps", "0"], "steps must be between 1 and 1000"),
        (["--sampler", "em", "--clip-x0", "-1"], "x0 clipping bound must be between"),
        (["--sampler", "dpmpp2m", "--steps", "99999"], "steps must be between 1 and 1000"),
        (["--clip-x0", "wide"], "--clip-x0 takes a number, auto or none"),
    ]
    for extra, message in cases:
        assert main(["sample", "--model", "spiral-mlp", *extra, "--out", out]) == 1
        assert message in capsys.readouterr().err


def test_invert_writes_the_round_trip(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "roundtrip.npz"
    args = ["invert", "--model", "spiral-mlp", "--steps", "50", "--n", "200", "--seed", "1", "--out", str(out)]
    assert main(args) == 0
    assert "round-trip MSE" in capsys.readouterr().out
    arrays = np.load(out)
    assert set(arrays.files) == {"x0", "xT", "x0_rec"} and arrays["x0"].shape == arrays["xT"].shape == (200, 2)
    assert ((arrays["x0_rec"] - arrays["x0"]) ** 2).mean() < 1e-3


def test_interpolate_writes_paths_and_a_gif(tmp_path, capsys):
    import numpy as np

    out, gif = tmp_path / "morph.npz", tmp_path / "morph.gif"
    args = ["interpolate", "--model", "digits-unet", "--steps", "20", "--a", "0", "--b", "3", "--frames", "5",
            "--out", str(out), "--gif", str(gif), "--size", "96"]  # fmt: skip
    assert main(args) == 0
    arrays = np.load(out)
    assert arrays["slerp_decoded"].shape == (5, 1, 8, 8) and arrays["lerp_norm"][2] < arrays["slerp_norm"][2]
    assert iio.imread(gif, index=None).shape == (5, 96, 2 * 96 + 6, 3)
    capsys.readouterr()
    assert main([*args[:5], "--a", "/etc/passwd", "--out", str(out)]) == 1  # a file, but not an image
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "image" in err and err.count("\n") == 1


def test_elbo_and_nll_print_and_write_json(tmp_path, capsys):
    import json

    from explorer.evaluation.elbo import strata

    elbo, nll = tmp_path / "elbo.json", tmp_path / "nll.json"
    items = ["--model", "spiral-mlp", "--n", "100", "--seed", "2"]
    assert main(["elbo", *items, "--every", "25", "--json", str(elbo)]) == 0
    assert main(["nll", *items, "--steps", "20", "--json", str(nll)]) == 0
    out = capsys.readouterr().out
    assert "-ELBO" in out and "NLL" in out and "nats" in out
    bound, exact = json.loads(elbo.read_text()), json.loads(nll.read_text())
    assert bound["unit"] == exact["unit"] == "nats" and bound["every"] == 25
    assert len(bound["terms"]) == len(strata(1000, 25)) == 44
    assert all(set(term) == {"t", "value"} for term in bound["terms"])
    assert bound["total"] == pytest.approx(bound["prior"] + bound["transitions"] + bound["decoder"])
    assert bound["total"] > exact["nll"]  # the bound sits above the exact NLL
    assert exact["nfe"] == 2 * 20 - 1 and exact["divergence"] == "exact"


@pytest.mark.parametrize(
    "args, message",
    [(["nll", "--model", "digits-uniform", "--n", "2"], "no probability-flow ODE"),
     (["elbo", "--model", "spiral-mlp", "--n", "0"], "number of items must be between"),
     (["nll", "--model", "spiral-mlp", "--steps", "100000"], "ODE steps must be between"),
     (["elbo", "--model", "/nowhere/model"], "no checkpoint at /nowhere/model")],
)  # fmt: skip
def test_likelihood_commands_refuse_bad_arguments_in_one_line(args, message, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
