"""The model registry: model names to checkpoint folders, and models loaded from them."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explorer.config import cuda_graphs, model_device, model_roots, pick_device
from explorer.core.discrete.process import DiscreteProcess, make_process
from explorer.core.guidance import Conditioning
from explorer.core.schedules import NoiseSchedule, make_schedule
from explorer.data.registry import DataKind
from explorer.sampling.graphs import Graphed
from explorer.store.checkpoint import CONFIG, LoadedModel, check_name, load_checkpoint, read_info
from explorer.store.info import CheckpointInfo
from explorer.training.config import TrainConfig


def find_checkpoints(roots: Iterable[Path]) -> dict[str, Path]:
    """Checkpoint folders (those holding a config.json) under each root, by folder name; an earlier
    root's model wins over a later one of the same name, so a shipped name (the first root) always
    means the shipped model, whatever a user's folder holds."""
    found: dict[str, Path] = {}
    for root in roots:
        if root.is_dir():
            for config in sorted(root.glob(f"*/{CONFIG}")):
                found.setdefault(config.parent.name, config.parent)
    return found


def info_or_none(folder: Path) -> CheckpointInfo | None:
    """The checkpoint info of `folder`, or None when it cannot be read (the pickers list what they can;
    choosing a broken model reports why)."""
    try:
        return read_info(folder)
    except ValueError:
        return None


def is_discrete(folder: Path) -> bool:
    """Whether the checkpoint in `folder` is a discrete (D3PM) model."""
    info = info_or_none(folder)
    return info is not None and info.discrete is not None


def resolve_model(name: str, roots: Iterable[Path], allow_path: bool = False) -> Path:
    """The folder of the checkpoint called `name` (a plain name). With allow_path (the command line
    only: a typed field in the app never names a server path), a checkpoint folder's path too."""
    if allow_path and isinstance(name, str) and (os.sep in name or name.startswith(".")):
        folder = Path(name).expanduser()
        if not (folder / CONFIG).is_file():
            raise ValueError(f"no checkpoint at {folder} ({CONFIG} is missing)")
        return folder.resolve()
    check_name(name)
    found = find_checkpoints(roots)
    if name not in found:
        raise ValueError(f"no model named {name!r}; available: {sorted(found) or 'none'}")
    return found[name]


def conditional_models() -> list[str]:
    """Names of the registry's class-conditional models (their config lists the classes)."""

    return sorted(name for name, folder in find_checkpoints(model_roots()).items()
                  if (info := info_or_none(folder)) is not None and info.classes)  # fmt: skip


def models_of_kind(*kinds: DataKind) -> list[str]:
    """Names of the registry's models that generate one of `kinds` (points, images, categorical data)."""
    return sorted(name for name, folder in find_checkpoints(model_roots()).items()
                  if (info := info_or_none(folder)) is not None and info.kind in kinds)  # fmt: skip


def model_classes(name: str | None) -> tuple[str, ...]:
    """The class names a registry model was trained on (empty: unconditional, or no such model)."""

    if not name:
        return ()
    try:
        return load_model(name)[0].info.classes
    except ValueError:
        return ()


def is_image_model(loaded: LoadedModel) -> bool:
    return loaded.info.kind == DataKind.IMAGE


# x0_hat clipping bounds: images live in [-1, 1]; every point set is scaled into [-1, 1], kept with a margin
CLIP_BOUNDS = {DataKind.IMAGE: 1.0, DataKind.POINTS: 1.5}


def data_bound(loaded: LoadedModel) -> float:
    """B such that the model's data lie in [-B, B]: where x0_hat may be clipped."""
    return CLIP_BOUNDS[DataKind.IMAGE if is_image_model(loaded) else DataKind.POINTS]


def discrete_models() -> list[str]:
    """Names of the registry's discrete models (shipped first, then the user's)."""

    return sorted(name for name, folder in find_checkpoints(model_roots()).items() if is_discrete(folder))


@dataclass
class ModelHandle(LoadedModel):
    """A loaded model with what its checkpoint says about it: where it came from, the hash of the
    weights it was loaded from, and its process (a noise schedule, or a discrete process)."""

    folder: Path
    weights: str  # SHA-256 of the weights file these parameters were read from
    schedule: NoiseSchedule | None  # Gaussian and flow models
    process: DiscreteProcess | None  # discrete (D3PM) models
    graphed: Graphed | None = None  # the network as CUDA graphs, where config.cuda_graphs() and on a GPU

    @property
    def network(self) -> Callable[..., Any]:
        """What a sampler calls: the graphed network where there is one, else the model itself."""
        return self.graphed or self.model

    def network_for(self, cond: Conditioning) -> Callable[..., Any]:
        """What a sampler calls under `cond`: the network unconditionally, else the model guided
        towards the class (Guided checks the label against the model's classes)."""
        return self.network if cond.label is None else cond.wrap(self.model)

    @property
    def discrete(self) -> bool:
        return self.process is not None

    @property
    def kind(self) -> DataKind:
        return self.info.kind

    @property
    def dataset(self) -> str:
        return self.info.dataset

    @property
    def prediction(self) -> str:
        return self.info.prediction

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def hyper(self) -> dict[str, Any]:
        """The network's hyper-parameters (as build_model takes them)."""
        return self.info.hyper

    @property
    def train(self) -> TrainConfig:
        """The training settings the checkpoint records, typed (settings added since take their defaults)."""
        train = self.info.train
        if train is None:
            raise ValueError(f"model {self.name!r} does not record its training settings")
        try:
            return TrainConfig(**train)
        except TypeError as error:
            raise ValueError(f"model {self.name!r} records unknown training settings ({error})") from None

    @property
    def bound(self) -> float:
        """B such that the data lie in [-B, B]: where x0_hat may be clipped."""
        return data_bound(self)


