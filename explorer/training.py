"""Training denoisers with L_simple, in the foreground (CLI) or a background thread (UI).

Ho et al. 2020, eq. 14: L_simple = E_{t, x0, eps} |target - model(x_t, t)|^2 with
x_t = q_sample(x0, t, eps) and target eps, x0 or v. AdamW with linear warm-up and cosine
decay, gradient clipping, EMA weights (used for sampling), bf16 autocast on CUDA.
A non-finite loss stops the run and keeps the last good checkpoint.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from explorer import data
from explorer.checkpoints import load_tensors, read_config, save_checkpoint
from explorer.device import pick_device
from explorer.gaussian import q_sample, v_from_eps_x0
from explorer.limits import MAX_T, MIN_T, check_float, check_int
from explorer.models import PREDICTIONS, build_model, count_parameters
from explorer.schedules import FLOW, make_schedule

MAX_TRAIN_STEPS = 200_000
MAX_BATCH = 8192
TRAIN_FILE = "train.safetensors"
LOSS_HISTORY = 2000  # points kept for the loss curve (older ones are thinned)
TRAINABLE = {*data.POINT_SETS, "digits"}
KIND_DEFAULTS = {"points": ("mlp", 128, 3), "image": ("unet", 32, 1)}  # model, width, depth


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
    prediction: str = "eps"
    steps: int = 6000
    batch: int = 1024
    lr: float = 2e-3
    warmup: int = 200
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 1000
    reflow: str | None = None  # rectified flow only: a flow model whose ODE couples the noise with the data
    reflow_steps: int = 100  # Euler steps of that model when it makes the pairs
    transition: str | None = None  # a discrete (D3PM) model of the digits' 17 levels: uniform, absorbing, gaussian
    hybrid_lambda: float = 0.001  # D3PM: weight of the cross-entropy beside L_vb (Austin et al.'s default)
    conditional: bool = False  # a class-conditional model of a labelled set (data.LABELLED)
    label_dropout: float = 0.1  # conditional: the share of labels replaced by the null class (Ho & Salimans 2022)

    @property
    def discrete(self) -> bool:
        return self.transition is not None

    def validated(self) -> TrainConfig:
        kind = data.dataset_info(self.dataset).kind
        if self.discrete:
            return self._validated_discrete()
        if self.dataset not in TRAINABLE:
            raise ValueError(f"training on {self.dataset!r} is not supported; choose from {sorted(TRAINABLE)}")
        model, width, depth = KIND_DEFAULTS[kind]
        if self.model not in (None, model):
            raise ValueError(f"{self.dataset!r} holds {kind}: train a {model!r} model on it, not {self.model!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {self.prediction!r}; choose from {list(PREDICTIONS)}")
        if (self.schedule == FLOW) != (self.prediction == "flow"):
            raise ValueError("rectified flow pairs the 'flow' process with the 'flow' (velocity) prediction; "
                             "choose both or neither")  # fmt: skip
        if self.reflow is not None and self.schedule != FLOW:
            raise ValueError("reflow retrains a rectified-flow model: use --schedule flow --prediction flow")
        make_schedule(self.schedule, self.T, bool(self.zero_terminal_snr))
        if self.conditional and self.dataset not in data.LABELLED:
            raise ValueError(f"a conditional model needs labelled data: choose from {sorted(data.LABELLED)}")
        if self.conditional and self.reflow is not None:
            raise ValueError("reflow pairs carry no labels: train a conditional model without --reflow")
        return replace(
            self,
            model=model,
            n_data=check_int("training points", self.n_data, 16, data.MAX_POINTS * 10),
            width=check_int("width", width if self.width is None else self.width, 8, 1024),
            depth=check_int("depth", depth if self.depth is None else self.depth, 1, 16),
            T=check_int("T", self.T, MIN_T, MAX_T),
            steps=check_int("steps", self.steps, 1, MAX_TRAIN_STEPS),
            batch=check_int("batch", self.batch, 1, MAX_BATCH),
            lr=check_float("learning rate", self.lr, 1e-6, 1.0),
            warmup=check_int("warm-up steps", self.warmup, 0, MAX_TRAIN_STEPS),
            ema_decay=check_float("EMA decay", self.ema_decay, 0.0, 0.99999),
            grad_clip=check_float("gradient clip", self.grad_clip, 0.0, 1e6),
            seed=check_int("seed", self.seed, 0, 2**31 - 1),
            checkpoint_every=check_int("checkpoint interval", self.checkpoint_every, 1, MAX_TRAIN_STEPS),
            reflow_steps=check_int("reflow steps", self.reflow_steps, 1, MAX_T),
            conditional=bool(self.conditional),
            label_dropout=check_float("label dropout", self.label_dropout, 0.0, 1.0),
        )

    @property
    def num_classes(self) -> int:
        return len(data.LABELLED[self.dataset]) if self.conditional else 0

    def _validated_discrete(self) -> TrainConfig:
        """A D3PM run: the digits at 17 levels, an x0-logits UNet; the schedule is the transition's own."""
        from explorer.d3pm import DATASETS, PREDICTION
        from explorer.discrete import TRANSITIONS

        if self.transition not in TRANSITIONS:
            raise ValueError(f"unknown transition {self.transition!r}; choose from {list(TRANSITIONS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"discrete models train on {list(DATASETS)}, not {self.dataset!r}")
        if self.reflow is not None or self.conditional:
            raise ValueError("discrete models here are unconditional and not reflowed")
        gaussian = replace(self, transition=None, schedule="linear", prediction="eps", zero_terminal_snr=False)
        checked = gaussian.validated()
        return replace(checked, transition=self.transition, schedule=self.transition, prediction=PREDICTION,
                       hybrid_lambda=check_float("hybrid lambda", self.hybrid_lambda, 0.0, 1e3))  # fmt: skip

    def hyper(self) -> dict[str, Any]:
        """The model's hyper-parameters (call on a validated config)."""
        if self.discrete:  # one-hot input (the mask too), a logit per grey level out
            from explorer.d3pm import DIGIT_LEVELS
            from explorer.discrete import state_count

            return {"channels": state_count(self.transition, DIGIT_LEVELS), "out_channels": DIGIT_LEVELS, "size": 8,
                    "base": self.width, "mults": [1, 2], "blocks": self.depth}  # fmt: skip
        labels = {"num_classes": self.num_classes} if self.conditional else {}
        if self.model == "unet":  # the digits: 8x8 grey, two levels (8x8, 4x4), attention at 4x4
            return {"channels": 1, "size": 8, "base": self.width, "mults": [1, 2], "blocks": self.depth, **labels}
        return {"dim": 2, "width": self.width, "depth": self.depth, **labels}


def training_data(config: TrainConfig) -> torch.Tensor:
    """The fixed training set: n_data points drawn with the run's seed, or all 1,797 digits."""
    return labelled_training_data(config)[0]


def labelled_training_data(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed training set and its labels (None for an unlabelled set)."""
    if config.dataset == "digits":
        return data.digits()
    gen = torch.Generator().manual_seed(config.seed)
    points = data.make_points(config.dataset, config.n_data, config.noise, gen)
    return points.x, points.label


def sample_shape(hyper: dict[str, Any], n: int) -> tuple[int, ...]:
    """Shape of n samples of a model: (n, dim) for points, (n, C, H, W) for images."""
    if "dim" in hyper:
        return (n, hyper["dim"])
    return (n, hyper["channels"], hyper["size"], hyper["size"])


REFLOW_BATCH = 2048
PREVIEW_DISCRETE_STEPS = 100


@torch.no_grad()
def reflow_pairs(config: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Reflow (Liu et al. 2023, sec. 2.3): n_data noises eps ~ N(0, I), seeded, and the data x0 the
    teacher flow model's ODE (Euler, reflow_steps steps) carries each to. Training on the straight
    lines between these coupled pairs straightens the paths."""
    from explorer.checkpoints import load_checkpoint, model_roots, resolve_model
    from explorer.samplers import euler_steps, last

    teacher = load_checkpoint(resolve_model(config.reflow, model_roots()), device)
    if teacher.config["schedule"]["name"] != FLOW or teacher.config["dataset"] != config.dataset:
        raise ValueError(f"reflow needs a rectified-flow model of {config.dataset!r}; {config.reflow!r} is a "
                         f"{teacher.config['schedule']['name']} model of {teacher.config['dataset']!r}")  # fmt: skip
    schedule = make_schedule(FLOW, teacher.config["schedule"]["T"])
    gen = torch.Generator(device=device).manual_seed(config.seed + 7)
    noise = torch.randn(sample_shape(teacher.config["hyper"], config.n_data), generator=gen, device=device)
    data_ = [last(euler_steps(teacher.model, schedule, batch, "flow", config.reflow_steps, "trailing")).x
             for batch in noise.split(REFLOW_BATCH)]  # fmt: skip
    return torch.cat(data_), noise


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to lr, then cosine decay to 0 at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def training_target(
    prediction: str, schedule: Any, t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """What the network is trained to output for L_simple."""
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "flow":
        return eps - x0  # rectified flow's velocity d x_t / dt (Liu et al. 2023, eq. 1)
    return v_from_eps_x0(schedule, t, eps, x0)


@dataclass
class Progress:
    """A snapshot of a run, safe to read from another thread."""

    status: str = "idle"  # idle | running | done | cancelled | failed
    step: int = 0
    total: int = 0
    loss: float = math.nan
    smoothed: float = math.nan
    steps_per_s: float = 0.0
    eta_s: float = math.nan
    device: str = ""
    message: str = ""
    losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoint: str = ""
    preview: Any = None  # (n, 2) numpy samples from the EMA model
    preview_step: int = 0


class Trainer:
    """One run: model, EMA copy, optimiser, data and schedule, advanced step by step."""

    def __init__(self, config: TrainConfig, out: str | Path, device: str | None = None, command: str = ""):
        self.config = config = config.validated()
        self.out, self.command = Path(out), command
        self.device = pick_device(device)
        self.noise: torch.Tensor | None = None  # reflow: the eps paired with each x_data row
        if config.discrete:
            from explorer.d3pm import DIGIT_LEVELS
            from explorer.discrete import make_process, on_device

            self.schedule, self.y_data = None, None
            self.process = make_process(config.transition, DIGIT_LEVELS, config.T)
            self.device_process = on_device(self.process, self.device)
            self.x_data = data.digits_levels()[0].to(self.device)
        else:
            self.schedule = make_schedule(config.schedule, config.T, config.zero_terminal_snr)
            x_data, y_data = labelled_training_data(config)
            self.x_data = x_data.to(self.device)
            self.y_data = y_data.to(self.device) if config.conditional else None
        if config.reflow:
            self.x_data, self.noise = reflow_pairs(config, self.device)
        torch.manual_seed(config.seed)  # parameter initialisation
        self.model = build_model(config.model, config.hyper()).to(self.device)
        self.ema = build_model(config.model, config.hyper()).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.0, foreach=True)
        self.ema_params, self.params = list(self.ema.parameters()), list(self.model.parameters())
        self.gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.step = 0

    def loss(self) -> torch.Tensor:
        """L_simple on one batch (eq. 14)."""
        c = self.config
        idx = torch.randint(0, self.x_data.shape[0], (c.batch,), generator=self.gen, device=self.device)
        x0 = self.x_data[idx]
        if c.discrete:  # the hybrid loss of D3PM
            from explorer.d3pm import training_loss

            return training_loss(self.model, self.device_process, x0, self.gen, c.hybrid_lambda)
        t = torch.randint(0, c.T, (c.batch,), generator=self.gen, device=self.device)
        if self.noise is None:
            eps = torch.randn(x0.shape, generator=self.gen, device=self.device)
        else:  # reflow: the straight line between a noise and the data the teacher's ODE carries it to
            eps = self.noise[idx]
        xt = q_sample(self.schedule, x0, t, eps)
        y = None
        if self.y_data is not None:  # label dropout: one model learns the conditional and the null branch
            drop = torch.rand(c.batch, generator=self.gen, device=self.device) < c.label_dropout
            y = torch.where(drop, c.num_classes, self.y_data[idx])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = self.model(xt, t, y)
        return (out.float() - training_target(c.prediction, self.schedule, t, x0, eps)).pow(2).mean()

    def train_step(self) -> float:
        """One optimiser step and EMA update; returns the loss (not applied if non-finite)."""
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.config, self.step)
        loss = self.loss()
        value = float(loss.detach())
        if not math.isfinite(value):
            return value
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip, foreach=True)
        self.opt.step()
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))  # EMA warm-up
        with torch.no_grad():
            torch._foreach_lerp_(self.ema_params, self.params, 1 - decay)
        self.step += 1
        return value

    def save(self, metrics: dict[str, float] | None = None) -> Path:
        """Atomically write EMA weights, resume state and config at the current step."""
        c = self.config
        train_state = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        for i, state in self.opt.state_dict()["state"].items():
            for key, value in state.items():
                train_state[f"optim.{i}.{key}"] = torch.as_tensor(value)
        train_state["rng"] = self.gen.get_state()  # so a resumed run draws the same batches
        config = {
            "model": c.model, "hyper": c.hyper(), "dataset": c.dataset, "prediction": c.prediction,
            "schedule": {"name": c.schedule, "T": c.T, "zero_terminal_snr": c.zero_terminal_snr},
            "steps": self.step, "seed": c.seed, "train": asdict(c), "command": self.command,
            "metrics": metrics or {}, "parameters": count_parameters(self.model), "device": str(self.device),
        }  # fmt: skip
        if c.conditional:
            config["classes"] = list(data.LABELLED[c.dataset])
        if c.discrete:
            config["discrete"] = {"transition": c.transition, "K": self.process.K, "states": self.process.states,
                                  "hybrid_lambda": c.hybrid_lambda}  # fmt: skip
        return save_checkpoint(self.out, self.ema.state_dict(), config, {TRAIN_FILE: train_state})

    def resume(self) -> None:
        """Continue from the checkpoint in `out` (same config required)."""
        saved = read_config(self.out)
        defaults = asdict(TrainConfig())  # settings added since the run started take their defaults
        if {**defaults, **saved.get("train", {})} != asdict(self.config):
            raise ValueError(f"{self.out} was trained with other settings; start a new run or use the same ones")
        state = load_tensors(self.out, TRAIN_FILE, saved)
        ema = load_tensors(self.out, "model.safetensors", saved)
        self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.ema.load_state_dict(ema)
        opt_state = self.opt.state_dict()
        for key, value in state.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state["state"].setdefault(int(index), {})[name] = value.to(self.device)
        self.opt.load_state_dict(opt_state)
        self.gen.set_state(state["rng"])
        self.step = saved["steps"]


