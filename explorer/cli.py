"""`python -m explorer COMMAND ...`: the command line, over the same core as the app.

Bad arguments exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from explorer import data
from explorer.forward import MODES, ForwardSettings, export_forward_gif
from explorer.schedules import PROCESSES, SCHEDULES

FORWARD_DATASETS = sorted(name for name, info in data.DATASETS.items() if info.kind in ("points", "image"))


def cmd_forward(args: argparse.Namespace) -> str:
    """Write the forward-process GIF, the same one the Forward tab exports."""
    if args.dataset == "upload" and not args.image:
        raise ValueError("--dataset upload needs --image PATH")
    settings = ForwardSettings(
        dataset=args.dataset, n_points=args.n, n_images=args.n_images, noise=args.noise,
        seed=args.seed, schedule=args.schedule, T=args.T, zero_terminal_snr=args.zero_terminal_snr,
        mode=args.mode, image_path=args.image, image_size=args.image_size, grey=args.grey,
    )  # fmt: skip
    start = time.perf_counter()
    path = export_forward_gif(settings, args.frames, args.fps, args.size, args.out)
    return f"wrote {path} ({args.frames} frames, {args.size}x{args.size}, {time.perf_counter() - start:.2f} s)"


def add_forward(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("forward", help="animate the forward noising process as a GIF")
    p.add_argument("--dataset", default="spiral", choices=FORWARD_DATASETS)
    p.add_argument("--image", help="image file, with --dataset upload")
    p.add_argument("--image-size", type=int, default=64, help="side of the resized image (pixels)")
    p.add_argument("--grey", action="store_true", help="read the image as greyscale")
    p.add_argument("--n", type=int, default=2000, help="number of points")
    p.add_argument("--n-images", type=int, default=16, help="number of digits")
    p.add_argument("--noise", type=float, default=0.0, help="std of the jitter added to points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schedule", default="cosine", choices=sorted(SCHEDULES))
    p.add_argument("--T", type=int, default=1000, help="number of diffusion steps")
    p.add_argument("--zero-terminal-snr", action="store_true", help="rescale to zero terminal SNR")
    p.add_argument("--mode", default="shortcut", choices=MODES, help="closed form or step-by-step chain")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--size", type=int, default=384, help="frame side in pixels")
    p.add_argument("--out", default="forward.gif")
    p.set_defaults(run=cmd_forward)


def cmd_train(args: argparse.Namespace) -> str:
    """Train a point model in the foreground, printing progress, and save it to --out."""
    import threading

    from explorer.training import Progress, TrainConfig, Trainer, evaluate_model, run_training

    config = TrainConfig(
        dataset=args.dataset, n_data=args.n_data, noise=args.noise, width=args.width, depth=args.depth,
        schedule=args.schedule, T=args.T, zero_terminal_snr=args.zero_terminal_snr, prediction=args.prediction,
        steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup, seed=args.seed,
        checkpoint_every=args.checkpoint_every, reflow=args.reflow, reflow_steps=args.reflow_steps,
        transition=args.transition, hybrid_lambda=args.hybrid_lambda, conditional=args.conditional,
        label_dropout=args.label_dropout,
    )  # fmt: skip
    out = Path(args.out)
    trainer = Trainer(config, out, device=args.device, command="python -m explorer " + " ".join(sys.argv[1:]))
    if args.resume:
        trainer.resume()
    progress, lock, stop = Progress(), threading.Lock(), threading.Event()
    reporter = threading.Thread(target=_report_progress, args=(progress, lock, stop), daemon=True)
    reporter.start()
    try:
        run_training(trainer, progress, stop, lock, evaluate=lambda t: evaluate_model(t, args.eval_n))
    except KeyboardInterrupt:
        stop.set()
        trainer.save()
        raise
    finally:
        stop.set()
        reporter.join()
    if progress.status == "failed":
        raise ValueError(progress.message)
    return progress.message


def _report_progress(progress, lock, stop) -> None:
    while not stop.wait(2.0):
        with lock:
            if progress.status == "running":
                line = f"step {progress.step}/{progress.total}  loss {progress.smoothed:.4f}  "
                line += f"{progress.steps_per_s:.0f} steps/s  eta {progress.eta_s:.0f} s  [{progress.device}]"
                print(line, flush=True)


def add_train(commands: argparse._SubParsersAction) -> None:
    from explorer.training import TrainConfig

    d = TrainConfig()
    from explorer.training import TRAINABLE

    p = commands.add_parser("train", help="train a denoiser (points or digits) and save a checkpoint")
    p.add_argument("--dataset", default=d.dataset, choices=sorted(TRAINABLE))
    p.add_argument("--out", required=True, help="checkpoint folder, e.g. checkpoints/NAME")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--width", type=int, help="MLP width or UNet base channels (default 128 / 32)")
    p.add_argument("--depth", type=int, help="MLP blocks or UNet blocks per level (default 3 / 1)")
    p.add_argument("--schedule", default=d.schedule, choices=PROCESSES,
                   help="flow: rectified flow (with --prediction flow)")  # fmt: skip
    p.add_argument("--T", type=int, default=d.T)
    p.add_argument("--zero-terminal-snr", action="store_true", help="rescale the schedule to SNR 0 at t = T")
    p.add_argument("--prediction", default=d.prediction, choices=["eps", "x0", "v", "flow"])
    p.add_argument("--n-data", type=int, default=d.n_data, help="size of the fixed training set (reflow: of pairs)")
    p.add_argument("--reflow", help="rectified flow: retrain on the (noise, data) pairs of this flow model's ODE")
    p.add_argument("--reflow-steps", type=int, default=d.reflow_steps, help="Euler steps that make the pairs")
    p.add_argument(
        "--transition",
        choices=["uniform", "absorbing", "gaussian"],
        help="train a discrete (D3PM) model of the digits' 17 grey levels with this corruption",
    )
    p.add_argument(
        "--hybrid-lambda",
        type=float,
        default=d.hybrid_lambda,
        help="D3PM: weight of the cross-entropy beside L_vb (Austin et al.: 0.001)",
    )
    p.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional (patterns, digits), trained with label dropout for classifier-free guidance",
    )
    p.add_argument("--label-dropout", type=float, default=d.label_dropout,
                   help="conditional: share of labels replaced by the null class")  # fmt: skip
    p.add_argument("--noise", type=float, default=d.noise)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--eval-n", type=int, default=1000, help="samples drawn to measure quality at the end")
    p.set_defaults(run=cmd_train)


def cmd_models(args: argparse.Namespace) -> str:
    """List the registry: one model a line, by the name --model takes."""
    from explorer.checkpoints import find_checkpoints, model_roots, read_config

    lines = []
    for name, folder in sorted(find_checkpoints(model_roots()).items()):
        try:
            c = read_config(folder)
            metrics = " ".join(f"{k}={v:.4f}" for k, v in c.get("metrics", {}).items())
            fields = [name, c["dataset"], c["model"], c["prediction"], f"steps={c['steps']}", metrics]
            lines.append("\t".join(fields))
        except ValueError as error:
            lines.append(f"{name}\tunreadable: {error}")
    return "\n".join(lines) if lines else "no models found in " + ", ".join(map(str, model_roots()))


def add_models(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("models", help="list the models that --model can name")
    p.set_defaults(run=cmd_models)


DEFAULT_STEPS = 50  # the fast samplers' default step count
MAX_KEPT_STEPS = 250  # runs longer than this record only the GIF's frames


def clip_argument(text: str, bound: float) -> float | None:
    """--clip-x0: 'auto' (the model's data range), 'none', or a number (checked by the sampler)."""
    if text == "auto":
        return bound
    if text == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--clip-x0 takes a number, auto or none, got {text!r}") from None


def cmd_sample(args: argparse.Namespace) -> str:
    """Sample from a model and save the result as .npy (and the reverse process as a GIF)."""
    import numpy as np

    from explorer.checkpoints import load_checkpoint, model_roots, resolve_model
    from explorer.device import pick_device
    from explorer.reverse import data_bound, panel_frame, trajectory
    from explorer.samplers import DEFAULT_SPACING, SamplerSettings
    from explorer.schedules import make_schedule

    device = pick_device(args.device)
    loaded = load_checkpoint(resolve_model(args.model, model_roots()), device)
    if "discrete" in loaded.config:
        return _sample_discrete(args, device)
    s = loaded.config["schedule"]
    schedule = make_schedule(s["name"], s["T"], s["zero_terminal_snr"])
    steps = args.steps if args.steps is not None or args.sampler == "ddpm" else DEFAULT_STEPS
    spacing = args.spacing or DEFAULT_SPACING[args.sampler]
    clip = clip_argument(args.clip_x0, data_bound(loaded))
    sampler = SamplerSettings(args.sampler, steps, args.eta, spacing, args.variance, clip)
    sampler = sampler.validated(schedule.T)
    if sampler.resolved_steps(schedule.T) > MAX_KEPT_STEPS:
        keep = {int(k) for k in np.linspace(0, schedule.T, args.frames).round()} if args.gif else {0}
    else:
        keep = None  # few steps: keep them all, then pick the GIF's frames
    model = None
    if args.label is not None or args.guidance is not None:  # classifier-free guidance (conditional models)
        from explorer.guidance import conditioning

        if args.label is None:
            raise ValueError("--guidance needs --label (the class to steer towards)")
        model = conditioning(args.label, args.guidance).wrap(loaded.model)
    steps, xs, _, nfe = trajectory(loaded, schedule, args.n, args.seed, sampler, keep, model=model, device=device)
    if args.gif and len(steps) > args.frames:
        picks = np.linspace(0, len(steps) - 1, args.frames).round().astype(int)
        steps, xs = [steps[i] for i in picks], [xs[i] for i in picks]
    samples = xs[-1].numpy()
    if samples.ndim == 4:  # images are saved in the data range [-1, 1]
        samples = samples.clip(-1.0, 1.0)
    message = f"wrote {write_samples(args.out, samples)} {samples.shape} ({nfe} model evaluations)"
    if args.gif:
        from explorer.export import write_gif

        color = np.linspace(0, 1, samples.shape[0])
        name = sampler.label().split(" S=")[0]
        pictures = [panel_frame(x.numpy(), color, args.size, f"{name}  t = {t} / {schedule.T}", 1 - t / schedule.T)
                    for t, x in zip(steps, xs, strict=True)]  # fmt: skip
        write_gif(pictures, args.gif, args.fps)
        message += f" and {args.gif} ({len(pictures)} frames)"
    return message


SAMPLES_PICTURE_SIZE = 512


def write_samples(out: str, samples: Any) -> Path:
    """Samples as a .npy array, or as a picture when `out` ends in .png (an image grid or a
    scatter of the points). Returns the path written (np.save adds .npy to other names)."""
    import numpy as np

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        from PIL import Image

        from explorer.reverse import panel_frame

        color = np.linspace(0, 1, len(samples)) if samples.ndim == 2 else None
        picture = panel_frame(samples, color, SAMPLES_PICTURE_SIZE, f"{len(samples)} samples", 1.0)
        Image.fromarray(picture).save(path)
        return path
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    np.save(path, samples)
    return path


def _sample_discrete(args: argparse.Namespace, device) -> str:
    """`sample` for a D3PM model: ancestral sampling over --steps of its T steps (default all); the
    Gaussian samplers' options do not apply and are refused if changed."""

    from explorer.d3pm import DiscreteSettings, reverse_gif, run_discrete

    if args.label is not None or args.guidance is not None:
        raise ValueError(f"{args.model!r} is an unconditional discrete model: it takes no --label or --guidance")
    if args.sampler != "ddpm" or args.eta != 0.0 or args.spacing is not None:
        raise ValueError(f"{args.model!r} is a discrete (D3PM) model: it takes --steps, not --sampler/--eta/--spacing")
    settings = DiscreteSettings(args.model, args.n, args.steps, args.seed, str(device))
    run = run_discrete(settings)
    samples = run.samples.numpy()
    message = (f"wrote {write_samples(args.out, samples)} {samples.shape} ({len(run.xs) - 1} model evaluations; "
               f"digits classifier confidence {run.confidence:.3f})")  # fmt: skip
    if args.gif:
        reverse_gif(settings, args.frames, args.fps, args.size, args.gif)
        message += f" and {args.gif}"
    return message


def add_sample(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("--model", required=True, help="a name from `python -m explorer models`")
    from explorer.samplers import DEFAULT_SPACING, SAMPLER_LABELS, SAMPLERS, SPACINGS

    names = ", ".join(f"{k}: {v}" for k, v in SAMPLER_LABELS.items())
    p.add_argument("--sampler", default="ddpm", choices=SAMPLERS, help=names)
    p.add_argument("--steps", type=int, help=f"timesteps visited (default: T for ddpm, {DEFAULT_STEPS} for the others)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM: 0 deterministic ... 1 DDPM-like")
    p.add_argument("--spacing", choices=SPACINGS,
                   help=f"which timesteps (default per sampler: {DEFAULT_SPACING})")  # fmt: skip
    p.add_argument("--variance", default="beta_tilde", choices=["beta", "beta_tilde"], help="DDPM's sigma_t^2")
    p.add_argument("--clip-x0", default="auto",
                   help="clip the model's x0 estimate to [-C, C] at every step: a number, none, or auto "
                        "(the data range: 1 for images, 1.5 for points)")  # fmt: skip
    p.add_argument("--label", type=int, help="conditional models: the class to generate (see `models`)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale w (0 unconditional, 1 conditional, "
                                                  ">1 guided; default 1 with --label)")  # fmt: skip
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--out", default="samples.npy")
    p.add_argument("--gif", help="also write the reverse process as a GIF")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--size", type=int, default=384)
    p.set_defaults(run=cmd_sample)


def _latent_model(args: argparse.Namespace) -> tuple:
    """The model, its schedule and the decoding clip bound (--clip-x0 as in `sample`) for invert/interpolate."""
    from explorer.checkpoints import load_checkpoint, model_roots, resolve_model
    from explorer.device import pick_device
    from explorer.reverse import data_bound
    from explorer.schedules import make_schedule

    loaded = load_checkpoint(resolve_model(args.model, model_roots()), pick_device(args.device))
    s = loaded.config["schedule"]
    schedule = make_schedule(s["name"], s["T"], s["zero_terminal_snr"])
    return loaded, schedule, clip_argument(args.clip_x0, data_bound(loaded))


def cmd_invert(args: argparse.Namespace) -> str:
    """Encode data to latents with DDIM inversion, decode them back, save x0, xT, x0_rec."""
    import numpy as np

    from explorer.latent import data_items, round_trip

    loaded, schedule, clip = _latent_model(args)
    x0 = data_items(loaded, args.n, args.seed).to(next(loaded.model.parameters()).device)
    trip = round_trip(loaded.model, schedule, x0, loaded.config["prediction"], args.steps, clip_x0=clip)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, x0=trip.x0.cpu().numpy(), xT=trip.x_T.cpu().numpy(), x0_rec=trip.x0_rec.cpu().numpy())
    latent = f"latent mean {float(trip.x_T.mean()):.3f}, std {float(trip.x_T.std()):.3f}"
    return (f"wrote {args.out} ({len(x0)} items, {args.steps} steps each way): round-trip MSE {trip.mse():.3g}, "
            f"PSNR {trip.psnr():.1f} dB; {latent}")  # fmt: skip


def cmd_interpolate(args: argparse.Namespace) -> str:
    """Invert two items, walk between their latents by slerp and lerp, decode, save (and GIF)."""
    import numpy as np

    from explorer.latent import data_items, interpolate, morph_frames, parse_item

    loaded, schedule, clip = _latent_model(args)
    pool = data_items(loaded, args.pool, args.seed)
    device = next(loaded.model.parameters()).device
    a, b = (parse_item(spec, loaded, pool).to(device) for spec in (args.a, args.b))
    morph = interpolate(loaded.model, schedule, a, b, loaded.config["prediction"], args.steps, args.frames, clip)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    arrays = {"alphas": morph.alphas}
    for name in morph.latents:
        arrays |= {f"{name}_latent": morph.latents[name], f"{name}_decoded": morph.decoded[name],
                   f"{name}_norm": morph.norms[name]}  # fmt: skip
    np.savez(args.out, **arrays)
    message = f"wrote {args.out} ({args.frames} steps of slerp and lerp)"
    if args.gif:
        from explorer.export import write_gif
        from explorer.limits import MAX_GIF_SIZE, MIN_GIF_SIZE, check_int

        size = check_int("GIF panel size", args.size, MIN_GIF_SIZE, MAX_GIF_SIZE // 2)
        background = None if morph.decoded["slerp"].ndim > 2 else pool.numpy()
        write_gif(morph_frames(morph, size, background), args.gif, args.fps)
        message += f" and {args.gif}"
    return message


def _latent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a name from `python -m explorer models`")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps each way")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip-x0", default="auto", help="clip x0_hat while decoding: a number, none or auto")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")


