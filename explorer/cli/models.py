"""`models`: the registry, one model a line."""

from __future__ import annotations

import argparse


def cmd_models(args: argparse.Namespace) -> str:
    """List the registry: one model a line, by the name --model takes."""
    from explorer.config import model_roots
    from explorer.store.checkpoint import read_info
    from explorer.store.registry import find_checkpoints

    lines = []
    for name, folder in sorted(find_checkpoints(model_roots()).items()):
        try:
            c = read_info(folder)
            metrics = " ".join(f"{k}={v:.4f}" for k, v in c.metrics.items())
            process = c.schedule.name + (f"(sigma_max={c.schedule.sigma_max:.3g})" if c.schedule.sigma_max else "")
            fields = [name, c.dataset, c.model, c.prediction, process, f"steps={c.steps}", metrics]
            lines.append("\t".join(fields))
        except ValueError as error:
            lines.append(f"{name}\tunreadable: {error}")
    return "\n".join(lines) if lines else "no models found in " + ", ".join(map(str, model_roots()))


def add_models(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("models", help="list the models that --model can name")
    p.set_defaults(run=cmd_models)
