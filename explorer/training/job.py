"""A training run in a background thread, safe to read and cancel from any other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import torch

from explorer.activity import Activity
from explorer.training.trainer import Advance, Progress, Trainer, one_step, run_training


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a device running out of memory (CUDA's error type, or MPS's RuntimeError)."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def failure_message(error: Exception, step: int) -> str:
    """What a user reads when a training job dies of `error` at `step`."""
    if is_out_of_memory(error):
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
        advance: Advance = one_step,
    ):
        self.trainer: Trainer | None = trainer
        self._evaluate, self._preview_every, self._advance = evaluate, preview_every, advance
        self._progress, self._lock, self._stop = (
            Progress(total=trainer.config.steps),
            threading.Lock(),
            threading.Event(),
        )
        self.out, self.device = trainer.out, trainer.device
        self.on_finish: Callable[[], None] | None = None  # called in the job's thread once it has ended
        self.yield_to: Activity | None = None  # heavy requests to give way to (set before start)
        self._thread = threading.Thread(target=self._run, name=f"train-{trainer.out.name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            run_training(self.trainer, self._progress, self._stop, self._lock, self._evaluate, self._preview_every,
                         self._advance, self.yield_to)  # fmt: skip
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
            return replace(self._progress, losses=list(self._progress.losses), metrics=dict(self._progress.metrics))
