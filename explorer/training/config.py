"""What defines a training run (recorded in the checkpoint) and the data it trains on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from explorer import data
from explorer.core.parametrization import PREDICTIONS
from explorer.core.schedules import FLOW, SUBVP, VE, make_schedule
from explorer.limits import MAX_POINTS, MAX_T, MIN_T, check_float, check_int
from explorer.training.coupling import COUPLINGS, MAX_OT_CHUNK, MAX_OT_PAIRS, OT_CHUNK

MAX_TRAIN_STEPS = 200_000


MAX_BATCH = 8192


TRAINABLE = {*data.POINT_SETS, "digits"}


@dataclass(frozen=True)
class Recipe:
    """What a setting left unset (None) becomes, by the kind of data."""

    model: str
    width: int
    depth: int
    lr: float
    steps: int
    prediction: str  # on the variance-preserving process (flow predicts its velocity, VE and sub-VP eps)


# Points: chosen by measurement (benchmarks/train.py, 2 CPU cores): a width-64 MLP with v-prediction and lr
# 6e-3 reaches a spiral distance of 0.0022 (DDPM-1000, 4,000 samples) in 3,500 steps, 14 s of training; the
# width-128 eps recipe at lr 2e-3 it replaces reached 0.0052 in 3,000 steps, 32 s.
RECIPES = {"points": Recipe("mlp", 64, 3, 6e-3, 3500, "v"), "image": Recipe("unet", 32, 1, 2e-3, 6000, "eps")}


def default_prediction(schedule: str, kind: str) -> str:
    """The prediction target of a run that names none: the velocity for rectified flow, eps (denoising
    score matching) for VE and sub-VP, else the recipe's."""
    if schedule == FLOW:
        return "flow"
    return "eps" if schedule in (VE, SUBVP) else RECIPES[kind].prediction


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (recorded in the checkpoint)."""

    dataset: str = "spiral"
    n_data: int = 10_000
    noise: float = 0.0
    model: str | None = None  # None: "mlp" for points, "unet" for images
    width: int | None = None  # MLP width or UNet base channels (None: the kind's default)
    depth: int | None = None  # MLP residual blocks or UNet blocks per level
    schedule: str = "linear"
    T: int = 1000
    zero_terminal_snr: bool = False  # rescale so alpha_bar_T = 0 (Lin et al. 2024); pair it with v or x0
    sigma_max: float | None = None  # VE only: the largest noise level (None: the data's largest distance)
    prediction: str | None = None  # None: default_prediction (v for points, eps for images, flow for flow)
    steps: int | None = None  # None: the kind's recipe (RECIPES)
    batch: int = 1024
    lr: float | None = None  # None: the kind's recipe
    warmup: int = 200
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 1000
    reflow: str | None = None  # rectified flow only: a flow model whose ODE couples the noise with the data
    reflow_steps: int = 100  # Euler steps of that model when it makes the pairs
    coupling: str = "independent"  # rectified flow: how noise pairs with data in a batch ("ot": minibatch OT)
    ot_chunk: int = OT_CHUNK  # "ot": rows paired by one exact assignment
    ot_pairs: int = 0  # "ot": 0 pairs each batch as drawn; N pairs N draws once, in chunks, and trains on them
    transition: str | None = None  # a discrete (D3PM) model of the digits' 17 levels: uniform, absorbing, gaussian
    hybrid_lambda: float = 0.001  # D3PM: weight of the cross-entropy beside L_vb (Austin et al.'s default)
    conditional: bool = False  # a class-conditional model of a labelled set (data.LABELLED)
    label_dropout: float = 0.1  # conditional: the share of labels replaced by the null class (Ho & Salimans 2022)
    holdout: bool = False  # digits: train on the 1,500 of data.split_indices, never on the 297 held out
    keep_best: bool = False  # digits with holdout: ship the checkpoint whose samples are nearest the held-out
    # digits by FD (early stopping chosen by FD, training.selection), not the last one

    @property
    def discrete(self) -> bool:
        return self.transition is not None

    def validated(self) -> TrainConfig:
        kind = data.dataset_info(self.dataset).kind
        if self.holdout and self.dataset != "digits":
            raise ValueError("--holdout keeps the digits' 297 held-out images out of training: use --dataset digits")
        if self.keep_best and not self.holdout:
            raise ValueError("--keep-best scores checkpoints on held-out digits the model never saw: add --holdout")
        if self.discrete:
            return self._validated_discrete()
        if self.dataset not in TRAINABLE:
            raise ValueError(f"training on {self.dataset!r} is not supported; choose from {sorted(TRAINABLE)}")
        recipe = RECIPES[kind]
        if self.model not in (None, recipe.model):
            raise ValueError(f"{self.dataset!r} holds {kind}: train a {recipe.model!r} model on it, not {self.model!r}")
        prediction = self.prediction or default_prediction(self.schedule, kind)
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; choose from {list(PREDICTIONS)}")
        if (self.schedule == FLOW) != (prediction == "flow"):
            raise ValueError("rectified flow pairs the 'flow' process with the 'flow' (velocity) prediction; "
                             "choose both or neither")  # fmt: skip
        if self.schedule in (VE, SUBVP) and prediction not in ("eps", "x0"):
            raise ValueError(f"the {self.schedule} process trains an 'eps' (denoising score matching) or 'x0' "
                             f"model; v-prediction is defined for the variance-preserving process")  # fmt: skip
        if self.sigma_max is not None and self.schedule != VE:
            raise ValueError("sigma_max sets the variance-exploding process's largest noise: use --schedule ve")
        if self.reflow is not None and self.schedule != FLOW:
            raise ValueError("reflow retrains a rectified-flow model: use --schedule flow --prediction flow")
        make_schedule(self.schedule, self.T, bool(self.zero_terminal_snr), self.sigma_max)
        if self.conditional and self.dataset not in data.LABELLED:
            raise ValueError(f"a conditional model needs labelled data: choose from {sorted(data.LABELLED)}")
        if self.conditional and self.reflow is not None:
            raise ValueError("reflow pairs carry no labels: train a conditional model without --reflow")
        if self.coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {self.coupling!r}; choose from {list(COUPLINGS)}")
        if self.coupling != "independent" and (self.schedule != FLOW or self.reflow is not None):
            raise ValueError("an OT coupling pairs noise with data for rectified flow: use --schedule flow "
                             "--prediction flow, without --reflow (whose pairs are coupled already)")  # fmt: skip
        if self.coupling != "ot" and (self.ot_pairs or self.ot_chunk != OT_CHUNK):
            raise ValueError("--ot-chunk and --ot-pairs set the minibatch OT coupling: add --coupling ot")
        return replace(
            self,
            model=recipe.model,
            prediction=prediction,
            n_data=check_int("training points", self.n_data, 16, MAX_POINTS * 10),
            width=check_int("width", recipe.width if self.width is None else self.width, 8, 1024),
            depth=check_int("depth", recipe.depth if self.depth is None else self.depth, 1, 16),
            T=check_int("T", self.T, MIN_T, MAX_T),
            steps=check_int("steps", recipe.steps if self.steps is None else self.steps, 1, MAX_TRAIN_STEPS),
            batch=check_int("batch", self.batch, 1, MAX_BATCH),
            lr=check_float("learning rate", recipe.lr if self.lr is None else self.lr, 1e-6, 1.0),
            warmup=check_int("warm-up steps", self.warmup, 0, MAX_TRAIN_STEPS),
            ema_decay=check_float("EMA decay", self.ema_decay, 0.0, 0.99999),
            grad_clip=check_float("gradient clip", self.grad_clip, 0.0, 1e6),
            seed=check_int("seed", self.seed, 0, 2**31 - 1),
            checkpoint_every=check_int("checkpoint interval", self.checkpoint_every, 1, MAX_TRAIN_STEPS),
            reflow_steps=check_int("reflow steps", self.reflow_steps, 1, MAX_T),
            ot_chunk=check_int("OT chunk", self.ot_chunk, 2, MAX_OT_CHUNK),
            ot_pairs=check_int("OT pairs", self.ot_pairs, 0, MAX_OT_PAIRS),
            conditional=bool(self.conditional),
            sigma_max=None if self.sigma_max is None else check_float("sigma_max", self.sigma_max, 0.1, 1e4),
            label_dropout=check_float("label dropout", self.label_dropout, 0.0, 1.0),
            holdout=bool(self.holdout),
            keep_best=bool(self.keep_best),
        )

    @property
    def num_classes(self) -> int:
        return len(data.LABELLED[self.dataset]) if self.conditional else 0

    def _validated_discrete(self) -> TrainConfig:
        """A D3PM run: the digits at 17 levels, an x0-logits UNet; the schedule is the transition's own."""
        from explorer.core.discrete.process import TRANSITIONS
        from explorer.models.d3pm import D3PM_DATASETS, PREDICTION

        if self.transition not in TRANSITIONS:
            raise ValueError(f"unknown transition {self.transition!r}; choose from {list(TRANSITIONS)}")
        if self.dataset not in D3PM_DATASETS:
            raise ValueError(f"discrete models train on {list(D3PM_DATASETS)}, not {self.dataset!r}")
        if self.reflow is not None or self.conditional:
            raise ValueError("discrete models here are unconditional and not reflowed")
        gaussian = replace(self, transition=None, schedule="linear", prediction="eps", zero_terminal_snr=False)
        checked = gaussian.validated()
        return replace(checked, transition=self.transition, schedule=self.transition, prediction=PREDICTION,
                       hybrid_lambda=check_float("hybrid lambda", self.hybrid_lambda, 0.0, 1e3))  # fmt: skip

    def hyper(self) -> dict[str, Any]:
        """The model's hyper-parameters (call on a validated config)."""
        if self.discrete:  # one-hot input (the mask too), a logit per grey level out
            from explorer.core.discrete.process import state_count
            from explorer.models.d3pm import DIGIT_LEVELS

            return {"channels": state_count(self.transition, DIGIT_LEVELS), "out_channels": DIGIT_LEVELS, "size": 8,
                    "base": self.width, "mults": [1, 2], "blocks": self.depth}  # fmt: skip
        labels = {"num_classes": self.num_classes} if self.conditional else {}
        if self.model == "unet":  # the digits: 8x8 grey, two levels (8x8, 4x4), attention at 4x4
            return {"channels": 1, "size": 8, "base": self.width, "mults": [1, 2], "blocks": self.depth, **labels}
        return {"dim": 2, "width": self.width, "depth": self.depth, **labels}


def training_data(config: TrainConfig) -> torch.Tensor:
    """The fixed training set: n_data points drawn with the run's seed, or the digits (all 1,797;
    with holdout the 1,500 of the training split)."""
    return labelled_training_data(config)[0]


def labelled_training_data(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed training set and its labels (None for an unlabelled set)."""
    if config.dataset == "digits":
        images, labels = data.digits()
        if config.holdout:
            train = data.split_indices()[0]
            return images[train], labels[train]
        return images, labels
    gen = torch.Generator().manual_seed(config.seed)
    points = data.make_points(config.dataset, config.n_data, config.noise, gen)
    return points.x, points.label


def sample_shape(hyper: dict[str, Any], n: int) -> tuple[int, ...]:
    """Shape of n samples of a model: (n, dim) for points, (n, C, H, W) for images."""
    if "dim" in hyper:
        return (n, hyper["dim"])
    return (n, hyper["channels"], hyper["size"], hyper["size"])
