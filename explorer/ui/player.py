"""The in-browser player as a Gradio component: a gr.HTML whose value is a recorded run's payload
(explorer/viz/player.py) and whose JavaScript (player.js, shipped here: no CDN) draws, plays and
scrubs it with requestAnimationFrame. Playing and scrubbing send no request to the server."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

PLAYER_JS = (Path(__file__).with_name("player.js")).read_text()
HEAD = f"<script>{PLAYER_JS}</script>"
TEMPLATE = '<div class="xp-player"></div>'  # static: a new value re-renders nothing, player.js redraws
CSS = """
.xp-root {outline: none; font: 13px sans-serif; color: #28283a}
.xp-root:focus-visible {outline: 2px solid #6366f1; outline-offset: 2px}
.xp-bar {display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-bottom: 4px}
.xp-bar button {min-width: 34px; padding: 3px 8px; border: 1px solid #d1d5db; border-radius: 6px;
                background: #fff; cursor: pointer; color: #28283a; line-height: 0}
.xp-bar button svg {display: inline-block; vertical-align: middle}
.xp-scrub {flex: 1 1 200px; min-width: 120px}
.xp-stage {display: grid; gap: 8px}
.xp-panel {margin: 0; min-width: 0}
.xp-panel canvas {width: 100%; max-width: 420px; height: auto; border-radius: 6px; background: #f6f6f9}
@media (max-width: 640px) {.xp-stage {grid-template-columns: repeat(2, minmax(0, 1fr)) !important}}
.xp-curve {width: 100%; max-width: 760px; height: auto; margin-top: 6px}
.xp-label {min-height: 1.4em; margin: 2px 0 6px}
.xp-empty {padding: 24px; color: #6b7280}
"""


def player(elem_id: str, label: str, button: str = "Sample", hint: str | None = None) -> gr.HTML:
    """An empty player; until a run arrives it says which button records one (or `hint`)."""
    mount = "window.explorerPlayer.mount(element, props, watch);"
    return gr.HTML(None, html_template=TEMPLATE, css_template=CSS, head=HEAD, js_on_load=mount, elem_id=elem_id,
                   label=label, apply_default_css=False,
                   hint=hint or f"Press {button} to record a run; it then plays here, in your browser.")  # fmt: skip
