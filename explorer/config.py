"""Paths, environment names and the compute device: where models and caches live, chosen once.

EXPLORER_MODELS_DIR holds the user's trained models, EXPLORER_CACHE_DIR derived data (the
digits evaluator, quality curves), EXPLORER_DEVICE overrides the device (cuda, then mps, then cpu).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

DEVICE_ENV = "EXPLORER_DEVICE"
ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set by Hugging Face on ZeroGPU hardware
CUDA_GRAPHS_ENV = "EXPLORER_CUDA_GRAPHS"  # on: models on a GPU replay their forward pass as CUDA graphs


def pick_device(override: str | None = None) -> torch.device:
    """The device to use: `override` (or $EXPLORER_DEVICE) if given, else cuda, mps, cpu."""
    name = override or os.environ.get(DEVICE_ENV)
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available here")
        if name == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but MPS is not available here")
        try:
            return torch.device(name)
        except RuntimeError:
            raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def truthy(value: str | None) -> bool:
    """An environment flag's value read as on or off."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def zero_gpu() -> bool:
    """Whether this is Hugging Face ZeroGPU hardware (it lends its GPU one wrapped call at a time)."""
    return truthy(os.environ.get(ZERO_GPU_ENV))


def cuda_graphs() -> bool:
    """Whether models loaded onto a GPU sample through CUDA graphs (sampling.graphs). Off unless
    $EXPLORER_CUDA_GRAPHS is on: the graphed path has not yet been measured on a lent GPU (issue 20)."""
    return truthy(os.environ.get(CUDA_GRAPHS_ENV))


def model_device() -> torch.device:
    """The device the model registry loads onto when a caller names none: $EXPLORER_DEVICE if set, else
    cuda where present, else the CPU. Not mps unless named (the likelihood runs and inversion compute in
    float64, which MPS lacks), and not the GPU on ZeroGPU hardware, which lends it only inside a wrapped
    call while the registry keeps models between calls."""
    if os.environ.get(DEVICE_ENV):
        return pick_device()
    if torch.cuda.is_available() and not zero_gpu():
        return torch.device("cuda")
    return torch.device("cpu")


SHIPPED_ENV = "EXPLORER_SHIPPED_DIR"  # overrides where the shipped checkpoints are


def shipped_dir() -> Path:
    """The shipped checkpoints: $EXPLORER_SHIPPED_DIR, else the checkout's checkpoints/, else the
    installed data package explorer_shipped (pyproject.toml maps it onto checkpoints/)."""
    if os.environ.get(SHIPPED_ENV):
        return Path(os.environ[SHIPPED_ENV])
    checkout = Path(__file__).resolve().parents[1] / "checkpoints"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec("explorer_shipped")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return checkout


SHIPPED_DIR = shipped_dir()


CACHE_ENV = "EXPLORER_CACHE_DIR"


MODELS_ENV = "EXPLORER_MODELS_DIR"  # where the app and `train` without a path keep new models


def cache_dir() -> Path:
    """Derived data worth keeping between runs (the evaluator, quality curves):
    $EXPLORER_CACHE_DIR or ~/.cache/diffusion-explorer."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "diffusion-explorer")


def user_models_dir() -> Path:
    """Models trained by this user: $EXPLORER_MODELS_DIR or ~/.cache/diffusion-explorer/models."""
    return Path(os.environ.get(MODELS_ENV) or Path.home() / ".cache" / "diffusion-explorer" / "models")


def model_roots() -> list[Path]:
    """Where the registry looks, in order: the shipped checkpoints, then the user's."""
    return [SHIPPED_DIR, user_models_dir()]
