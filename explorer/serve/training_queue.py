"""Training jobs for the app: one runs at a time on this process's device; the others wait in
line, first come first served, each with its position known to the person who asked.

A job's Trainer is built only when its turn comes, so waiting jobs hold no memory. When a
job ends (done, cancelled, failed: NaN loss, out of memory, any error) the device's cached
memory is released and the next job starts. Sampling requests never wait for training: the job
gives way to them before each step (explorer.activity).
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from explorer.activity import Activity
from explorer.config import SHIPPED_DIR, user_models_dir
from explorer.limits import quote
from explorer.serve.limits import limits, training_device
from explorer.store.checkpoint import check_name
from explorer.store.registry import find_checkpoints
from explorer.training.config import TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer

JobFactory = Callable[[Trainer], TrainingJob]


MAX_OWNERS = 10_000  # people whose tickets are remembered (those who asked longest ago are forgotten)


JOBS_KEPT = 8  # each person's most recent tickets, listed in the Train tab


@dataclass
class Ticket:
    """One request to train: who asked, what, and (once started) its job."""

    name: str
    owner: str  # who asked (cancelling is theirs on a public server)
    config: TrainConfig
    resume: bool
    job: TrainingJob | None = None
    error: str | None = None  # why it could not start
    cancelled: bool = False  # removed from the line before it started
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def state(self) -> str:
        """'waiting', 'running', 'done', 'cancelled', 'failed' or 'could not start'."""
        if self.job is None:
            return "could not start" if self.error else "cancelled" if self.cancelled else "waiting"
        return self.job.snapshot().status


def release_device(device: torch.device | None) -> None:
    """Return a finished job's cached device memory, so the next job (or sampling) can use it."""
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()
    elif device is not None and device.type == "mps":
        torch.mps.empty_cache()


OWNER_FILE = "owner.txt"  # beside a trained model's config: a hash of the session that trained it


def owner_mark(owner: str) -> str:
    """What the folder records of its owner: a hash, never the session id itself."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def write_owner(folder: Path, owner: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(owner_mark(owner) + "\n")


def read_owner(folder: Path) -> str | None:
    """The recorded owner's mark, or None (a model trained by the command line, or before owners)."""
    try:
        return (folder / OWNER_FILE).read_text().strip() or None
    except OSError:
        return None


