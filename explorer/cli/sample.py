"""`sample`: samples (and a GIF) from a registry model or a checkpoint folder."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

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

    from explorer.config import pick_device
    from explorer.runs.common import trajectory
    from explorer.runs.tuned import with_tuned
    from explorer.sampling.precision import with_precision
    from explorer.sampling.registry import DEFAULT_SPACING, SamplerSettings
    from explorer.sampling.tuning import TUNED
    from explorer.store.registry import command_line_model, data_bound
    from explorer.viz.panels import panel_frame

    device = pick_device(args.device)
    name, registry = command_line_model(args.model)
    loaded = registry.handle(name, str(device))
    if loaded.discrete:
        return _sample_discrete(args, device, name, registry)
    schedule = loaded.schedule
    steps = args.steps if args.steps is not None or args.sampler == "ddpm" else DEFAULT_STEPS
    spacing = args.spacing or DEFAULT_SPACING[args.sampler]
    clip = clip_argument(args.clip_x0, data_bound(loaded))
    sampler = SamplerSettings(args.sampler, steps, args.eta, spacing, args.variance, clip, churn=args.churn,
                              s_tmin=args.s_tmin, s_tmax=args.s_tmax, s_noise=args.s_noise, snr=args.snr,
                              corrector_steps=args.corrector_steps)  # fmt: skip
    sampler = with_tuned(sampler, loaded)
    if sampler.spacing == TUNED and args.steps is None:  # the most steps the model was tuned for
        sampler = replace(sampler, steps=max(sampler.tuned_steps()))
    sampler = sampler.validated(schedule.T)
    if sampler.resolved_steps(schedule.T) > MAX_KEPT_STEPS:
        keep = {int(k) for k in np.linspace(0, schedule.T, args.frames).round()} if args.gif else {0}
    else:
        keep = None  # few steps: keep them all, then pick the GIF's frames
    model = None
    if args.label is not None or args.guidance is not None:  # classifier-free guidance (conditional models)
        from explorer.core.guidance import conditioning

        if args.label is None:
            raise ValueError("--guidance needs --label (the class to steer towards)")
        model = conditioning(args.label, args.guidance).wrap(loaded.model)
    model = with_precision(loaded.model if model is None else model, args.precision)
    if args.graphs:
        from explorer.sampling.graphs import Graphed

        model = Graphed(model)  # replays the network as CUDA graphs on a GPU; eager elsewhere
    steps, xs, _, nfe = trajectory(loaded, schedule, args.n, args.seed, sampler, keep, model=model)
    if args.gif and len(steps) > args.frames:
        picks = np.linspace(0, len(steps) - 1, args.frames).round().astype(int)
        steps, xs = [steps[i] for i in picks], [xs[i] for i in picks]
    samples = xs[-1].numpy()
    if samples.ndim == 4:  # images are saved in the data range [-1, 1]
        samples = samples.clip(-1.0, 1.0)
    message = f"wrote {write_samples(args.out, samples)} {samples.shape} ({nfe} model evaluations)"
    if args.gif:
        from explorer.viz.export import write_animation

        color = np.linspace(0, 1, samples.shape[0])
        name = sampler.label().split(" S=")[0]
        pictures = [panel_frame(x.numpy(), color, args.size, f"{name}  t = {t} / {schedule.T}", 1 - t / schedule.T)
                    for t, x in zip(steps, xs, strict=True)]  # fmt: skip
        write_animation(pictures, args.gif, args.fps)
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

        from explorer.viz.panels import panel_frame

        color = np.linspace(0, 1, len(samples)) if samples.ndim == 2 else None
        picture = panel_frame(samples, color, SAMPLES_PICTURE_SIZE, f"{len(samples)} samples", 1.0)
        Image.fromarray(picture).save(path)
        return path
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    np.save(path, samples)
    return path


def _sample_discrete(args: argparse.Namespace, device, name: str, registry) -> str:
    """`sample` for a D3PM model: ancestral sampling over --steps of its T steps (default all); the
    Gaussian samplers' options do not apply and are refused if changed."""

    from explorer.runs.discrete import DiscreteSettings, run_discrete
    from explorer.viz.animations import discrete_gif

    if args.label is not None or args.guidance is not None:
        raise ValueError(f"{args.model!r} is an unconditional discrete model: it takes no --label or --guidance")
    if args.sampler != "ddpm" or args.eta != 0.0 or args.spacing is not None or args.precision != "fp32" or args.graphs:
        raise ValueError(f"{args.model!r} is a discrete (D3PM) model: it takes --steps, not "
                         "--sampler/--eta/--spacing/--precision/--graphs")  # fmt: skip
    settings = DiscreteSettings(name, args.n, args.steps, args.seed, str(device))
    run = run_discrete(settings, registry)
    samples = run.samples.numpy()
    message = (f"wrote {write_samples(args.out, samples)} {samples.shape} ({len(run.xs) - 1} model evaluations; "
               f"python -m explorer evaluate --model {name} scores FD, precision and recall)")  # fmt: skip
    if args.gif:
        discrete_gif(run, args.frames, args.fps, args.size, args.gif)
        message += f" and {args.gif}"
    return message


