"""A small CNN that classifies the bundled 8x8 digits: the evaluator of digit samples.

Trained once, deterministically (seeded split, seeded initialisation), and cached as
safetensors in the user's cache folder; a cached file is used only if its recorded
version and hash match. Evaluation: mean class confidence, class histogram, and a
memorisation check (distance to the nearest training image, and the share of samples
whose nearest / second-nearest distance ratio is under 1/3).
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

from explorer import data
from explorer.config import cache_dir
from explorer.models.classifier import DigitsCNN

VERSION = "digits-cnn/1"


SEED, HELD_OUT, EPOCHS, BATCH, LR = 0, 297, 60, 128, 3e-3


MEMORISED_RATIO = 1 / 3


_LOCK = threading.Lock()


def split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed train / held-out split of the 1,797 digits: (x_train, y_train, x_test, y_test)."""
    images, labels = data.digits()
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(SEED))
    test, train = order[:HELD_OUT], order[HELD_OUT:]
    return images[train], labels[train], images[test], labels[test]


def train_classifier() -> DigitsCNN:
    """Full training run (a few seconds on a CPU); deterministic for a given torch build."""
    x, y, _, _ = split()
    torch.manual_seed(SEED)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED + 1)
    for _ in range(EPOCHS):
        for batch in torch.randperm(x.shape[0], generator=gen).split(BATCH):
            shift = torch.randint(-1, 2, (2,), generator=gen).tolist()  # +-1 pixel translation
            xb = torch.roll(x[batch], shifts=shift, dims=(2, 3))
            loss = nn.functional.cross_entropy(model(xb), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def cache_path() -> Path:
    return cache_dir() / "digits-classifier.safetensors"


@lru_cache(maxsize=1)
def classifier() -> DigitsCNN:
    """The evaluator, from the cache when valid, else trained now and cached."""
    with _LOCK:
        path, model = cache_path(), DigitsCNN()
        meta = path.with_suffix(".json")
        try:
            info = json.loads(meta.read_text())
            if info["version"] == VERSION and info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest():
                model.load_state_dict(load_file(path))
                return model.eval()
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # missing, stale or damaged: train afresh
        with torch.enable_grad():  # callers may hold no_grad (evaluate_digits does)
            model = train_classifier()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, path)
        meta.write_text(json.dumps({"version": VERSION, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
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