def ema_samples(trainer: Trainer, n: int, seed: int, discrete_steps: int | None = None) -> torch.Tensor:
    """n samples from the EMA model with its reference sampler (DDPM-T, or Euler-T for rectified
    flow), from a seeded x_T, on the CPU as float32."""
    from explorer.samplers import last, reference_sampler, sample_steps

    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    if trainer.config.discrete:
        from explorer.d3pm import prior_sample, reverse_steps, to_images

        x_T = prior_sample(trainer.process, (n, 1, 8, 8), gen, trainer.device)
        *_, final = reverse_steps(trainer.ema, trainer.process, x_T, discrete_steps or trainer.config.T, gen)
        return to_images(final.x, trainer.process.K)
    x_T = torch.randn(sample_shape(trainer.config.hyper(), n), generator=gen, device=trainer.device)
    steps = sample_steps(reference_sampler(trainer.schedule), trainer.ema, trainer.schedule, x_T, gen,
                         trainer.config.prediction)  # fmt: skip
    return last(steps).x.float().cpu()


def preview_samples(trainer: Trainer, n: int = 256) -> Any:
    """A few samples for watching the model learn (numpy; 16 when they are images)."""
    steps = min(trainer.config.T, PREVIEW_DISCRETE_STEPS)  # a discrete model's preview skips steps to stay quick
    return ema_samples(trainer, n if trainer.config.model == "mlp" else 16, trainer.config.seed + 4, steps).numpy()


