"""Forward tab speed: server-side time of one t-slider update and of a 100-frame GIF export.

A slider update is what the /forward_step handler does plus Gradio's serialisation of
its outputs (plotly JSON, the image file): median of 50 updates at random t.
Targets on 2 CPU cores: < 30 ms per update, < 2 s per 100-frame GIF.
Run: python -m benchmarks.forward
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData
from PIL import Image

from benchmarks.common import median_ms, report
from explorer.runs.forward import ForwardSettings, forward_process
from explorer.ui.forward_tab import view_outputs
from explorer.viz.animations import export_forward_gif

UPDATES, GIF_FRAMES, GIF_SIZE = 50, 100, 384


def serialise(outputs: tuple, image: gr.Image, plot: gr.Plot) -> None:
    """What Gradio does with the handler's outputs (updates and values) before sending them."""
    for out in outputs:
        value = out.get("value") if isinstance(out, dict) else out
        if isinstance(value, np.ndarray):
            image.postprocess(value)
        elif isinstance(value, PlotData):
            plot.postprocess(value)


def slider_update_ms(settings: ForwardSettings) -> float:
    forward_process(settings).x_at(1)  # build x0 (and the chain) once, as the first view does
    steps = random.Random(0).choices(range(1, settings.T + 1), k=UPDATES + 3)
    image, plot = gr.Image(format="png"), gr.Plot()  # as the tab's panels are configured
    return median_ms(lambda i: serialise(view_outputs(settings, steps[i], []), image, plot), UPDATES)


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
            update = slider_update_ms(settings)
            gif = gif_seconds(settings, Path(tmp) / "f.gif")
            rows.append(
                {
                    "case": name,
                    "slider update ms (median of 50)": round(update, 1),
                    f"{GIF_FRAMES}-frame GIF s ({GIF_SIZE}px)": round(gif, 2),
                }
            )
    report("forward", rows, list(rows[0]))


if __name__ == "__main__":
    main()
