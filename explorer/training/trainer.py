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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from explorer import data
from explorer.activity import Activity
from explorer.config import pick_device
from explorer.core.discrete.process import DiscreteProcess
from explorer.core.schedules import NoiseSchedule
from explorer.models.networks import build_model, count_parameters
from explorer.store.checkpoint import load_tensors, read_info, save_checkpoint
from explorer.training.config import TrainConfig
from explorer.training.objectives import make_objective
from explorer.training.selection import Selection, held_out_fd

TRAIN_FILE = "train.safetensors"


LOSS_HISTORY = 2000  # points kept for the loss curve (older ones are thinned)


PREVIEW_DISCRETE_STEPS = 100


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to lr, then cosine decay to 0 at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


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
    yielded_s: float = 0.0  # seconds spent waiting for heavy requests (explorer.activity)
    metrics: dict[str, float] = field(default_factory=dict)  # the finished model's quality (training.evaluate)
    shipped: tuple[int, float] | None = None  # digits: the step whose weights ship, and their held-out FD


class Trainer:
    """One run: model, EMA copy, optimiser, data and schedule, advanced step by step."""

    def __init__(self, config: TrainConfig, out: str | Path, device: str | None = None, command: str = ""):
        self.config = config = config.validated()
        self.out, self.command = Path(out), command
        self.device = pick_device(device)
        self.objective = make_objective(config, self.device)  # its data, loss, sampler and checkpoint section
        with torch.random.fork_rng(devices=[]):  # seeded parameter initialisation, the global RNG left as it was
            torch.manual_seed(config.seed)
            self.model = build_model(config.model, config.hyper()).to(self.device)
            self.ema = build_model(config.model, config.hyper()).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.0, foreach=True)
        self.ema_params, self.params = list(self.ema.parameters()), list(self.model.parameters())
        self.gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.step = 0
        self.selection = Selection() if config.keep_best else None  # early stopping by held-out FD

    def select(self) -> None:
        """Score the EMA model on the held-out digits at this step (keep_best runs; training.selection)."""
        if self.selection is not None and (not self.selection.trace or self.selection.trace[-1][0] != self.step):
            fd = held_out_fd(self.objective, self.ema, self.config.seed)
            self.selection.record(self.step, fd, self.ema.state_dict())

    def shipped_weights(self) -> dict[str, torch.Tensor]:
        """The weights the checkpoint ships: the EMA model's, or with keep_best the best scored so far."""
        if self.selection is not None and self.selection.best_weights is not None:
            return self.selection.best_weights
        return self.ema.state_dict()

    @property
    def schedule(self) -> NoiseSchedule | None:
        """The noise schedule of a Gaussian or flow run (None for D3PM)."""
        return getattr(self.objective, "schedule", None)

    @property
    def process(self) -> DiscreteProcess | None:
        """The corruption process of a D3PM run (None otherwise)."""
        return getattr(self.objective, "process", None)

    def loss(self) -> torch.Tensor:
        """The objective's loss on one batch drawn from its training data."""
        n = self.objective.x_data.shape[0]
        idx = torch.randint(0, n, (self.config.batch,), generator=self.gen, device=self.device)
        return self.objective.loss(self.model, idx, self.gen)

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
        # the shipped weights may be an earlier step's (keep_best): then the EMA is kept for resuming
        train_state = self.run_state(ema=self.selection is not None)
        config = {
            "model": c.model, "hyper": c.hyper(), "dataset": c.dataset, "prediction": c.prediction,
            **self.objective.checkpoint_section(), "steps": self.step, "seed": c.seed, "train": asdict(c),
            "command": self.command,
            "metrics": metrics or {}, "parameters": count_parameters(self.model), "device": str(self.device),
        }  # fmt: skip
        if c.conditional:
            config["classes"] = list(data.LABELLED[c.dataset])
        if self.selection is not None:
            config["selection"] = self.selection.section()
        return save_checkpoint(self.out, self.shipped_weights(), config, {TRAIN_FILE: train_state})

    def resume(self) -> None:
        """Continue from the checkpoint in `out` (same config required)."""
        saved = read_info(self.out)
        defaults = asdict(TrainConfig())  # settings added since the run started take their defaults
        if {**defaults, **(saved.train or {})} != asdict(self.config):
            raise ValueError(f"{self.out.name!r} was trained with other settings; start a new run or use the same ones")
        state = load_tensors(self.out, TRAIN_FILE, saved)
        shipped = load_tensors(self.out, "model.safetensors", saved)
        if not any(k.startswith("ema.") for k in state):
            state.update({f"ema.{k}": v for k, v in shipped.items()})  # the shipped weights are the EMA's
        self.load_run_state(state, saved.steps)
        if self.selection is not None:
            self.selection = Selection.restored(saved.selection, shipped)

    def run_state(self, ema: bool = True) -> dict[str, torch.Tensor]:
        """What the next step depends on, as named tensors: the weights, the optimiser's moments, the
        batch generator's state and (if asked) the EMA weights. Checkpoints keep it for resuming; a run
        on lent GPU time carries it from one call to the next (training.chunks)."""
        state = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        for i, moments in self.opt.state_dict()["state"].items():
            for key, value in moments.items():
                state[f"optim.{i}.{key}"] = torch.as_tensor(value)
        state["rng"] = self.gen.get_state()  # so a resumed run draws the same batches
        if ema:
            state.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        return state

    def load_run_state(self, state: dict[str, torch.Tensor], step: int) -> None:
        """Continue from a run_state(ema=True) taken at `step` (tensors on any device). A generator state
        of another device's kind (a GPU's, on the CPU) is not applied: the batches then follow a new draw."""
        self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.ema.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("ema.")})
        opt_state = self.opt.state_dict()
        for key, value in state.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                opt_state["state"].setdefault(int(index), {})[name] = value.to(self.device)
        self.opt.load_state_dict(opt_state)
        rng = state["rng"].cpu()
        if rng.numel() == self.gen.get_state().numel():
            self.gen.set_state(rng)
        self.step = step


