"""What the in-browser player receives: payload size and the time to build it, per recorded run.

The shipped spiral-mlp's DDPM-1000 run (201 recorded frames) at 1,000 and 5,000 points, and a
comparison of DDPM-200, DDIM-50 and DPM-Solver++(2M)-15 at 5,000 points (the browser test's run);
the frame rate itself is measured in headless Chromium by tests/test_browser.py.
Run: python -m benchmarks.player   (writes results/player.json)
"""

from __future__ import annotations

import time

from benchmarks.common import report
from explorer.runs.compare import CompareSettings, run_comparison
from explorer.runs.reverse import ReverseSettings, run_reverse
from explorer.sampling.registry import SamplerSettings
from explorer.viz.playback import compare_payload, reverse_payload
from explorer.viz.player import payload_bytes


def measure(name: str, run: object, build) -> dict:
    start = time.perf_counter()
    value = build(run)
    seconds = time.perf_counter() - start
    points = value["panels"][0].get("n", 0)
    levels = {panel.get("levels") for panel in value["panels"]} - {None}
    return {"run": name, "points": points, "panels": len(value["panels"]), "clock frames": value["frames"],
            "bits": ",".join(str(int(level).bit_length() - 1) for level in sorted(levels)) or "png",
            "payload MB": round(payload_bytes(value) / 2**20, 2), "build s": round(seconds, 2)}  # fmt: skip


def main() -> None:
    rows = []
    for n in (1000, 5000):
        run = run_reverse(ReverseSettings("spiral-mlp", n=n))
        rows.append(measure(f"reverse DDPM-1000, {n} points", run, reverse_payload))
    configs = (SamplerSettings("ddpm", 200, spacing="leading"), SamplerSettings("ddim", 50, spacing="trailing"),
               SamplerSettings("dpmpp2m", 15, spacing="logsnr"))  # fmt: skip
    comparison = run_comparison(CompareSettings("spiral-mlp", configs, n=5000))
    rows.append(measure("compare DDPM-200 | DDIM-50 | DPM++-15, 5000 points", comparison, compare_payload))
    digits = run_reverse(ReverseSettings("digits-unet", n=16))
    rows.append(measure("reverse DDPM-1000, 16 digits", digits, reverse_payload))
    report("player", rows, ["run", "points", "panels", "clock frames", "bits", "payload MB", "build s"])


if __name__ == "__main__":
    main()