class TrainingQueue:
    """The line of training jobs; every method is safe to call from any thread."""

    def __init__(self, make_job: JobFactory, on_saved: Callable[[str], None] | None = None,
                 yield_to: Activity | None = None):  # fmt: skip
        self._make_job = make_job
        self._on_saved = on_saved  # told the model's name when a job has ended (its checkpoint is final)
        self._yield_to = yield_to  # the heavy requests every job gives way to (explorer.activity)
        self._lock = threading.Lock()
        self._running: Ticket | None = None
        self._waiting: list[Ticket] = []
        self._jobs: dict[str, list[Ticket]] = {}  # each owner's most recent tickets, oldest first

    def submit(self, config: TrainConfig, name: str, resume: bool, owner: str) -> Ticket:
        """Start the job now if the device is free, else put it in line. Refuses (ValueError)
        in read-only mode, beyond the step limit, with a full line, or with a name in use."""
        server = limits()
        if server.read_only:
            raise ValueError("this server is read-only: it serves the shipped models; run the app on your own "
                             "machine (python app.py) to train")  # fmt: skip
        config = config.validated()
        if config.steps > server.max_train_steps:
            raise ValueError(f"this server trains at most {server.max_train_steps:,} steps a run; asked for "
                             f"{config.steps:,}")  # fmt: skip
        name = check_name(name)
        if name in find_checkpoints([SHIPPED_DIR]):
            raise ValueError(f"{name!r} is the name of a shipped model, which every user sees: pick another name")
        out = user_models_dir() / name
        if (out / "config.json").exists() and not resume:
            raise ValueError(f"a model called {name!r} exists already: pick another name, or tick Resume")
        if resume and not (out / "config.json").exists():
            raise ValueError(f"there is no trained model called {name!r} to resume; untick Resume to start it")
        if resume and server.public and read_owner(out) not in (None, owner_mark(owner)):
            raise ValueError(f"{name!r} was trained by someone else: only its owner may resume it; pick another name")
        if not resume:
            self._check_model_quota(owner)
        ticket = Ticket(name, owner, config, resume)
        with self._lock:
            if any(t.name == name for t in self._active()):
                raise ValueError(f"a training job called {name!r} is already running or waiting")
            if server.public and any(t.owner == owner for t in self._active()):
                raise ValueError("you have a training job running or waiting already: one at a time per person on "
                                 "this server (cancel it to start another)")  # fmt: skip
            if self._running is None:
                self._start(ticket)  # errors in building the trainer reach the caller directly
            elif len(self._waiting) >= server.train_queue:
                raise ValueError(f"the training queue is full ({server.train_queue} waiting); try again later")
            else:
                self._waiting.append(ticket)
            mine = self._jobs.pop(owner, [])  # re-insert: the dict stays in order of last use
            self._jobs[owner] = [*mine, ticket][-JOBS_KEPT:]
            while len(self._jobs) > MAX_OWNERS:
                self._jobs.pop(next(iter(self._jobs)))
        return ticket

    def _check_model_quota(self, owner: str) -> None:
        """Refuse a new model beyond the server's total, or (public) beyond one person's share of it."""
        server = limits()
        folders = find_checkpoints([user_models_dir()])
        if len(folders) >= server.max_models:
            raise ValueError(f"this server keeps at most {server.max_models} trained models and has them all; "
                             "resume one, or run the app on your own machine")  # fmt: skip
        if server.public:
            mark = owner_mark(owner)
            owned = sum(read_owner(folder) == mark for folder in folders.values())
            with self._lock:
                owned += sum(t.owner == owner and not t.resume for t in self._waiting)
            if owned >= server.models_per_person:
                raise ValueError(f"you have {owned} trained models on this server, its limit per person: resume one "
                                 "of them, or run the app on your own machine")  # fmt: skip

    def _active(self) -> list[Ticket]:
        return ([self._running] if self._running else []) + self._waiting

    def _start(self, ticket: Ticket) -> None:
        """Build the ticket's trainer, mark the folder as the asker's, and start its job (lock held)."""
        trainer = Trainer(ticket.config, user_models_dir() / ticket.name, device=training_device(),
                          command=f"app training panel (name {ticket.name})")  # fmt: skip
        if ticket.resume:
            trainer.resume()
        else:
            write_owner(trainer.out, ticket.owner)
        job = self._make_job(trainer)
        job.on_finish = lambda: self._finished(ticket)
        job.yield_to = self._yield_to
        ticket.job, self._running = job, ticket
        job.start()

    def _finished(self, ticket: Ticket) -> None:
        """Called in the finished job's thread: free the device, then start the next in line."""
        release_device(ticket.job.device if ticket.job else None)
        if self._on_saved is not None:
            self._on_saved(ticket.name)
        ticket.done.set()
        with self._lock:
            if self._running is ticket:
                self._running = None
            while self._waiting and self._running is None:
                nxt = self._waiting.pop(0)
                try:
                    self._start(nxt)
                except Exception as error:  # noqa: BLE001 - a bad queued job must not stop the line
                    nxt.error = f"could not start: {error}"
                    nxt.done.set()

    def position(self, ticket: Ticket) -> int | None:
        """0 while running, k when k jobs are ahead of it (the running one included), None when over."""
        with self._lock:
            if ticket is self._running:
                return 0
            if ticket in self._waiting:
                return self._waiting.index(ticket) + 1
            return None

    def ticket_of(self, owner: str) -> Ticket | None:
        """The owner's most recent ticket."""
        with self._lock:
            mine = self._jobs.get(owner)
            return mine[-1] if mine else None

    def jobs_of(self, owner: str) -> list[Ticket]:
        """The owner's recent tickets (at most JOBS_KEPT), oldest first."""
        with self._lock:
            return list(self._jobs.get(owner, []))

    def ticket_of_name(self, name: str) -> Ticket | None:
        """The running or waiting ticket for a model name, else the last one submitted under it."""
        with self._lock:
            for ticket in [*self._active(), *(t for mine in reversed(self._jobs.values()) for t in reversed(mine))]:
                if ticket.name == name:
                    return ticket
            return None

    @property
    def running(self) -> Ticket | None:
        with self._lock:
            return self._running

    def waiting(self) -> list[Ticket]:
        with self._lock:
            return list(self._waiting)

    def cancel(self, owner: str, name: str | None = None) -> str:
        """Cancel a job (running: it stops and saves; waiting: it leaves the line): the one called
        `name`, else the owner's latest running or waiting one. On a public server only one's own
        jobs; on a private one, any (with no job of one's own, the running job)."""
        public = limits().public
        with self._lock:
            active = self._active()
            if name:
                target = next((t for t in active if t.name == name), None)
                if target is None or (public and target.owner != owner):
                    raise ValueError(f"no training job of yours called {quote(name)} is running or waiting")
            else:
                mine = [t for t in active if t.owner == owner]
                target = mine[-1] if mine else None if public else self._running
            if target is not None and target in self._waiting:
                self._waiting.remove(target)
                target.cancelled = True
                target.done.set()
                return f"**{target.name}** left the queue before it started"
        if target is None or target.job is None:
            raise ValueError("no training job of yours is running or waiting")
        target.job.cancel()
        return f"cancelling **{target.name}**: its current weights will be saved"
