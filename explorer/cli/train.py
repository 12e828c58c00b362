"""`train`: train a model in the foreground and save its checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.core.discrete.process import TRANSITIONS
from explorer.core.parametrization import PREDICTIONS
from explorer.core.schedules import PROCESSES
from explorer.training.coupling import COUPLINGS


def cmd_train(args: argparse.Namespace) -> str:
    """Train a point model in the foreground, printing progress, and save it to --out."""
    import threading

    from explorer.training.config import TrainConfig
    from explorer.training.evaluate import evaluate_model
    from explorer.training.trainer import Progress, Trainer, run_training

    config = TrainConfig(
        dataset=args.dataset, n_data=args.n_data, noise=args.noise, width=args.width, depth=args.depth,
        schedule=args.schedule, T=args.T, zero_terminal_snr=args.zero_terminal_snr, prediction=args.prediction,
        steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup, seed=args.seed,
        checkpoint_every=args.checkpoint_every, reflow=args.reflow, reflow_steps=args.reflow_steps,
        coupling=args.coupling, ot_chunk=args.ot_chunk, ot_pairs=args.ot_pairs, transition=args.transition,
        hybrid_lambda=args.hybrid_lambda,
        conditional=args.conditional, label_dropout=args.label_dropout, sigma_max=args.sigma_max,
        holdout=args.holdout, keep_best=args.keep_best,
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
    from explorer.training.config import TrainConfig

    d = TrainConfig()
    from explorer.training.config import TRAINABLE

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
                   help="flow: rectified flow (with --prediction flow); ve: variance exploding; subvp: sub-VP "
                        "(Song et al. 2021)")  # fmt: skip
    p.add_argument("--sigma-max", type=float,
                   help="ve: the largest noise level (default: the data's largest pairwise distance)")  # fmt: skip
    p.add_argument("--T", type=int, default=d.T)
    p.add_argument("--zero-terminal-snr", action="store_true", help="rescale the schedule to SNR 0 at t = T")
    p.add_argument("--prediction", default=d.prediction, choices=PREDICTIONS)
    p.add_argument("--n-data", type=int, default=d.n_data, help="size of the fixed training set (reflow: of pairs)")
    p.add_argument("--reflow", help="rectified flow: retrain on the (noise, data) pairs of this flow model's ODE")
    p.add_argument("--reflow-steps", type=int, default=d.reflow_steps, help="Euler steps that make the pairs")
    p.add_argument("--coupling", default=d.coupling, choices=COUPLINGS,
                   help="rectified flow: pair each batch's noise with its data independently, or by minibatch "
                        "optimal transport (straighter paths, fewer Euler steps)")  # fmt: skip
    p.add_argument("--ot-chunk", type=int, default=d.ot_chunk,
                   help="--coupling ot: rows paired by one exact assignment (larger: straighter; cost ~ rows^3)",
                   )  # fmt: skip
    p.add_argument("--ot-pairs", type=int, default=d.ot_pairs,
                   help="--coupling ot: 0 pairs each batch as it is drawn; N pairs N draws once, in chunks, "
                        "and trains on that pool (the same coupling paid once; for 512-row chunks and up)")  # fmt: skip
    p.add_argument(
        "--transition",
        choices=TRANSITIONS,
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
    p.add_argument(
        "--holdout",
        action="store_true",
        help="digits: train on 1,500 digits and keep the 297 held-out ones unseen (for FD, copies, NLL)",
    )
    p.add_argument(
        "--keep-best",
        action="store_true",
        help="with --holdout: score each checkpoint by FD to the held-out digits and ship the best",
    )
    p.add_argument("--noise", type=float, default=d.noise)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--eval-n", type=int, default=1000, help="samples drawn to measure quality at the end")
    p.set_defaults(run=cmd_train)
