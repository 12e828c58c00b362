"""`curves`: precompute a model's quality-against-NFE curves into its checkpoint folder."""

from __future__ import annotations

import argparse
import shlex
import sys


def cmd_curves(args: argparse.Namespace) -> str:
    from explorer.runs.curves import ship_curves

    command = "python -m explorer " + shlex.join(sys.argv[1:])
    folder = ship_curves(args.model, command, lambda fraction, text: print(f"{text}", file=sys.stderr, flush=True))
    return f"wrote the curves of {args.model} to {folder}"


def add_curves(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("curves", help="precompute a model's quality-against-NFE curves into its checkpoint")
    p.add_argument("--model", required=True,
                   help="a name from `python -m explorer models`, or a checkpoint folder's path")  # fmt: skip
    p.set_defaults(run=cmd_curves)
