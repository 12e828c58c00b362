"""`forward`: the forward-process GIF."""

from __future__ import annotations

import argparse
import time

from explorer import data
from explorer.core.schedules import PROCESSES
from explorer.runs.forward import MODES, ForwardSettings
from explorer.viz.animations import export_forward_gif

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
    p.add_argument("--schedule", default="cosine", choices=PROCESSES, help="a VP schedule, flow, ve or subvp")
    p.add_argument("--T", type=int, default=1000, help="number of diffusion steps")
    p.add_argument("--zero-terminal-snr", action="store_true", help="rescale to zero terminal SNR")
    p.add_argument("--mode", default="shortcut", choices=MODES, help="closed form or step-by-step chain")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--size", type=int, default=384, help="frame side in pixels")
    p.add_argument("--out", default="forward.gif")
    p.set_defaults(run=cmd_forward)
