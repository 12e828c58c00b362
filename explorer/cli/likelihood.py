"""`elbo` and `nll`: a model's likelihood bound term by term, and its exact likelihood through the
probability-flow ODE, printed and optionally written as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def write_json(path: str | None, record: dict) -> str:
    """Write `record` as JSON to `path` when one is given; the note to append to the command's line."""
    if not path:
        return ""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    return f"; wrote {path}"


def cmd_elbo(args: argparse.Namespace) -> str:
    """The ELBO of --n items: L_T + sum L_(t-1) + L_0 in bits/dim (images) or nats per point."""
    from dataclasses import asdict

    from explorer.runs.likelihood import ElboSettings, run_elbo

    settings = ElboSettings(args.model, args.n, args.seed, args.every, args.variance)
    run = run_elbo(settings, allow_path=True)
    terms = run.terms
    record = {"model": args.model, "items": run.items, **asdict(settings)} | {
        key: value for key, value in asdict(terms).items() if key not in ("steps", "terms")}  # fmt: skip
    record["terms"] = [{"t": t, "value": value} for t, value in zip(terms.steps, terms.terms, strict=True)]
    respaced = f"every {terms.every}th t, " if terms.every > 1 else "all terms, "
    return (f"{args.model}: -ELBO {terms.total:.4f} ± {terms.stderr:.4f} {terms.unit} "
            f"(L_T {terms.prior:.4f} + Σ L_t-1 {terms.transitions:.4f} + L_0 {terms.decoder:.4f}; "
            f"{respaced}{terms.nfe} model calls) on {run.items}" + write_json(args.json, record))  # fmt: skip


def cmd_nll(args: argparse.Namespace) -> str:
    """The negative log-likelihood of --n items by the probability-flow ODE."""
    from dataclasses import asdict

    from explorer.runs.likelihood import NllSettings, run_nll

    settings = NllSettings(args.model, args.n, args.seed, args.steps, args.probes)
    run = run_nll(settings, allow_path=True)
    record = {"model": args.model, "items": run.items, **asdict(settings), "nll": run.mean, "stderr": run.stderr,
              "unit": run.unit, "nfe": run.nfe, "divergence": run.divergence, "note": run.note}  # fmt: skip
    record.pop("density")
    return (f"{args.model}: NLL {run.mean:.4f} ± {run.stderr:.4f} {run.unit} by the probability-flow ODE "
            f"({args.steps} Heun steps, {run.nfe} model calls; {run.note}) on {run.items}"
            + write_json(args.json, record))  # fmt: skip


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model name, or a checkpoint folder")
    p.add_argument("--n", type=int, default=500, help="items to score (fresh points, or digits picked by --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the result here as JSON")


def add_elbo(commands: argparse._SubParsersAction) -> None:
    from explorer.core.likelihood import REVERSE_VARIANCES

    p = commands.add_parser("elbo", help="the ELBO term by term (bits/dim for images, nats for points)")
    _common(p)
    p.add_argument("--every", type=int, default=10, help="score every k-th t (stratified, reweighted); 1: all")
    p.add_argument("--variance", default="beta", choices=REVERSE_VARIANCES, help="the reverse step's variance")
    p.set_defaults(run=cmd_elbo)


def add_nll(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("nll", help="the exact likelihood through the probability-flow ODE")
    _common(p)
    p.add_argument("--steps", type=int, default=100, help="Heun steps from data to noise")
    p.add_argument("--probes", type=int, default=1, help="images: Hutchinson probes an item")
    p.set_defaults(run=cmd_nll)