def run_training(
    trainer: Trainer,
    progress: Progress,
    stop: threading.Event,
    lock: threading.Lock,
    evaluate: Callable[[Trainer], dict[str, float]] | None = None,
    preview_every: int = 0,
) -> Progress:
    """Train to the configured step count, updating `progress` under `lock`; checkpoint
    periodically, on cancel and at the end. Returns the final progress."""
    c = trainer.config
    start, start_step, smoothed = time.perf_counter(), trainer.step, math.nan
    with lock:
        progress.status, progress.total, progress.device = "running", c.steps, str(trainer.device)
    last_good = None
    while trainer.step < c.steps and not stop.is_set():
        loss = trainer.train_step()
        if not math.isfinite(loss):
            kept = f"the last good checkpoint (step {last_good}) is kept" if last_good else "no checkpoint was written"
            with lock:
                progress.status = "failed"
                progress.message = f"the loss became {loss} at step {trainer.step + 1}; training stopped and {kept}"
            return progress
        smoothed = loss if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * loss
        if trainer.step % c.checkpoint_every == 0 and trainer.step < c.steps:
            trainer.save()
            last_good = trainer.step
        if preview_every and (trainer.step % preview_every == 0 or trainer.step == 1):
            samples = preview_samples(trainer)
            with lock:
                progress.preview, progress.preview_step = samples, trainer.step
        elapsed = time.perf_counter() - start
        rate = (trainer.step - start_step) / max(elapsed, 1e-9)
        with lock:
            progress.step, progress.loss, progress.smoothed = trainer.step, loss, smoothed
            progress.steps_per_s, progress.eta_s = rate, (c.steps - trainer.step) / max(rate, 1e-9)
            progress.losses.append((trainer.step, loss))
            if len(progress.losses) > LOSS_HISTORY:
                progress.losses[:] = progress.losses[::2]
    metrics = evaluate(trainer) if evaluate and not stop.is_set() else {}
    path = trainer.save(metrics)
    with lock:
        progress.checkpoint = str(path)
        progress.status = "cancelled" if stop.is_set() else "done"
        progress.message = f"saved {path} at step {trainer.step}" + (
            "".join(f"; {k} = {v:.4f}" for k, v in metrics.items())
        )
    return progress


