"""`corrupt`: the D3PM corruption GIF."""

from __future__ import annotations

import argparse


def cmd_corrupt(args: argparse.Namespace) -> str:
    """Write the discrete (D3PM) corruption of digits, a sentence or an image as a GIF."""
    from explorer.data.text import DEFAULT_TEXT
    from explorer.runs.corruption import CorruptionSettings
    from explorer.viz.animations import corruption_gif

    settings = CorruptionSettings(dataset=args.dataset, transition=args.transition, T=args.T, K=args.K, n=args.n,
                                  seed=args.seed, text=args.text or DEFAULT_TEXT, image_path=args.image)  # fmt: skip
    path = corruption_gif(settings, args.frames, args.fps, args.size, args.out)
    return f"wrote {path} ({args.frames} frames of {args.transition} corruption, T = {args.T})"


def add_corrupt(commands: argparse._SubParsersAction) -> None:
    from explorer.core.discrete.process import TRANSITIONS
    from explorer.runs.corruption import CORRUPTION_DATASETS

    p = commands.add_parser("corrupt", help="animate discrete (D3PM) corruption as a GIF")
    p.add_argument("--dataset", default="digits", choices=CORRUPTION_DATASETS)
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
