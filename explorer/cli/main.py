"""`python -m explorer COMMAND ...`: the command line, over the same core as the app.

Bad arguments exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from explorer.cli.bench import add_bench
from explorer.cli.corrupt import add_corrupt
from explorer.cli.curves import add_curves
from explorer.cli.evaluate import add_evaluate, add_evaluator
from explorer.cli.forward import add_forward
from explorer.cli.latent import add_interpolate, add_invert
from explorer.cli.likelihood import add_elbo, add_nll
from explorer.cli.models import add_models
from explorer.cli.sample import add_sample
from explorer.cli.train import add_train
from explorer.cli.tune import add_tune

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_forward, add_train, add_models, add_sample, add_invert, add_interpolate, add_corrupt, add_bench, add_curves,
    add_elbo, add_nll, add_evaluate, add_evaluator, add_tune,
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