def failure_message(error: Exception, step: int) -> str:
    """What a user reads when a training job dies of `error` at `step`."""
    if isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower():
        return (f"the device ran out of memory at step {step}: try a smaller batch or model; the last checkpoint "
                "is kept and the memory was released")  # fmt: skip
    return f"training stopped at step {step}: {type(error).__name__}: {error}; the last checkpoint is kept"


class TrainingJob:
    """A Trainer running in a daemon thread; any thread may read snapshot() or cancel()."""

    def __init__(
        self,
        trainer: Trainer,
        evaluate: Callable[[Trainer], dict[str, float]] | None = None,
        preview_every: int = 0,
    ):
        self.trainer: Trainer | None = trainer
        self._evaluate, self._preview_every = evaluate, preview_every
        self._progress, self._lock, self._stop = (
            Progress(total=trainer.config.steps),
            threading.Lock(),
            threading.Event(),
        )
        self.out, self.device = trainer.out, trainer.device
        self.on_finish: Callable[[], None] | None = None  # called in the job's thread once it has ended
        self._thread = threading.Thread(target=self._run, name=f"train-{trainer.out.name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            run_training(self.trainer, self._progress, self._stop, self._lock, self._evaluate, self._preview_every)
        except Exception as error:  # noqa: BLE001 - the job reports, the thread must not die silently
            with self._lock:
                self._progress.status = "failed"
                self._progress.message = failure_message(error, self._progress.step)
        finally:
            self.trainer = None  # let the model, optimiser state and data go: the job may be kept for its report
            if self.on_finish is not None:
                self.on_finish()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def snapshot(self) -> Progress:
        with self._lock:
            return replace(self._progress, losses=list(self._progress.losses))


def evaluate_model(trainer: Trainer, n: int) -> dict[str, float]:
    """Quality of the EMA model's DDPM-T (flow: Euler-T) samples, measured when a run ends. Points: the
    sliced Wasserstein distance to held-out data (and between two held-out sets, the floor
    set by the sample size), and for the spiral the mean distance to the curve. Digits:
    the classifier's mean confidence and the memorisation check."""
    from explorer.metrics import energy_distance, mean_spiral_distance, sliced_wasserstein

    if n <= 0:
        return {}
    c = trainer.config
    tag = "d3pm" if c.discrete else "euler" if trainer.schedule.kind == "flow" else "ddpm"  # the reference sampler
    samples = ema_samples(trainer, n, c.seed + 2)
    if c.dataset == "digits":
        from explorer.classifier import evaluate_digits

        report = evaluate_digits(samples)
        return {f"classifier_confidence_{tag}": report.confidence, f"memorised_share_{tag}": report.memorised,
                f"nearest_training_distance_{tag}": report.nearest_distance}  # fmt: skip
    held_out = torch.Generator().manual_seed(c.seed + 3)
    reference = data.make_points(c.dataset, n, c.noise, held_out).x
    floor = data.make_points(c.dataset, n, c.noise, held_out).x
    metrics = {
        f"sliced_wasserstein_{tag}": sliced_wasserstein(samples, reference, torch.Generator().manual_seed(0)),
        "sliced_wasserstein_floor": sliced_wasserstein(floor, reference, torch.Generator().manual_seed(0)),
        f"energy_distance_{tag}": energy_distance(samples, reference),
        "energy_distance_floor": energy_distance(floor, reference),
    }
    if c.dataset == "spiral":
        metrics[f"spiral_distance_{tag}"] = mean_spiral_distance(samples)
    return metrics
