"""Forward tab speed: what a setting change costs the server (building the process and the
player's payload, which then plays every t in the browser), the payload's size, and a 100-frame
GIF export. The browser's cost of one t (a scrub) is measured by tests/test_browser.py.
Targets on 2 CPU cores: < 0.5 s per setting change, payload < 5 MB, < 2 s per 100-frame GIF.
Run: python -m benchmarks.forward
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import report
from explorer.runs.forward import ForwardProcess, ForwardSettings, forward_process
from explorer.ui.forward_tab import describe
from explorer.viz.animations import export_forward_gif
from explorer.viz.playback import forward_payload

GIF_FRAMES, GIF_SIZE = 100, 384


def setting_change(settings: ForwardSettings) -> tuple[float, float]:
    """Seconds to build the process and its payload from nothing, and the payload's MB as JSON."""
    start = time.perf_counter()
    process = ForwardProcess(settings)  # not the memoised one: a new setting
    value = forward_payload(process, lambda t: describe(process, t))
    return time.perf_counter() - start, len(json.dumps(value)) / 2**20


def gif_seconds(settings: ForwardSettings, out: Path) -> float:
    forward_process(settings)
    start = time.perf_counter()
    export_forward_gif(settings, GIF_FRAMES, 12, GIF_SIZE, out)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(photo)
        cases = {
            "spiral, 10,000 points, shortcut": ForwardSettings(n_points=10_000),
            "spiral, 10,000 points, chain": ForwardSettings(n_points=10_000, mode="chain"),
            "64x64 RGB image, shortcut": ForwardSettings(dataset="upload", image_path=str(photo), image_size=64),
            "digits, 16 images, shortcut": ForwardSettings(dataset="digits"),
        }
        rows = []
        for name, settings in cases.items():
            seconds, size = setting_change(settings)
            gif = gif_seconds(settings, Path(tmp) / "f.gif")
            rows.append(
                {
                    "case": name,
                    "setting change s": round(seconds, 2),
                    "payload MB": round(size, 2),
                    f"{GIF_FRAMES}-frame GIF s ({GIF_SIZE}px)": round(gif, 2),
                }
            )
    report("forward", rows, list(rows[0]))


if __name__ == "__main__":
    main()
