"""The Training panel: train a point model in the background and watch it learn.

One job at a time runs in a background thread; the others wait in line (explorer.jobs, one
queue per app process, shared by every session, as Gradio's State must not hold models). A
gr.Timer polls the asker's job. Finished models are saved under the user's models folder and
appear in every model picker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np

from explorer.config import pick_device, zero_gpu
from explorer.core.parametrization import PREDICTIONS
from explorer.core.schedules import PROCESSES
from explorer.serve.disk import client_address
from explorer.serve.limits import limits, training_device
from explorer.serve.state import AppState
from explorer.store.registry import REGISTRY
from explorer.training.chunks import chunkable, lent_gpu_steps
from explorer.training.config import MAX_BATCH, RECIPES, TRAINABLE, TrainConfig
from explorer.training.evaluate import evaluate_model
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer, one_step
from explorer.ui.common import CONTROLS, bind, picture, plot_value, result_plot, spaces_module, user_errors
from explorer.viz import figures
from explorer.viz.frames import POINT_LIM, render_images

MODEL_SIZES = {"small (width 64, depth 3)": (64, 3), "medium (width 128, depth 3)": (128, 3),
               "large (width 256, depth 4)": (256, 4), "digits UNet (base 32, 1 block a level)": (32, 1),
               "digits UNet (base 64, 2 blocks a level)": (64, 2)}  # fmt: skip
POLL_S = 1.0
PREVIEW_EVERY = 500
EVAL_SAMPLES = 1000


def make_job(trainer: Trainer) -> TrainingJob:
    """The app's jobs evaluate the model when they finish and draw a preview every PREVIEW_EVERY steps;
    on ZeroGPU hardware their steps run on the lent GPU in chunks (training.chunks)."""
    advance, lent = one_step, spaces_module()
    if lent is not None and zero_gpu() and chunkable(trainer.config):
        advance = lent_gpu_steps(lent)
    return TrainingJob(trainer, lambda t: evaluate_model(t, EVAL_SAMPLES), PREVIEW_EVERY, advance)


def owner_of(request: gr.Request | None) -> str:
    """Who is asking (jobs are listed to, and on a public server cancelled by, their owner). On a
    public server the client's address (serve.disk.client_address), so that raw API calls, which get
    a new session each, and one person's browser tabs share their jobs and quota; elsewhere the
    browser session."""
    if request is None:
        return "anonymous"
    if limits().public:
        peer = getattr(getattr(request, "client", None), "host", None)
        address = client_address(getattr(request, "headers", {}).get("x-forwarded-for"), peer)
        if address:
            return f"address {address}"
    return getattr(request, "session_hash", None) or "anonymous"


@user_errors
def on_start(state: AppState, dataset, size, corruption, conditional, schedule, T, prediction, steps, batch, lr,
             seed, name, resume, request: gr.Request) -> str:  # fmt: skip
    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; choose from {list(MODEL_SIZES)}")
    width, depth = MODEL_SIZES[size]
    transition = None if corruption in (None, GAUSSIAN) else corruption
    digits = dataset == "digits"  # keep the 297 held-out digits unseen and ship the checkpoint nearest them by FD
    config = TrainConfig(dataset=dataset, width=width, depth=depth, schedule=schedule, T=T, prediction=prediction,
                         steps=steps, batch=batch, lr=lr, seed=seed, transition=transition,
                         conditional=bool(conditional), holdout=digits, keep_best=digits)  # fmt: skip
    ticket = state.queue.submit(config, (name or "").strip(), bool(resume), owner_of(request))
    position = state.queue.position(ticket)
    if position == 0 and ticket.job is not None:
        return f"started **{ticket.name}** on {ticket.job.device}"
    return f"**{ticket.name}** is waiting: {position} job{'s' if position != 1 else ''} ahead of it"


@user_errors
def on_cancel(state: AppState, name: str | None, request: gr.Request) -> str:
    """Cancel the job called `name` (empty: the asker's latest running or waiting job)."""
    name = name if isinstance(name, str) else None
    message = state.queue.cancel(owner_of(request), (name or "").strip() or None)
    gr.Info(message.replace("**", ""))  # the status line is redrawn by the next poll: the toast stays a while
    return message


def jobs_table(state: AppState, owner: str, picked: str | None = None) -> tuple[str, Any]:
    """The owner's recent jobs as a Markdown table, and the picker of those that can be cancelled
    (on a private server every running or waiting job can be), keeping the `picked` one chosen."""
    mine = state.queue.jobs_of(owner)
    places = {0: "training now", None: "–"}  # else the number of jobs ahead of it, the running one included
    rows = [f"| {t.name} | {t.state} | {places.get(p := state.queue.position(t), p)} |" for t in reversed(mine)]
    table = "| your job | state | place in line |\n|---|---|---|\n" + "\n".join(rows) if rows else ""
    active = [state.queue.running, *state.queue.waiting()]
    cancellable = [t.name for t in active if t is not None and (t.owner == owner or not limits().public)]
    own = [t.name for t in active if t is not None and t.owner == owner]
    keep = picked if picked in cancellable else (own or cancellable or [None])[-1]  # one's own latest first
    return table, gr.update(choices=cancellable, value=keep)


DIGITS_SIZE = "digits UNet (base 32, 1 block a level)"
DIGITS_STEPS = 3000
POINTS = RECIPES["points"]  # the default recipe, chosen by benchmarks/train.py
POINTS_SIZE = "small (width 64, depth 3)"
GAUSSIAN = "gaussian-noise"
CORRUPTIONS = [("Gaussian noise (or rectified flow)", GAUSSIAN), ("D3PM absorbing ([MASK])", "absorbing"),
               ("D3PM uniform", "uniform"), ("D3PM discretized Gaussian", "gaussian")]  # fmt: skip


def fresh_name(base: str) -> str:
    """`base`, or base-2, base-3, ... : the first name no model in the registry has yet."""
    taken = set(REGISTRY.folders())
    return next(name for name in (base, *(f"{base}-{i}" for i in range(2, 10_000))) if name not in taken)


def on_dataset(dataset: str) -> tuple[Any, ...]:
    """Sensible settings for the chosen kind of data (the user may still change them)."""
    if dataset == "digits":  # the shipped digits models' recipe (docs/tabs.md)
        if not zero_gpu() and pick_device(training_device()).type == "cpu":  # ZeroGPU: steps on its GPU
            gr.Info(f"A digits UNet trains at a few steps a second on a CPU: {DIGITS_STEPS:,} steps take 10-15 "
                    "minutes on 2 cores (the status shows the ETA). Fewer steps give blurrier digits.")  # fmt: skip
        return tuple(gr.update(value=v) for v in (DIGITS_SIZE, "cosine", "eps", DIGITS_STEPS, 128, 1e-3,
                                                   fresh_name("my-digits")))  # fmt: skip
    return tuple(gr.update(value=v) for v in (POINTS_SIZE, "linear", POINTS.prediction, POINTS.steps, 1024, POINTS.lr,
                                               fresh_name(f"my-{dataset.replace('_', '-')}")))  # fmt: skip


# a finished run's metrics (training.evaluate, keys "<name>_<sampler tag>") in words
METRIC_WORDS = {
    "spiral_distance": "mean distance to the spiral {v:.4f}",
    "sliced_wasserstein": "sliced Wasserstein distance to fresh data {v:.4f}",
    "energy_distance": "energy distance to fresh data {v:.4f}",
    "fd": "Fréchet distance to the training digits {v:.2f}",
    "fd_held_out": "to the 297 held-out digits {v:.2f}",
    "precision": "precision {v:.2f}",
    "recall": "recall {v:.2f}",
    "memorised_share": "near-copies of training digits {v:.1%}",
}
FLOOR_WORDS = {"fd": "real digits score {f:.2f}",
               "sliced_wasserstein": "two fresh data sets of this size differ by {f:.4f}",
               "energy_distance": "two fresh data sets of this size differ by {f:.4f}"}  # fmt: skip


def metrics_text(metrics: dict[str, float]) -> str:
    """The finished model's quality as a sentence: each metric named, beside the floor that sampling
    noise alone sets at this sample size (a model at its floor is as good as the measure can tell)."""
    parts, tag = [], ""
    for key, value in metrics.items():
        base, _, tag_here = key.rpartition("_")
        if tag_here == "floor":
            continue
        tag = tag_here
        words = METRIC_WORDS.get(base)
        text = words.format(v=value) if words else f"{key} {value:.4g}"
        floor = metrics.get(f"{base}_floor")
        if floor is not None and base in FLOOR_WORDS:
            text += f" ({FLOOR_WORDS[base].format(f=floor)})"
        parts.append(text)
    return f"Its samples ({tag.upper()} over all T steps): " + "; ".join(parts) + "." if parts else ""


def finished_text(name: str, p: Any, discrete: bool = False) -> str:
    """What a finished job says, in the tab's words (the command line prints the folder instead)."""
    where = "the Discrete tab's model list" if discrete else "every tab's model list"
    if p.status == "done":
        text = f"Saved: **{name}** is in {where} now."
    elif p.status == "cancelled":
        text = f"Cancelled at step {p.step}: the weights so far are saved as **{name}**, in {where}."
    else:
        return p.message
    if p.shipped is not None:
        step, fd = p.shipped
        text += f" It keeps the weights of step {step}, whose samples were nearest the held-out digits (FD {fd:.2f})."
    quality = metrics_text(p.metrics)
    return f"{text} {quality}" if quality else text


def cleared(waiting: str) -> tuple[Any, Any, Any]:
    """The loss and preview panels emptied (another job is shown now, or none), saying what fills them."""
    loss = plot_value(figures.waiting_figure("training loss", waiting, 300))
    preview = plot_value(figures.waiting_figure("samples of the model in training", waiting, 300))
    return loss, gr.update(value=preview, visible=True), gr.update(value=None, visible=False)


def shown_ticket(state: AppState, owner: str) -> Any:
    """The job the asker sees: their running or waiting one, else the last of theirs that trained,
    else their last ticket, else (a newcomer on a private server) the running job."""
    mine = state.queue.jobs_of(owner)
    live = [t for t in mine if state.queue.position(t) is not None]
    ran = [t for t in mine if t.job is not None]
    return (live or ran or mine or [state.queue.running])[-1]


def ticket_text(state: AppState, ticket: Any, position: int | None) -> str:
    """A ticket that has no job: waiting in line, left it, or could not start."""
    if ticket.error:
        return f"**{ticket.name}** {ticket.error}"
    if ticket.cancelled:
        return f"**{ticket.name}** left the queue before it started"
    running = state.queue.running
    ahead = f" (now training: **{running.name}**)" if running else ""
    return f"**{ticket.name}** is waiting: position {position} in the training queue{ahead}"


def progress_text(state: AppState, ticket: Any, p: Any) -> str:
    """A job's status line (step, loss, speed, ETA, device, pauses, the line behind it) and its message."""
    eta = f"{p.eta_s:.0f} s" if np.isfinite(p.eta_s) else "…"
    loss_now = f"{p.smoothed:.4f}" if np.isfinite(p.smoothed) else "…"
    rate = f"{p.steps_per_s:.0f} steps/s · ETA {eta}" if p.steps_per_s > 0 else "starting"
    text = f"**{ticket.name}** · {p.status} · step {p.step} / {p.total} · loss {loss_now} · {rate} · device {p.device}"
    if p.yielded_s >= 1:  # explorer.activity: the job waits while sampling requests compute
        text += f" · paused {p.yielded_s:.0f} s for sampling requests"
    waiting = len(state.queue.waiting())
    if waiting:
        text += f" · {waiting} job{'s' if waiting != 1 else ''} waiting"
    message = finished_text(ticket.name, p, ticket.config.transition is not None)
    return f"{text}\n\n{message}" if message else text


def progress_panels(name: str, p: Any) -> tuple[Any, Any, Any]:
    """The loss curve and the preview (a point plot, or a grid of images) of a job's progress."""
    loss, preview, preview_image = cleared(f"{name}: its loss and samples draw here from its first steps")
    if p.losses:
        steps, values = np.array(p.losses).T
        loss = plot_value(figures.curves_figure(steps, {"loss": values}, "Training loss (L_simple)", "step", "loss"))
    if p.preview is not None and p.preview.ndim == 2:
        fig = figures.points_figure(p.preview, np.linspace(0, 1, len(p.preview)), POINT_LIM,
                                    f"EMA model samples at step {p.preview_step}", height=380)  # fmt: skip
        outside = int((~(np.abs(p.preview) <= POINT_LIM).all(axis=1)).sum())  # NaN counts as outside
        if outside:  # an early model's samples can all lie off the fixed axes: say so, not a blank plot
            note = f"{outside} of {len(p.preview)} samples lie outside this view"
            fig["layout"]["annotations"] = [dict(text=note, x=0.5, y=1.0, xref="paper", yref="paper", showarrow=False,
                                                 yanchor="bottom", font=dict(size=12, color="#6b7280"))]  # fmt: skip
        preview, preview_image = gr.update(value=plot_value(fig), visible=True), gr.update(visible=False)
    elif p.preview is not None:
        grid = render_images(p.preview, 320, f"EMA model samples at step {p.preview_step}")
        preview, preview_image = gr.update(visible=False), gr.update(value=grid, visible=True)
    return loss, preview, preview_image


def on_poll(state: AppState, picked: str | None, request: gr.Request, shown: str | None = None) -> tuple[Any, ...]:
    """Refresh the status, the loss curve and the preview of the job the asker sees (shown_ticket),
    with their place in the queue while it waits. Panels with nothing of that job yet are emptied,
    never left showing an earlier job's. `shown` names what the panels hold (returned last): panels
    that would not change are skipped, so a finished job's figures are not re-sent every second."""
    owner = owner_of(request)
    jobs = jobs_table(state, owner, picked if isinstance(picked, str) else None)
    ticket = shown_ticket(state, owner)
    if ticket is None:
        text = "No job yet: choose settings and press **Start**."
        empty = "Press Start: the model's loss and samples draw here as it trains"
        return unchanged_or(shown, f"empty: {empty}", text, lambda: cleared(empty), jobs)
    position = state.queue.position(ticket)
    if ticket.job is None:  # waiting, left the queue, or could not start
        empty = (f"{ticket.name}: its loss and samples draw here once it starts" if position
                 else f"{ticket.name} did not start: there is nothing to draw")  # fmt: skip
        text = ticket_text(state, ticket, position)
        return unchanged_or(shown, f"empty: {empty}", text, lambda: cleared(empty), jobs)
    p = ticket.job.snapshot()
    drawn = f"{ticket.name} | {p.step if p.status == 'running' else p.status} | {p.preview_step}"
    return unchanged_or(shown, drawn, progress_text(state, ticket, p), lambda: progress_panels(ticket.name, p), jobs)


def unchanged_or(shown: str | None, drawn: str, text: str, panels: Callable[[], tuple[Any, ...]],
                 jobs: tuple[Any, Any]) -> tuple[Any, ...]:  # fmt: skip
    """The poll's outputs: the panels made only when what they show (`drawn`) differs from `shown`."""
    made = panels() if drawn != shown else (gr.skip(), gr.skip(), gr.skip())
    return text, *made, *jobs, drawn


def build(state: AppState) -> None:
    """Lay out the Training tab and wire its events."""
    gr.Markdown(
        "Train a small denoiser on a point set or the digits with L_simple (Ho et al. 2020, eq. 14). "
        "Training runs in the background: keep exploring the other tabs. The finished model appears in every "
        "model picker. Digits models train on 1,500 digits and never see the other 297; each checkpoint is "
        "scored by the Fréchet distance of its samples to those unseen digits, and the best one is kept, so a "
        "model that starts copying its training digits is not the one you get."
    )
    with gr.Row():
        with gr.Column(**CONTROLS):
            dataset = gr.Dropdown(sorted(TRAINABLE), value="spiral", label="Dataset", elem_id="train-dataset")
            size = gr.Dropdown(list(MODEL_SIZES), value=POINTS_SIZE, label="Model size")
            corruption = gr.Dropdown(CORRUPTIONS, value=GAUSSIAN, label="Corruption (D3PM: digits only; it has its "
                                     "own schedule and predicts x0 logits)", elem_id="train-corruption")  # fmt: skip
            conditional = gr.Checkbox(False, label="Class-conditional, for guidance (patterns, digits; 10% of labels "
                                      "dropped)", elem_id="train-conditional")  # fmt: skip
            schedule = gr.Dropdown(PROCESSES, value="linear", label="Schedule (flow: rectified flow; ve: variance "
                                   "exploding, σ_max the data's largest distance; subvp: sub-VP)")  # fmt: skip
            T = gr.Number(1000, precision=0, label="T")
            prediction = gr.Radio(list(PREDICTIONS), value=POINTS.prediction, label="Prediction target")
            steps = gr.Number(POINTS.steps, precision=0, minimum=1, maximum=state.limits.max_train_steps, label="Steps",
                              elem_id="train-steps")  # fmt: skip
            batch = gr.Number(1024, precision=0, minimum=1, maximum=MAX_BATCH, label="Batch")
            lr = gr.Number(POINTS.lr, label="Learning rate")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            name = gr.Textbox(lambda: fresh_name("my-spiral"), label="Model name", elem_id="train-name")  # each load
            resume = gr.Checkbox(False, label="Resume the model of this name from its last checkpoint")
            start = gr.Button("Start", variant="primary", elem_id="train-start")
            with gr.Row(equal_height=True):
                job = gr.Dropdown([], value=None, label="Job to cancel", allow_custom_value=True, scale=2,
                                  elem_id="train-job")  # fmt: skip
                cancel = gr.Button("Cancel", variant="stop", scale=1, elem_id="train-cancel")
        with gr.Column(scale=3):
            status = gr.Markdown("No job yet: choose settings and press **Start**.", elem_id="train-status")
            jobs = gr.Markdown("", elem_id="train-jobs")
            with gr.Row():
                loss = result_plot(
                    "training loss", "train-loss", "Press Start: the loss curve draws here as the model trains", 300
                )
                preview = result_plot(
                    "samples of the model in training",
                    "train-preview",
                    "Press Start: samples appear from the first evaluation",
                    300,
                )
                preview_image = picture(label="preview", visible=False, elem_id="train-preview-img")
    timer = gr.Timer(POLL_S)
    chosen = gr.State(None)  # the job this session picked to cancel (None: its latest running or waiting one)
    drawn = gr.State(None)  # what the loss and preview panels show now (on_poll skips them while unchanged)
    inputs = [dataset, size, corruption, conditional, schedule, T, prediction, steps, batch, lr, seed, name, resume]
    dataset.change(on_dataset, dataset, [size, schedule, prediction, steps, batch, lr, name], api_visibility="private")
    start.click(bind(on_start, state), inputs, status, api_name="train_start", concurrency_id="train",
                concurrency_limit=1).success(lambda: None, None, chosen, api_visibility="private")  # fmt: skip
    cancel.click(bind(on_cancel, state), job, status, api_name="train_cancel")
    # the picker shows one's latest live job unless one picked another: the poll reads the pick, not the
    # picker's value (a tick sent just before a Start's answer would otherwise put the older job back)
    job.input(lambda name: name, job, chosen, api_visibility="private")
    timer.tick(bind(on_poll, state), [chosen, drawn], [status, loss, preview, preview_image, jobs, job, drawn],
               api_visibility="private", show_progress="hidden", concurrency_limit=None)  # fmt: skip