class ModelKindError(ValueError):
    """A model of one kind where a run needs another (the UI adds where to open it instead)."""

    def __init__(self, name: str, kind: str, wanted: str):
        what = "a discrete (D3PM) model" if kind == DataKind.CATEGORICAL else "a Gaussian diffusion model"
        super().__init__(f"{name!r} is {what}; this needs {wanted}")
        self.name, self.kind = name, kind


MAX_LOADED = 8  # models kept in memory at once (the least recently used go first)


class ModelRegistry:
    """Model names to loaded models. A model is loaded once per (folder, weights hash, device) and
    looked up by its name's *current* weights, so a model retrained or resumed under the same name is
    served with its new weights from the next request on; invalidate() frees the old copy at once.
    Safe to use from any thread."""

    def __init__(self, roots: Callable[[], list[Path]] = model_roots, max_loaded: int = MAX_LOADED):
        self._roots, self._max = roots, max_loaded
        self._loaded: OrderedDict[tuple[str, str, str], ModelHandle] = OrderedDict()
        self._lock = threading.Lock()

    def folders(self) -> dict[str, Path]:
        """Every checkpoint folder by name (a shipped name always means the shipped model)."""
        return find_checkpoints(self._roots())

    def folder(self, name: str, allow_path: bool = False) -> Path:
        return resolve_model(name, self._roots(), allow_path)

    def weights(self, name: str) -> str:
        """The SHA-256 of the weights the name refers to now (read from its config, not loaded)."""
        return read_info(self.folder(name)).weights

    def handle(self, name: str, device: str | None = None, allow_path: bool = False) -> ModelHandle:
        """The model called `name` (or, with allow_path, at that folder) on `device` (None: config.model_device,
        the GPU where there is one): every run moves its inputs there and its results back (issue 20)."""
        folder = self.folder(name, allow_path)
        target = str(pick_device(device) if device else model_device())
        info = read_info(folder)
        key = (str(folder), info.weights, target)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        handle = _load_handle(folder, target, info)
        with self._lock:
            for old in [k for k in self._loaded if k[0] == key[0] and k[2] == target]:
                del self._loaded[old]  # an earlier version of this model
            self._loaded[(key[0], handle.weights, target)] = handle
            while len(self._loaded) > self._max:
                self._loaded.popitem(last=False)
        return handle

    def invalidate(self, name: str) -> None:
        """Forget every loaded copy of the model called `name` (a training run has just saved it)."""
        with self._lock:
            for key in [k for k in self._loaded if Path(k[0]).name == name]:
                del self._loaded[key]

    def loaded(self) -> list[tuple[str, str]]:
        """(folder name, weights hash) of every model in memory, least recently used first."""
        with self._lock:
            return [(Path(folder).name, weights) for folder, weights, _ in self._loaded]


def graphs_for(device: torch.device, discrete: bool) -> bool:
    """Whether a model loaded onto `device` samples through CUDA graphs: a Gaussian or flow model on a
    GPU, when config.cuda_graphs() asks for them (D3PM's sampler draws categories between calls)."""
    return cuda_graphs() and device.type == "cuda" and not discrete


def _load_handle(folder: Path, device: str, info: CheckpointInfo) -> ModelHandle:
    loaded = load_checkpoint(folder, device, info)
    info = loaded.info
    schedule = process = None
    if info.discrete is not None:
        process = make_process(info.discrete.transition, info.discrete.K, info.schedule.T)
    else:
        s = info.schedule
        schedule = make_schedule(s.name, s.T, s.zero_terminal_snr, s.sigma_max)
    graphed = Graphed(loaded.model) if graphs_for(loaded.device, process is not None) else None
    return ModelHandle(loaded.name, loaded.model, info, folder, info.weights, schedule, process, graphed)


REGISTRY = ModelRegistry()  # the process's registry: the app's state and the command line share it


def command_line_model(name_or_path: str) -> tuple[str, ModelRegistry]:
    """For the command line's --model: a registry name, or a checkpoint folder's path. Returns the
    name to ask for and a registry that finds it (a path's folder is looked up by its own name, ahead
    of the registry's models, for this command only). The app never calls this: a typed field never
    names a server path."""
    folder = resolve_model(name_or_path, model_roots(), allow_path=True)
    if folder.name == name_or_path:
        return name_or_path, REGISTRY
    return folder.name, ModelRegistry(lambda: [folder.parent, *model_roots()])


def load_model(name: str, registry: ModelRegistry = REGISTRY) -> tuple[ModelHandle, NoiseSchedule]:
    """A Gaussian or flow model by name, and its schedule (the current weights, loaded once)."""
    handle = registry.handle(name)
    if handle.schedule is None:
        raise ModelKindError(name, DataKind.CATEGORICAL, "a Gaussian or flow model")
    return handle, handle.schedule


def load_discrete(name: str, device: str | None = None, registry: ModelRegistry = REGISTRY
                  ) -> tuple[ModelHandle, DiscreteProcess]:  # fmt: skip
    """A discrete (D3PM) model by name on `device` (default config.model_device), and its process."""
    handle = registry.handle(name, device)
    if handle.process is None:
        raise ModelKindError(name, handle.kind, "a discrete (D3PM) model")
    return handle, handle.process
