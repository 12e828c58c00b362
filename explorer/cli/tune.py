"""`tune`: search a sampler's timesteps at a few step counts for one model, stored in its checkpoint."""

from __future__ import annotations

import argparse
import shlex
import sys


def cmd_tune(args: argparse.Namespace) -> str:
    from explorer.runs.tuned import tune_model
    from explorer.store.registry import command_line_model

    name, registry = command_line_model(args.model)
    loaded = registry.handle(name)
    command = "python -m explorer " + shlex.join(sys.argv[1:])
    path = tune_model(loaded, args.sampler, args.steps, command, args.samples,
                      lambda text: print(text, file=sys.stderr, flush=True))  # fmt: skip
    return f"wrote the tuned timesteps of {name} to {path}"


def add_tune(commands: argparse._SubParsersAction) -> None:
    from explorer.runs.tuned import TUNE_POINTS
    from explorer.sampling.registry import SAMPLERS

    p = commands.add_parser("tune", help="search a sampler's timesteps at few steps (the 'tuned' spacing)")
    p.add_argument("--model", required=True,
                   help="a name from `python -m explorer models`, or a checkpoint folder's path")  # fmt: skip
    deterministic = [name for name, spec in SAMPLERS.items() if not spec.stochastic]
    p.add_argument("--sampler", default="unipc", choices=deterministic)
    p.add_argument("--steps", type=int, nargs="+", default=[5, 10], help="step counts to tune (each 2 to 50)")
    p.add_argument("--samples", type=int, default=TUNE_POINTS, help="points scored per candidate (images: FD's n)")
    p.set_defaults(run=cmd_tune)
