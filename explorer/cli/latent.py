"""`invert` and `interpolate`: DDIM inversion round trips and latent morphs."""

from __future__ import annotations

import argparse
from pathlib import Path

from explorer.cli.sample import clip_argument


def _latent_model(args: argparse.Namespace) -> tuple:
    """The model, its schedule and the decoding clip bound (--clip-x0 as in `sample`) for invert/interpolate."""
    from explorer.config import pick_device
    from explorer.store.registry import command_line_model, data_bound

    name, registry = command_line_model(args.model)
    loaded = registry.handle(name, str(pick_device(args.device)))
    if loaded.schedule is None:
        raise ValueError(f"{args.model!r} is a discrete (D3PM) model: DDIM inversion needs a Gaussian or flow model")
    return loaded, loaded.schedule, clip_argument(args.clip_x0, data_bound(loaded))


def cmd_invert(args: argparse.Namespace) -> str:
    """Encode data to latents with DDIM inversion, decode them back, save x0, xT, x0_rec."""
    import numpy as np

    from explorer.runs.latent import data_items
    from explorer.sampling.inversion import round_trip

    loaded, schedule, clip = _latent_model(args)
    x0 = data_items(loaded, args.n, args.seed).to(loaded.device)
    trip = round_trip(loaded.model, schedule, x0, loaded.prediction, args.steps, clip_x0=clip, refine=args.refine,
                      solver=args.solver)  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, x0=trip.x0.cpu().numpy(), xT=trip.x_T.cpu().numpy(), x0_rec=trip.x0_rec.cpu().numpy())
    latent = f"latent mean {float(trip.x_T.mean()):.3f}, std {float(trip.x_T.std()):.3f}"
    refined = f", {args.refine} fixed-point iterations a step" if args.refine else ""
    return (f"wrote {args.out} ({len(x0)} items, {args.steps} {args.solver} steps each way{refined}): "
            f"round-trip MSE {trip.mse():.3g}, PSNR {trip.psnr():.1f} dB; {latent}")  # fmt: skip


def cmd_interpolate(args: argparse.Namespace) -> str:
    """Invert two items, walk between their latents by slerp and lerp, decode, save (and GIF)."""
    import numpy as np

    from explorer.runs.latent import data_items, parse_item
    from explorer.sampling.inversion import interpolate
    from explorer.store.registry import is_image_model
    from explorer.viz.panels import morph_frames

    loaded, schedule, clip = _latent_model(args)
    pool = data_items(loaded, args.pool, args.seed)
    device = loaded.device
    # the command line's user owns the machine: for an image model a spec that is not an index is a file
    files = [None if spec.strip().lstrip("-").isdigit() or not is_image_model(loaded) else spec
             for spec in (args.a, args.b)]  # fmt: skip
    a, b = (parse_item(spec, loaded, pool, file).to(device) for spec, file in zip((args.a, args.b), files, strict=True))
    morph = interpolate(loaded.model, schedule, a, b, loaded.prediction, args.steps, args.frames, clip)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    arrays = {"alphas": morph.alphas}
    for name in morph.latents:
        arrays |= {f"{name}_latent": morph.latents[name], f"{name}_decoded": morph.decoded[name],
                   f"{name}_norm": morph.norms[name]}  # fmt: skip
    np.savez(args.out, **arrays)
    message = f"wrote {args.out} ({args.frames} steps of slerp and lerp)"
    if args.gif:
        from explorer.limits import MAX_GIF_SIZE, MIN_GIF_SIZE, check_int
        from explorer.viz.export import write_animation

        size = check_int("GIF panel size", args.size, MIN_GIF_SIZE, MAX_GIF_SIZE // 2)
        background = None if morph.decoded["slerp"].ndim > 2 else pool.numpy()
        write_animation(morph_frames(morph, size, background), args.gif, args.fps)
        message += f" and {args.gif}"
    return message


def _latent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="a name from `python -m explorer models`, or a checkpoint folder's path")  # fmt: skip
    p.add_argument("--steps", type=int, default=50, help="DDIM steps each way")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip-x0", default="auto", help="clip x0_hat while decoding: a number, none or auto")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")


def add_invert(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("invert", help="DDIM inversion: data -> latents -> data, with the round-trip error")
    _latent_arguments(p)
    p.add_argument("--n", type=int, default=1000, help="points drawn afresh, or training images picked by seed")
    p.add_argument("--out", default="roundtrip.npz", help="arrays x0, xT and x0_rec")
    p.add_argument("--refine", type=int, default=0,
                   help="fixed-point iterations per inverse step (Pan et al. 2023; one model call each)")  # fmt: skip
    p.add_argument(
        "--solver",
        default="ddim",
        choices=("ddim", "heun"),
        help="the ODE solver run forwards to encode and backwards to decode (heun: 2 calls a step)",
    )
    p.set_defaults(run=cmd_invert)


def add_interpolate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("interpolate", help="walk between two inverted items by slerp and lerp")
    _latent_arguments(p)
    p.add_argument("--a", default="0", help="an index into the drawn items, 'x, y' for a point, or an image file")
    p.add_argument("--b", default="1", help="the other end, the same way")
    p.add_argument("--pool", type=int, default=64, help="items drawn (by --seed) that indices refer to")
    p.add_argument("--frames", type=int, default=9, help="interpolation steps, both ends included")
    p.add_argument("--out", default="morph.npz")
    p.add_argument("--gif", help="also write the morph as a GIF (a .mp4 name: an H.264 video)")
    p.add_argument("--fps", type=float, default=4)
    p.add_argument("--size", type=int, default=256, help="GIF panel size (px)")
    p.set_defaults(run=cmd_interpolate)
