"""The Gradio interface: one module per tab, assembled by build_demo()."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from explorer.limits import MAX_UPLOAD_BYTES  # noqa: E402
from explorer.serve.state import AppState, make_state  # noqa: E402
from explorer.ui import (  # noqa: E402
    compare_tab,
    discrete_tab,
    forward_tab,
    guidance_tab,
    latent_tab,
    reverse_tab,
    score_tab,
    training_tab,
)
from explorer.ui.common import OUTPUT_DIR, guard_inputs  # noqa: E402
from explorer.ui.middleware import RequestGuard  # noqa: E402
from explorer.ui.warm import warm  # noqa: E402

TITLE = "Diffusion explorer"
LIGHT_CONCURRENCY = 4
MAX_QUEUED = 64
PHONE_PX = 768  # below this width the view comes first and the controls after it
CSS = f"""
.gradio-container {{max-width: 1800px !important}}
#fwd-info p {{font-size: 0.95em; margin: 0}}
@media (max-width: {PHONE_PX}px) {{ .xp-controls {{order: 1}} }}
/* a long choice in a narrow dropdown ends in an ellipsis before the arrow, not under it */
input[role="combobox"] {{text-overflow: ellipsis; min-width: 0; padding-right: 22px !important}}
"""


def build_demo(state: AppState | None = None, warm_defaults: bool = False) -> gr.Blocks:
    """The whole app as a Blocks, ready to launch, over `state` (default: a new AppState with the
    limits in force, the process's model registry, an empty run store and a training queue); with
    warm_defaults, the default runs start recording in the background (ui/warm.py)."""
    state = state or make_state(training_tab.make_job)
    torch.set_num_threads(state.limits.torch_threads)  # thread hygiene: see explorer/serve/limits.py
    with gr.Blocks(title=TITLE, delete_cache=(1800, 3600)) as demo:
        intro = "See how diffusion models noise data and generate it back."
        if state.limits.read_only:
            intro += " This server is read-only: it samples the models it has; run the app yourself to train."
        gr.Markdown(f"# {TITLE}\n{intro}")
        with gr.Tabs():
            with gr.Tab("Forward noising", id="forward"):
                forward_refresh = forward_tab.build()
            with gr.Tab("Reverse denoising", id="reverse") as reverse:
                reverse_picker = reverse_tab.build(state)
            with gr.Tab("Sampler comparison", id="compare") as comparison:
                compare_picker = compare_tab.build(state)
            with gr.Tab("Latent space", id="latent") as latent:
                latent_picker = latent_tab.build(state)
            with gr.Tab("Discrete (D3PM)", id="discrete") as discrete:
                discrete_refresh = discrete_tab.build(state)
            with gr.Tab("Guidance", id="guidance"):
                guidance_tab.build(state)
            with gr.Tab("Score and likelihood", id="score") as score:
                score_pickers = score_tab.build(state)
            if not state.limits.read_only:  # a read-only server serves the models it has
                with gr.Tab("Train", id="train"):
                    training_tab.build(state)
        # a model trained meanwhile shows up in the picker when the tab is opened
        reverse.select(reverse_tab.refresh_models, reverse_picker["model"], reverse_picker["model"],
                       api_visibility="private")  # fmt: skip
        comparison.select(reverse_tab.refresh_models, compare_picker["model"], compare_picker["model"],
                          api_visibility="private")  # fmt: skip
        latent.select(reverse_tab.refresh_models, latent_picker["model"], latent_picker["model"],
                      api_visibility="private")  # fmt: skip
        score.select(score_tab.refresh_models, score_pickers, score_pickers, api_visibility="private")
        discrete.select(**discrete_refresh, show_progress="hidden", api_visibility="private")
        demo.load(**forward_refresh, show_progress="hidden", api_visibility="private")
        demo.load(**compare_picker["timesteps"], show_progress="hidden", api_visibility="private")
    # light requests (scrubbing recorded frames) run LIGHT_CONCURRENCY at a time per event; heavy ones
    # share the "sampling" group (common.sampling_queue); at most MAX_QUEUED requests wait
    demo.queue(default_concurrency_limit=LIGHT_CONCURRENCY, max_size=MAX_QUEUED)
    guard_inputs(demo)
    if warm_defaults:
        warm(demo)
    return demo


NAMES_JS = (Path(__file__).with_name("names.js")).read_text()


def accessible_names(demo: gr.Blocks) -> dict[str, str]:
    """Each plot and image's elem_id and label: what names.js gives them as aria-label and alt text."""
    return {block.elem_id: str(block.label) for block in demo.blocks.values()
            if isinstance(block, (gr.Plot, gr.Image)) and block.elem_id and block.label}  # fmt: skip


def launch_kwargs(demo: gr.Blocks) -> dict:
    """Arguments for demo.launch() shared by app.py and the tests (the limits must be configured)."""
    names = json.dumps(accessible_names(demo), ensure_ascii=False).replace("</", "<\\/")
    return dict(
        head=f"<script>window.explorerNames = {names};</script><script>{NAMES_JS}</script>",
        app_kwargs={"middleware": [Middleware(RequestGuard)]},
        theme=gr.themes.Soft(primary_hue="indigo"),
        css=CSS,
        max_file_size=MAX_UPLOAD_BYTES,
        allowed_paths=[str(OUTPUT_DIR)],
        show_error=True,
    )
