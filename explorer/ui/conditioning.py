"""The class picker and guidance-scale slider that the Reverse and Comparison tabs share.

Both are hidden until a class-conditional model is picked; the core (explorer.guidance)
reads and checks their values.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from explorer.core.guidance import ANY_CLASS
from explorer.store.registry import model_classes

SCALE_STEP = 0.25
SCALE_SLIDER_MAX = 10.0  # the slider's range; the API accepts up to guidance.MAX_GUIDANCE


def class_choices(classes: tuple[str, ...] | list[str], unconditional: bool = True) -> list[tuple[str, str]]:
    """A class picker's choices: 'index: name' for each class, after "any" (unconditional) if asked."""
    first = [("any (unconditional)", ANY_CLASS)] if unconditional else []
    return first + [(f"{i}: {name}", str(i)) for i, name in enumerate(classes)]


def controls(prefix: str) -> tuple[gr.Dropdown, gr.Slider]:
    """A class dropdown ("any" first) and a w slider, with elem_ids `{prefix}-class` and `{prefix}-w`."""
    label = gr.Dropdown(class_choices(()), value=ANY_CLASS, label="Class", visible=False,
                        elem_id=f"{prefix}-class", allow_custom_value=True)  # fmt: skip
    scale = gr.Slider(0, SCALE_SLIDER_MAX, 1.0, step=SCALE_STEP, visible=False, elem_id=f"{prefix}-w",
                      label="Guidance scale w (0: unconditional, 1: conditional, > 1: guided)")  # fmt: skip
    return label, scale


def on_model(model: str | None, current: str | None) -> tuple[Any, Any]:
    """Show the class picker (keeping a choice the new model also has) for a conditional model;
    hide it, and so sample unconditionally, for any other."""
    classes = model_classes(model)
    choices = class_choices(classes)
    keep = current if classes and current in {value for _, value in choices} else ANY_CLASS
    return gr.update(choices=choices, value=keep, visible=bool(classes)), gr.update(visible=bool(classes))