def add_sample(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("--model", required=True,
                   help="a name from `python -m explorer models`, or a checkpoint folder's path")  # fmt: skip
    from explorer.sampling.gaussian import DDPM_VARIANCES, Churn
    from explorer.sampling.precision import PRECISIONS
    from explorer.sampling.registry import DEFAULT_SPACING, SAMPLER_LABELS, SAMPLERS, SamplerSettings
    from explorer.sampling.spacings import SPACINGS
    from explorer.sampling.tuning import TUNED

    names = ", ".join(f"{k}: {v}" for k, v in SAMPLER_LABELS.items())
    p.add_argument("--sampler", default="ddpm", choices=SAMPLERS, help=names)
    p.add_argument("--steps", type=int, help=f"timesteps visited (default: T for ddpm, {DEFAULT_STEPS} for the others)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM: 0 deterministic ... 1 DDPM-like")
    p.add_argument("--spacing", choices=[*SPACINGS, TUNED],
                   help=f"which timesteps (default per sampler: {DEFAULT_SPACING}; tuned: the model's own, "
                        "from `python -m explorer tune`)")  # fmt: skip
    p.add_argument("--variance", default="beta_tilde", choices=DDPM_VARIANCES, help="DDPM's sigma_t^2")
    churn = Churn()
    p.add_argument("--churn", type=float, default=churn.s_churn, help="EDM: S_churn, the noise added back (0: Heun)")
    p.add_argument("--s-tmin", type=float, default=churn.s_tmin, help="EDM: churn only where sigma >= this")
    p.add_argument("--s-tmax", type=float, default=churn.s_tmax, help="EDM: churn only where sigma <= this")
    p.add_argument("--s-noise", type=float, default=churn.s_noise, help="EDM: the added noise's scale")
    p.add_argument("--snr", type=float, default=SamplerSettings.snr, help="pc: the Langevin corrector's SNR r")
    p.add_argument("--corrector-steps", type=int, default=SamplerSettings.corrector_steps,
                   help="pc: Langevin steps after each predictor step")  # fmt: skip
    p.add_argument("--clip-x0", default="auto",
                   help="clip the model's x0 estimate to [-C, C] at every step: a number, none, or auto "
                        "(the data range: 1 for images, 1.5 for points)")  # fmt: skip
    p.add_argument("--label", type=int, help="conditional models: the class to generate (see `models`)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale w (0 unconditional, 1 conditional, "
                                                  ">1 guided; default 1 with --label)")  # fmt: skip
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="the network under autocast in bf16 or fp16 (the sampler stays float32; "
                        "benchmarks/precision.py measures the effect on quality)")  # fmt: skip
    p.add_argument("--graphs", action="store_true",
                   help="on a GPU, record the network's forward pass as a CUDA graph and replay it at every step "
                        "(fewer kernel launches; eager on a CPU; benchmarks/sample.py --graphs times it)")  # fmt: skip
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--out", default="samples.npy")
    p.add_argument("--gif", help="also write the reverse process as a GIF (a .mp4 name: an H.264 video)")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--size", type=int, default=384)
    p.set_defaults(run=cmd_sample)