def add_invert(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("invert", help="DDIM inversion: data -> latents -> data, with the round-trip error")
    _latent_arguments(p)
    p.add_argument("--n", type=int, default=1000, help="points drawn afresh, or training images picked by seed")
    p.add_argument("--out", default="roundtrip.npz", help="arrays x0, xT and x0_rec")
    p.set_defaults(run=cmd_invert)


def add_interpolate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("interpolate", help="walk between two inverted items by slerp and lerp")
    _latent_arguments(p)
    p.add_argument("--a", default="0", help="an index into the drawn items, 'x, y' for a point, or an image file")
    p.add_argument("--b", default="1", help="the other end, the same way")
    p.add_argument("--pool", type=int, default=64, help="items drawn (by --seed) that indices refer to")
    p.add_argument("--frames", type=int, default=9, help="interpolation steps, both ends included")
    p.add_argument("--out", default="morph.npz")
    p.add_argument("--gif", help="also write the morph as a GIF")
    p.add_argument("--fps", type=float, default=4)
    p.add_argument("--size", type=int, default=256, help="GIF panel size (px)")
    p.set_defaults(run=cmd_interpolate)


def cmd_corrupt(args: argparse.Namespace) -> str:
    """Write the discrete (D3PM) corruption of digits, a sentence or an image as a GIF."""
    from explorer.discrete import DEFAULT_TEXT, CorruptionSettings, corruption_gif

    settings = CorruptionSettings(dataset=args.dataset, transition=args.transition, T=args.T, K=args.K, n=args.n,
                                  seed=args.seed, text=args.text or DEFAULT_TEXT, image_path=args.image)  # fmt: skip
    path = corruption_gif(settings, args.frames, args.fps, args.size, args.out)
    return f"wrote {path} ({args.frames} frames of {args.transition} corruption, T = {args.T})"


def add_corrupt(commands: argparse._SubParsersAction) -> None:
    from explorer.discrete import DATASETS, TRANSITIONS

    p = commands.add_parser("corrupt", help="animate discrete (D3PM) corruption as a GIF")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--transition", default="absorbing", choices=TRANSITIONS)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--K", type=int, default=4, help="--dataset image: grey levels to quantise to")
    p.add_argument("--image", help="--dataset image: the file")
    p.add_argument("--text", help="--dataset text: the sentence")
    p.add_argument("--n", type=int, default=16, help="--dataset digits: how many")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--fps", type=float, default=8)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--out", default="d3pm.gif")
    p.set_defaults(run=cmd_corrupt)


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def cmd_bench(args: argparse.Namespace) -> str:
    """Run every script in benchmarks/ (or the one named) and let each print its table."""
    scripts = sorted(p for p in BENCHMARKS.glob("*.py") if p.name not in ("__init__.py", "common.py"))
    if args.only:
        scripts = [p for p in scripts if p.stem == args.only]
        if not scripts:
            raise ValueError(f"no benchmark named {args.only!r} in {BENCHMARKS}")
    if not scripts:
        raise ValueError(f"no benchmark scripts found in {BENCHMARKS}")
    failed = []
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCHMARKS.parent).returncode != 0:
            failed.append(script.stem)
    if failed:
        raise ValueError(f"benchmarks failed: {', '.join(failed)}")
    return f"ran {len(scripts)} benchmark(s); results in {BENCHMARKS / 'results'}"


def add_bench(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="run the benchmarks in benchmarks/ and print their tables")
    p.add_argument("--only", help="run one benchmark, by script name (e.g. forward)")
    p.set_defaults(run=cmd_bench)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_forward, add_train, add_models, add_sample, add_invert, add_interpolate, add_corrupt, add_bench,
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer", description="Diffusion explorer command line.")
    commands = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(args.run(args))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
