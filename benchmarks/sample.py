"""Sampling speed and quality of the shipped models with DDPM-1000 on this machine.

spiral-mlp: 10,000 points, points per second and mean distance to the spiral.
digits-unet: 5 batches of 64 digits (the app's cap), images per second, the Fréchet distance of the first 297 in
the digits evaluator's features (297 real held-out digits score about 5.3), the share of samples that are
near-copies of a training digit, and the class histogram.
Beside each, the network's forward passes alone (the sampler's overhead is the ratio), and the Reverse tab's
default Sample as the server computes it. With --graphs (on a GPU) each model is sampled again with its
network replayed as CUDA graphs (explorer.sampling.graphs), capture included in the time.
Run: python -m benchmarks.sample [--device cuda] [--graphs]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks.common import report
from explorer.config import CUDA_GRAPHS_ENV, pick_device
from explorer.evaluation.digits import classifier, evaluate_digits
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.evaluation.sample_report import digits_fd
from explorer.runs.common import trajectory
from explorer.sampling.graphs import Graphed
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import REGISTRY
from explorer.training.config import sample_shape

CASES = {"spiral-mlp": (10_000, 1), "digits-unet": (64, 5)}  # batch size (the app's cap), batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    parser.add_argument("--graphs", action="store_true",
                        help="also sample with the network as CUDA graphs (sampling.graphs; GPU only)")  # fmt: skip
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.graphs and device.type != "cuda":
        parser.error(f"--graphs records CUDA graphs: it needs a cuda device, not {device.type}")
    classifier()  # train or load the evaluator before timing anything
    rows = []
    for name, (n, batches) in CASES.items():
        loaded = REGISTRY.handle(name, str(device))
        schedule = loaded.schedule
        forward = forward_seconds(loaded.model, schedule.T, (n, *sample_shape(loaded.hyper, 1)[1:]), batches, device)
        networks = {"eager": loaded.model, **({"CUDA graphs": Graphed(loaded.model)} if args.graphs else {})}
        for network, model in networks.items():
            _sync(device)
            start, finals = time.perf_counter(), []
            for seed in range(batches):  # a graphed network records its shape in the first batch: counted
                _, xs, _, nfe = trajectory(loaded, schedule, n, seed, SamplerSettings(), {0}, model=model)
                finals.append(xs[-1])
            _sync(device)
            seconds = time.perf_counter() - start
            samples = torch.cat(finals)
            row = {"model": name, "device": str(device), "network": network, "samples": len(samples),
                   "NFE each": nfe, "seconds": round(seconds, 2), "samples/s": round(len(samples) / seconds, 1),
                   "forward-only s": round(forward, 2), "sampler / forward": round(seconds / forward, 2)}  # fmt: skip
            if name.startswith("spiral"):
                row["quality"] = f"spiral distance {mean_spiral_distance(samples):.4f}"
            else:
                r = evaluate_digits(samples)
                row["quality"] = (f"FD {digits_fd(samples):.2f}, near-copies {r.memorised:.1%}, "
                                  f"classes {r.histogram}")  # fmt: skip
            rows.append(row)
    report(f"sample-{device.type}", rows, list(rows[0]))
    tabs = [reverse_tab_seconds()]
    if args.graphs:  # the app's own switch: the registry then loads GPU models with their graphs
        os.environ[CUDA_GRAPHS_ENV] = "1"
        REGISTRY.invalidate("spiral-mlp")
        graphed = reverse_tab_seconds()
        tabs.append({**graphed, "what": graphed["what"] + ", CUDA graphs"})
    report(f"reverse-tab-{device.type}", tabs, list(tabs[0]))


@torch.no_grad()
def forward_seconds(model: torch.nn.Module, T: int, shape: tuple[int, ...], batches: int, device) -> float:
    """The network's own cost in a DDPM-T run: T forward passes on a batch of `shape` (one t each, as the
    sampler calls it), `batches` times, nothing else; what the sampler adds is its overhead."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    model(x, torch.tensor(T - 1, device=device))  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        for t in range(T - 1, -1, -1):
            model(x, torch.tensor(t, device=device))
    _sync(device)
    return time.perf_counter() - start


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reverse_tab_seconds(repeats: int = 3) -> dict:
    """The Reverse tab's default Sample as the server computes it, at the server's torch threads (the
    run, the player's payload, the inspected frame and the strip), median of `repeats` fresh runs, its
    parts beside it; a press whose run start-up warming already recorded (ui/warm.py) costs the last two."""
    import statistics

    from explorer.runs.reverse import ReverseSettings, run_reverse
    from explorer.serve.limits import limits
    from explorer.ui.reverse_tab import DEFAULT_MODEL, strip_at, view
    from explorer.viz.playback import reverse_payload

    threads = torch.get_num_threads()
    torch.set_num_threads(limits().torch_threads)
    run_reverse(ReverseSettings(DEFAULT_MODEL, n=10))  # load the model, warm up
    parts: dict[str, list[float]] = {"run": [], "payload": [], "view and strip": []}
    for _ in range(repeats):
        start = time.perf_counter()
        run = run_reverse(ReverseSettings(DEFAULT_MODEL))
        parts["run"].append(time.perf_counter() - start)
        start = time.perf_counter()
        reverse_payload(run)
        parts["payload"].append(time.perf_counter() - start)
        start = time.perf_counter()
        view(run, 0, True), strip_at(run, "")
        parts["view and strip"].append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    medians = {k: statistics.median(v) for k, v in parts.items()}
    return {"what": f"Reverse tab default Sample ({DEFAULT_MODEL}, {ReverseSettings(DEFAULT_MODEL).n} points, "
                    f"DDPM-1000, {limits().torch_threads} torch thread)", "server s": round(sum(medians.values()), 2),
            **{f"{k} s": round(v, 2) for k, v in medians.items()},
            "warmed press s": round(medians["payload"] + medians["view and strip"], 2)}  # fmt: skip


if __name__ == "__main__":
    main()
