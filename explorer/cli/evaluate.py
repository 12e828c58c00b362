"""`evaluate`: sample a model and score the samples (FD, its floor, precision / recall, memorised share)."""

from __future__ import annotations

import argparse


def cmd_evaluate(args: argparse.Namespace) -> str:
    """Draw --n samples with --sampler (default: the model's reference sampler) and score them."""
    from dataclasses import asdict

    from explorer.cli.likelihood import write_json
    from explorer.runs.evaluate import EvaluateSettings, run_evaluation
    from explorer.sampling.registry import DEFAULT_SPACING, SamplerSettings

    sampler = None
    if args.sampler is not None or args.steps is not None:
        name = args.sampler or "ddim"
        sampler = SamplerSettings(name, args.steps, spacing=args.spacing or DEFAULT_SPACING[name])
    run = run_evaluation(EvaluateSettings(args.model, args.n, args.seed, sampler), allow_path=True)
    m = run.metrics
    if run.kind == "images":
        text = (f"FD {m['fd']:.2f} [{m['fd_interval'][0]:.2f}, {m['fd_interval'][1]:.2f}] at n = {m['fd_n']} "
                f"(floor, held-out digits: {m['fd_floor']:.2f}); precision {m['precision']:.3f} recall "
                f"{m['recall']:.3f} (floor {m['precision_floor']:.3f} / {m['recall_floor']:.3f}); memorised "
                f"{m['memorised_share']:.1%}")  # fmt: skip
    else:
        text = " ".join(f"{key} {value:.4g}" for key, value in m.items())
    return (f"{args.model}, {run.n} samples by {run.sampler} ({run.nfe} model calls): {text}"
            + write_json(args.json, asdict(run)))  # fmt: skip


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    from explorer.sampling.registry import SAMPLERS
    from explorer.sampling.spacings import SPACINGS

    p = commands.add_parser("evaluate", help="sample a model and score its samples (FD, precision, recall)")
    p.add_argument("--model", required=True, help="a model name, or a checkpoint folder")
    p.add_argument("--n", type=int, default=1000, help="samples to draw (digits: FD uses 297 of them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", choices=SAMPLERS, help="default: the model's reference sampler (DDPM over all T)")
    p.add_argument("--steps", type=int, help="timesteps visited (D3PM: reverse steps)")
    p.add_argument("--spacing", choices=SPACINGS, help="default: the sampler's own")
    p.add_argument("--json", help="also write the result here as JSON")
    p.set_defaults(run=cmd_evaluate)


def cmd_evaluator(args: argparse.Namespace) -> str:
    """Train the digits evaluator on its fixed split and write it (weights and record) into --out."""
    import sys
    import time
    from pathlib import Path

    from explorer.evaluation.digits import EVALUATOR_FILE, held_out_accuracy, save_evaluator, train_classifier

    start = time.perf_counter()
    model = train_classifier(args.seed)
    seconds = time.perf_counter() - start
    accuracy = held_out_accuracy(model)
    path = Path(args.out) / EVALUATOR_FILE
    command = "python -m explorer " + " ".join(sys.argv[1:])
    save_evaluator(model, path, {"seed": args.seed, "command": command, "held_out_accuracy": accuracy,
                                 "train_seconds": round(seconds, 1)})  # fmt: skip
    return f"wrote {path}: {accuracy:.2%} of the 297 held-out digits right, trained in {seconds:.0f} s"


def add_evaluator(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("evaluator", help="train the digits evaluator (its features measure FD)")
    p.add_argument("--out", default="checkpoints/evaluators", help="folder for digits-cnn.safetensors and .json")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_evaluator)
