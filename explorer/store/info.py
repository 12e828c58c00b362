"""What a checkpoint's config.json says, parsed once into typed fields.

`parse_info` is the one reader of the JSON: it validates every field a loader relies on and
returns a frozen `CheckpointInfo`; the rest of the package reads these fields, never the dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.core.parametrization import PREDICTIONS
from explorer.core.schedules import PROCESSES
from explorer.data.registry import DataKind

FORMAT = "diffusion-explorer/1"


REQUIRED = {"format": str, "model": str, "hyper": dict, "schedule": dict, "dataset": str, "prediction": str,
            "steps": int, "seed": int, "files": dict}  # fmt: skip


@dataclass(frozen=True)
class ScheduleInfo:
    """The noise schedule (or, for a discrete model, the transition's name) and its length T."""

    name: str
    T: int
    zero_terminal_snr: bool = False
    sigma_max: float | None = None  # the variance-exploding process's largest noise level


@dataclass(frozen=True)
class DiscreteInfo:
    """A D3PM model's process: transition, number of categories K, the network's states, λ."""

    transition: str
    K: int
    states: int
    hybrid_lambda: float


@dataclass(frozen=True)
class CheckpointInfo:
    """The typed contents of a checkpoint's config.json."""

    model: str  # the network's name, as build_model takes it
    hyper: dict[str, Any]  # the network's hyper-parameters
    schedule: ScheduleInfo
    dataset: str
    prediction: str
    steps: int
    seed: int
    files: dict[str, str]  # logical tensor-file name -> SHA-256
    stored: dict[str, str] = field(default_factory=dict)  # logical name -> the file name on disk
    classes: tuple[str, ...] = ()  # a class-conditional model's labels
    discrete: DiscreteInfo | None = None
    train: dict[str, Any] | None = None  # the TrainConfig fields the run used
    metrics: dict[str, float] = field(default_factory=dict)
    command: str = ""
    selection: dict[str, Any] | None = None  # keep_best runs: each checkpoint's held-out FD, the step shipped

    @property
    def kind(self) -> DataKind:
        """What the model generates: categorical (D3PM) data, images, or points."""
        if self.discrete is not None:
            return DataKind.CATEGORICAL
        return DataKind.POINTS if "dim" in self.hyper else DataKind.IMAGE

    @property
    def weights(self) -> str:
        """The SHA-256 of the (EMA) weights file."""
        return self.files["model.safetensors"]


def parse_info(config: Any, where: Path) -> CheckpointInfo:
    """Validate a config.json's contents and type them; a ValueError says what is wrong and where."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{where} is not a diffusion-explorer checkpoint (format {FORMAT!r} expected)")
    for key, kind in REQUIRED.items():
        if not isinstance(config.get(key), kind):
            raise ValueError(f"{where}: config field {key!r} is missing or not a {kind.__name__}")
    try:
        sigma_max = config["schedule"].get("sigma_max")
        schedule = ScheduleInfo(str(config["schedule"]["name"]), int(config["schedule"]["T"]),
                                bool(config["schedule"].get("zero_terminal_snr", False)),
                                None if sigma_max is None else float(sigma_max))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{where}: malformed schedule {config['schedule']!r}") from None
    discrete = _discrete(config, where) if "discrete" in config else None
    if discrete is None:
        if config["prediction"] not in PREDICTIONS:
            raise ValueError(f"{where}: unknown prediction {config['prediction']!r}")
        if schedule.name not in PROCESSES:
            raise ValueError(f"{where}: unknown schedule {schedule.name!r}")
    optional = {"stored": dict, "classes": list, "train": dict, "metrics": dict, "command": str, "selection": dict}
    for key, kind in optional.items():
        if key in config and config[key] is not None and not isinstance(config[key], kind):
            raise ValueError(f"{where}: config field {key!r} is not a {kind.__name__}")
    return CheckpointInfo(
        model=config["model"], hyper=dict(config["hyper"]), schedule=schedule, dataset=config["dataset"],
        prediction=config["prediction"], steps=config["steps"], seed=config["seed"], files=dict(config["files"]),
        stored=dict(config.get("stored") or {}), classes=tuple(str(c) for c in config.get("classes") or ()),
        discrete=discrete, train=config.get("train"), metrics=dict(config.get("metrics") or {}),
        command=config.get("command") or "", selection=config.get("selection"),
    )  # fmt: skip


def _discrete(config: dict[str, Any], where: Path) -> DiscreteInfo:
    from explorer.core.discrete.process import TRANSITIONS
    from explorer.models.d3pm import PREDICTION

    info = config["discrete"]
    try:
        parsed = DiscreteInfo(str(info["transition"]), int(info["K"]), int(info.get("states", info["K"])),
                              float(info.get("hybrid_lambda", 0.0)))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{where}: malformed discrete-model settings") from None
    if parsed.transition not in TRANSITIONS or config["prediction"] != PREDICTION:
        raise ValueError(f"{where}: malformed discrete-model settings")
    return parsed
