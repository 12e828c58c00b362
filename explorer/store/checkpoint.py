"""Checkpoints: safetensors weights beside a JSON config; nothing is ever unpickled.

A checkpoint is a folder NAME/ holding `model.safetensors` (the EMA weights used for
sampling, and optionally `train.safetensors` with the raw weights and optimiser state
for resuming) and `config.json` (model, hyper-parameters, schedule, dataset, prediction,
steps, seed, command, metrics, library versions, and the SHA-256 of each weights file).

A checkpoint written again (a training run's periodic saves) stores each tensor file under a
name carrying its hash, `model.<sha>.safetensors`, which config.json maps from the logical
name ("stored"). The new files are complete before config.json is atomically replaced, and
the old ones are removed only after, so a process killed at any instant leaves a config
whose files are all there: the previous checkpoint or the new one, never a mix. Loading
validates the config and the hashes.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from explorer.limits import quote
from explorer.models.networks import build_model
from explorer.store.files import atomic_write, sha256_file, sweep_temporaries
from explorer.store.info import FORMAT, CheckpointInfo, parse_info

CONFIG, WEIGHTS = "config.json", "model.safetensors"


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


STORED_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(\.[0-9a-f]{16})?\.safetensors$")  # a plain file name, never a path


def check_name(name: str) -> str:
    """A checkpoint name is one plain path component: letters, digits, '_', '-', '.'."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise ValueError(f"bad model name {quote(name)}: use letters, digits, '_', '-' and '.', no path separators")
    return name


def library_versions() -> dict[str, str]:
    import numpy

    return {"torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version()}


def save_checkpoint(
    folder: str | os.PathLike,
    weights: dict[str, torch.Tensor],
    config: dict[str, Any],
    extra_files: dict[str, dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Write weights (and extra tensor files, e.g. train.safetensors) and config.json atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(folder)
    files = {WEIGHTS: weights, **(extra_files or {})}
    hashes, stored = {}, {}
    for filename, tensors in files.items():
        contiguous = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        staging = folder / f".{filename}.staging"
        atomic_write(staging, lambda tmp, c=contiguous: save_file(c, tmp))
        hashes[filename] = sha256_file(staging)
        stored[filename] = stored_name(filename, hashes[filename])
        os.replace(staging, folder / stored[filename])
    full = {"format": FORMAT, **config, "files": hashes, "stored": stored, "versions": library_versions()}
    atomic_write(folder / CONFIG, lambda tmp: Path(tmp).write_text(json.dumps(full, indent=2) + "\n"))
    _remove_unreferenced(folder, set(stored.values()))
    return folder


def stored_name(filename: str, sha256: str) -> str:
    """'model.safetensors' with hash ab12... is stored as 'model.ab12....safetensors'."""
    stem, _, suffix = filename.rpartition(".")
    return f"{stem}.{sha256[:16]}.{suffix}"


def _remove_unreferenced(folder: Path, keep: set[str]) -> None:
    """Delete tensor files of earlier saves that the (new) config no longer names."""
    for path in folder.glob("*.safetensors"):
        if path.name not in keep:
            with contextlib.suppress(OSError):  # removed meanwhile, or read-only: a harmless leftover
                path.unlink()


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The validated config.json of a checkpoint folder, as JSON (the trainer updates and rewrites it;
    every reader wants read_info)."""
    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG).read_text())
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {folder} ({CONFIG} is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{folder / CONFIG} is not valid JSON ({error})") from None
    parse_info(config, folder)
    return config


def read_info(folder: str | os.PathLike) -> CheckpointInfo:
    """The typed contents of a checkpoint folder's config.json."""
    return parse_info(read_config(folder), Path(folder))


def tensor_path(folder: Path, info: CheckpointInfo, filename: str) -> Path:
    """Where the checkpoint keeps the tensor file `filename` (checked to be a plain name in `folder`)."""
    name = info.stored.get(filename, filename)  # checkpoints written once (the shipped ones) store plain names
    if not isinstance(name, str) or not STORED_PATTERN.match(name):
        raise ValueError(f"{folder / CONFIG}: bad stored file name {name!r}")
    return Path(folder) / name


def load_tensors(folder: Path, filename: str, info: CheckpointInfo) -> dict[str, torch.Tensor]:
    """A tensor file of the checkpoint, after checking its SHA-256 against the config."""
    path = tensor_path(folder, info, filename)
    expected = info.files.get(filename)
    if expected is None or not path.is_file():
        raise ValueError(f"{path} is missing")
    if sha256_file(path) != expected:
        raise ValueError(f"{path} does not match its recorded hash: truncated or modified")
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} is not a readable safetensors file ({error})") from None


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, in eval mode, with what its config.json says."""

    name: str
    model: torch.nn.Module
    info: CheckpointInfo

    @property
    def device(self) -> torch.device:
        """Where the parameters live: a run moves its inputs here and its results back to the CPU."""
        return next(self.model.parameters()).device


def load_checkpoint(folder: str | os.PathLike, device: torch.device | str = "cpu",
                    info: CheckpointInfo | None = None) -> LoadedModel:  # fmt: skip
    """Rebuild the model named in config.json (or in `info`, read from it just before) and load its
    (EMA) weights strictly; the weights must match the hash the config records."""
    folder = Path(folder)
    info = info or read_info(folder)
    sweep_temporaries(folder)
    model = build_model(info.model, info.hyper)
    weights = load_tensors(folder, WEIGHTS, info)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"{folder / WEIGHTS} does not fit model {info.model!r}: {first}") from None
    return LoadedModel(folder.name, model.to(device).eval(), info)
