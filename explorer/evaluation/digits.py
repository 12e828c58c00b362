"""A small CNN that classifies the bundled 8x8 digits: the evaluator of digit samples.

Trained by `python -m explorer evaluator` (seeded split, seeded initialisation, seeded augmentation:
random rotations of up to 11 degrees, scalings of up to 10% and shifts of up to one pixel), and shipped
as safetensors in checkpoints/evaluators/ with a JSON record (version, seed, command, held-out accuracy,
SHA-256). Loading prefers the shipped file, then the user's cache, and trains into the cache only when
neither is valid (about 10 s on 2 CPU cores). Evaluation: mean class confidence, class histogram, and a
memorisation check (distance to the nearest training image, and the share of samples whose nearest /
second-nearest distance ratio is under 1/3).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from explorer import data
from explorer.config import SHIPPED_DIR, cache_dir
from explorer.models.classifier import DigitsCNN

VERSION = "digits-cnn/2"


HELD_OUT = data.HELD_OUT  # the fixed train / held-out split (1,500 / 297 digits, data.split_indices)
SEED, EPOCHS, BATCH, LR, LABEL_SMOOTHING = 0, 60, 128, 3e-3, 0.05
ROTATION, SCALING, SHIFT = 0.2, 0.1, 0.25  # radians, relative, and one pixel in affine_grid's [-1, 1]


MEMORISED_RATIO = 1 / 3


_LOCK = threading.Lock()


def split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed train / held-out split of the 1,797 digits: (x_train, y_train, x_test, y_test)."""
    images, labels = data.digits()
    train, test = data.split_indices()
    return images[train], labels[train], images[test], labels[test]


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random small rotation, scaling and shift of each image (background -1 stays -1)."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * ROTATION
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * SCALING
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * SHIFT
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def train_classifier(seed: int = SEED) -> DigitsCNN:
    """Full training run on the split's 1,500 training digits (one-cycle AdamW, label smoothing);
    deterministic for a given torch build and seed."""
    x, y, _, _ = split()
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    batches = (len(x) + BATCH - 1) // BATCH
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=EPOCHS * batches)
    gen = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.enable_grad():  # callers may hold no_grad (evaluate_digits does)
        for _ in range(EPOCHS):
            for batch in torch.randperm(len(x), generator=gen).split(BATCH):
                loss = F.cross_entropy(model(augment(x[batch], gen)), y[batch], label_smoothing=LABEL_SMOOTHING)
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
    return model.eval()


@torch.no_grad()
def held_out_accuracy(model: nn.Module) -> float:
    _, _, x_test, y_test = split()
    return float((model(x_test).argmax(1) == y_test).float().mean())


EVALUATOR_FILE = "digits-cnn.safetensors"


def shipped_path() -> Path:
    return SHIPPED_DIR / "evaluators" / EVALUATOR_FILE


def cache_path() -> Path:
    return cache_dir() / EVALUATOR_FILE


def save_evaluator(model: DigitsCNN, path: Path, record: dict) -> None:
    """The weights (atomically) and, beside them, the JSON record with their SHA-256, written last."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)
    record = {"version": VERSION, **record, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


def _load(path: Path) -> DigitsCNN | None:
    """The evaluator at `path` if its record's version and hash match, else None."""
    try:
        info = json.loads(path.with_suffix(".json").read_text())
        if info["version"] == VERSION and info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest():
            model = DigitsCNN()
            model.load_state_dict(load_file(path))
            return model.eval()
    except (OSError, ValueError, KeyError, RuntimeError):
        pass  # missing, stale or damaged
    return None


@lru_cache(maxsize=1)
def classifier() -> DigitsCNN:
    """The evaluator: the shipped one, else the cached one, else trained now and cached."""
    with _LOCK:
        for path in (shipped_path(), cache_path()):
            model = _load(path)
            if model is not None:
                return model
        model = train_classifier()
        save_evaluator(model, cache_path(), {"seed": SEED, "held_out_accuracy": held_out_accuracy(model)})
        return model


@dataclass(frozen=True)
class DigitsReport:
    """What the evaluator says of a batch of generated digits."""

    confidence: float  # mean max-softmax probability
    histogram: list[int]  # samples per predicted class 0..9
    nearest_distance: float  # mean L2 distance to the nearest training image (pixels in [-1, 1])
    memorised: float  # share with nearest / second-nearest distance < 1/3


@torch.no_grad()
def evaluate_digits(samples: torch.Tensor) -> DigitsReport:
    """Evaluate (N, 1, 8, 8) samples in [-1, 1] (clipped to that range first)."""
    x = samples.detach().float().cpu().clamp(-1, 1)
    probs = torch.softmax(classifier()(x), dim=1)
    train, _ = data.digits()
    dist = torch.cdist(x.reshape(len(x), -1), train.reshape(len(train), -1))  # (N, 1797)
    two = dist.topk(2, largest=False).values  # (N, 2)
    return DigitsReport(
        confidence=float(probs.max(1).values.mean()),
        histogram=torch.bincount(probs.argmax(1), minlength=10).tolist(),
        nearest_distance=float(two[:, 0].mean()),
        memorised=float((two[:, 0] < MEMORISED_RATIO * two[:, 1]).float().mean()),
    )


@torch.no_grad()
def predict_digits(images: torch.Tensor) -> torch.Tensor:
    """The classifier's digit (N,) for (N, 1, 8, 8) images in [-1, 1]."""
    return classifier()(images.detach().float().cpu().clamp(-1, 1)).argmax(1)
