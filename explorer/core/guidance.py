"""Classifier-free guidance (Ho & Salimans 2022) for class-conditional models.

One network, trained with label dropout, gives both the conditional output f(x_t, t, y) and
the unconditional one f(x_t, t, null). Guidance extrapolates between them:
f_w = f_null + w (f_y - f_null), w = 0 unconditional, 1 conditional, > 1 guided. The outputs
eps, x0, v and the flow velocity are each affine in eps for a fixed x_t, so guiding any of
them is the same as guiding eps: every sampler takes the guided model unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from explorer.limits import check_float, check_int

MAX_GUIDANCE = 20.0


def num_classes(model: nn.Module) -> int:
    """How many classes a model is conditioned on (0: unconditional)."""
    return int(getattr(model.config, "num_classes", 0))


def check_label(model: nn.Module, label: Any) -> int:
    n = num_classes(model)
    if n == 0:
        raise ValueError("this model is not class-conditional: train one with --conditional to pick a class")
    return check_int("class label", label, 0, n - 1)


class Guided(nn.Module):
    """model(x, t) with classifier-free guidance towards `label` at scale w (label None: unguided)."""

    def __init__(self, model: nn.Module, label: int | None, scale: float):
        super().__init__()
        self.model, self.scale = model, check_float("guidance scale", scale, 0.0, MAX_GUIDANCE)
        self.label = None if label is None else check_label(model, label)
        self.config = model.config

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.label is None or self.scale == 0.0:
            return self.model(x, t) if num_classes(self.model) == 0 else self.model(x, t, None)
        B = x.shape[0]
        y = torch.full((B,), self.label, device=x.device)
        if self.scale == 1.0:
            return self.model(x, t, y)
        t = torch.as_tensor(t, device=x.device)
        both = self.model(torch.cat([x, x]), t if t.dim() == 0 else torch.cat([t, t]),
                          torch.cat([y, torch.full_like(y, num_classes(self.model))]))  # fmt: skip
        cond, uncond = both[:B], both[B:]
        return uncond + self.scale * (cond - uncond)  # Ho & Salimans 2022, eq. 6


ANY_CLASS = "any"  # the class pickers' value for unconditional sampling


@dataclass(frozen=True)
class Conditioning:
    """Which class a run is steered to, and how hard (label None: unconditional; hashable, so
    it can key the runs' caches)."""

    label: int | None = None
    scale: float = 1.0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as the samplers should call it: guided when a class is asked for."""
        return model if self.label is None else Guided(model, self.label, self.scale)

    def caption(self, classes: tuple[str, ...] | list[str] = ()) -> str:
        if self.label is None:
            return "unconditional"
        name = classes[self.label] if self.label < len(classes) else str(self.label)
        return f"class {name}, w = {self.scale:g}"


UNCONDITIONAL = Conditioning()


def conditioning(label: Any, scale: Any) -> Conditioning:
    """A Conditioning from a class picker's value ("any", empty or None: unconditional; else a
    class index) and a guidance scale (checked here; the label is checked against the model)."""
    w = check_float("guidance scale", 1.0 if scale is None else scale, 0.0, MAX_GUIDANCE)
    if label is None or (isinstance(label, str) and label.strip().lower() in ("", ANY_CLASS)):
        return Conditioning(None, w)
    return Conditioning(check_int("class label", label, 0, 10_000), w)