def ema_samples(trainer: Trainer, n: int, seed: int, discrete_steps: int | None = None) -> torch.Tensor:
    """n samples from the EMA model with its objective's reference sampler (DDPM-T, Euler-T for
    rectified flow, D3PM over `discrete_steps`), from a seeded x_T, on the CPU as float32."""
    gen = torch.Generator(device=trainer.device).manual_seed(seed)
    return trainer.objective.samples(trainer.ema, n, gen, discrete_steps)


def preview_samples(trainer: Trainer, n: int = 256) -> Any:
    """A few samples for watching the model learn (numpy; 16 when they are images)."""
    # a discrete model's preview skips steps to stay quick; a Gaussian one shows its reference sampler
    steps = min(trainer.config.T, PREVIEW_DISCRETE_STEPS) if trainer.process is not None else None
    return ema_samples(trainer, n if trainer.config.model == "mlp" else 16, trainer.config.seed + 4, steps).numpy()


Advance = Callable[["Trainer", int], list[float]]  # (trainer, at most k steps) -> the losses of the steps taken


def one_step(trainer: Trainer, _: int) -> list[float]:
    """The local loop's advance: one optimiser step on the trainer's own device."""
    return [trainer.train_step()]


def next_event(step: int, config: TrainConfig, preview_every: int) -> int:
    """The first step after `step` at which the loop checkpoints, previews or ends."""
    marks = [config.steps, (step // config.checkpoint_every + 1) * config.checkpoint_every]
    if preview_every:
        marks += [(step // preview_every + 1) * preview_every] + ([1] if step < 1 else [])
    return min(m for m in marks if m > step)


def run_training(
    trainer: Trainer,
    progress: Progress,
    stop: threading.Event,
    lock: threading.Lock,
    evaluate: Callable[[Trainer], dict[str, float]] | None = None,
    preview_every: int = 0,
    advance: Advance = one_step,
    yield_to: Activity | None = None,
) -> Progress:
    """Train to the configured step count, updating `progress` under `lock`; checkpoint
    periodically, on cancel and at the end. With preview_every, the EMA model's samples are drawn at
    step 1, every preview_every steps and at the last step. `advance` takes the steps: one at a time
    here, or as many as fit in a call lent a GPU (training.chunks), never past the next checkpoint,
    preview or the end. Returns the final progress."""
    c = trainer.config
    start, start_step, smoothed = time.perf_counter(), trainer.step, math.nan
    with lock:
        progress.status, progress.total, progress.device = "running", c.steps, str(trainer.device)
    last_good = None
    while trainer.step < c.steps and not stop.is_set():
        first = trainer.step + 1
        if yield_to is not None:
            waited = yield_to.wait_idle(stop)
            with lock:
                progress.yielded_s += waited
            if stop.is_set():
                break
        losses = advance(trainer, next_event(trainer.step, c, preview_every) - trainer.step)
        if not losses or not math.isfinite(losses[-1]):  # a step whose loss is not finite is not applied
            loss = losses[-1] if losses else math.nan
            kept = f"the last good checkpoint (step {last_good}) is kept" if last_good else "no checkpoint was written"
            with lock:
                progress.status = "failed"
                progress.message = f"the loss became {loss} at step {trainer.step + 1}; training stopped and {kept}"
            return progress
        for loss in losses:
            smoothed = loss if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * loss
        if trainer.step % c.checkpoint_every == 0 and trainer.step < c.steps:
            trainer.select()
            trainer.save()
            last_good = trainer.step
        if preview_every and (trainer.step % preview_every == 0 or trainer.step in (1, c.steps)):
            samples = preview_samples(trainer)
            with lock:
                progress.preview, progress.preview_step = samples, trainer.step
        elapsed = time.perf_counter() - start
        rate = (trainer.step - start_step) / max(elapsed, 1e-9)
        with lock:
            progress.step, progress.loss, progress.smoothed = trainer.step, losses[-1], smoothed
            progress.steps_per_s, progress.eta_s = rate, (c.steps - trainer.step) / max(rate, 1e-9)
            progress.losses.extend((first + i, loss) for i, loss in enumerate(losses))
            while len(progress.losses) > LOSS_HISTORY:
                progress.losses[:] = progress.losses[::2]
    if not stop.is_set():
        trainer.select()
        if trainer.selection is not None and trainer.selection.best_weights is not None:
            trainer.ema.load_state_dict(trainer.selection.best_weights)  # the run is over: evaluate what ships
    path = trainer.save()  # first: a kill during the evaluation keeps every step trained
    metrics = evaluate(trainer) if evaluate and not stop.is_set() else {}
    if metrics:
        path = trainer.save(metrics)
    with lock:
        progress.checkpoint = str(path)
        progress.status = "cancelled" if stop.is_set() else "done"
        progress.message = f"saved {path} at step {trainer.step}" + (
            "".join(f"; {k} = {v:.4f}" for k, v in metrics.items())
        )
        progress.metrics = dict(metrics)
        chosen = trainer.selection
        if chosen is not None and chosen.best_weights is not None:
            progress.shipped = (chosen.best_step, chosen.best_fd)
            progress.message += (f"; shipped the weights of step {chosen.best_step}, whose samples were nearest "
                                 f"the held-out digits (FD {chosen.best_fd:.2f})")  # fmt: skip
    return progress
