"""CUDA graphs for the network's forward pass: record it once per input shape, replay it every step.

On a GPU the small networks here are bound by kernel launches and Python, not arithmetic (issue 20:
DDPM-1000 on 10,000 spiral points spent 1.24 ms a step on an H100 for a few microseconds of matrix
products). A sampling loop calls the network with one shape at every step, which is what a CUDA
graph needs: the forward pass is captured once into static input and output buffers, and each
step copies its (x, t) in, replays the recorded kernels with one launch, and copies the output out.

`Graphed(model)` is a denoiser like the model itself. A shape is recorded at its second call (a
capture synchronises the device and empties its cache, too dear for a one-off call). Off CUDA,
with gradients on, or with extra arguments it calls the model eagerly; if a capture fails it warns
once and stays eager. The recording is a backend, `cuda_graph` on a GPU; the tests drive the same
buffer logic on the CPU with `rerun`, and compare graphed and eager samples on a GPU
(tests/test_graphs.py).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from explorer.sampling.gaussian import Denoiser

log = logging.getLogger(__name__)

WARMUP_CALLS = 3  # eager calls on a side stream before capture (cuDNN/cuBLAS pick their kernels)
MAX_SHAPES = 8  # recorded input shapes kept per network (each holds its buffers and graph memory)
SEEN_SHAPES = 64  # shapes remembered as called once (a sampling loop calls one shape at every step)

Replay = Callable[[], None]
Backend = Callable[[Denoiser, torch.Tensor, torch.Tensor], tuple[torch.Tensor, Replay]]


_CAPTURE_LOCK = threading.Lock()  # one capture at a time in the process (PyTorch's rule for torch.cuda.graph)


def cuda_graph(model: Denoiser, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, Replay]:
    """Capture model(x, t) as a CUDA graph over the static buffers x and t; returns the output buffer
    it writes and the graph's replay (launched on the caller's stream: every caller samples on the
    device's current stream, so replays of one graph run in order). The caller's stream is restored
    even when the capture fails, so its eager fallback never runs on the capture stream."""
    with _CAPTURE_LOCK, torch.cuda.device(x.device):
        caller = torch.cuda.current_stream()
        stream = torch.cuda.Stream()
        stream.wait_stream(caller)
        try:
            with torch.cuda.stream(stream):
                for _ in range(WARMUP_CALLS):
                    model(x, t)
            caller.wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # thread_local: other requests' threads may use the GPU meanwhile
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                out = model(x, t)
        finally:
            torch.cuda.set_stream(caller)
        caller.wait_stream(stream)
    return out, graph.replay


def rerun(model: Denoiser, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, Replay]:
    """The CPU stand-in for cuda_graph with the same contract: replay recomputes from the static
    buffers into the one output buffer (the tests check Graphed's buffer handling with it)."""
    out = model(x, t)
    return out, lambda: out.copy_(model(x, t))


class Recorded:
    """One input shape's forward pass over static buffers: copy in, replay, copy out."""

    def __init__(self, model: Denoiser, x: torch.Tensor, t: torch.Tensor, backend: Backend):
        self.x, self.t = x.clone(), t.clone()
        self.out, self.replay = backend(model, self.x, self.t)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.x.copy_(x)
        self.t.copy_(t)
        self.replay()
        return self.out.clone()  # the next replay overwrites the buffer; multistep solvers keep past outputs


class Graphed:
    """A denoiser that replays a recorded forward pass per input shape; safe across threads (one
    replay at a time per network, as its buffers are shared)."""

    def __init__(self, model: Denoiser, backend: Backend = cuda_graph, max_shapes: int = MAX_SHAPES):
        self.model, self.backend, self.max_shapes = model, backend, max_shapes
        self.failed: str | None = None  # why capture failed: the network then runs eagerly
        self._recorded: OrderedDict[tuple, Recorded] = OrderedDict()
        self._seen: OrderedDict[tuple, None] = OrderedDict()  # shapes called once: recorded at their second call
        self._lock = threading.Lock()

    def eager(self, x: torch.Tensor) -> bool:
        on_gpu = x.device.type == "cuda" or self.backend is not cuda_graph
        return self.failed is not None or not on_gpu or torch.is_grad_enabled()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if args or kwargs or self.eager(x):
            return self.model(x, t, *args, **kwargs)
        key = (tuple(x.shape), x.dtype, x.device, tuple(t.shape), t.dtype)
        with self._lock:
            recorded = self._recorded.get(key)
            first_call = recorded is None and key not in self._seen
            if first_call:  # a capture synchronises the device and empties its cache: not for a one-off call
                self._seen[key] = None
                while len(self._seen) > SEEN_SHAPES:
                    self._seen.popitem(last=False)
            elif recorded is None:
                try:
                    recorded = Recorded(self.model, x, t, self.backend)
                except torch.OutOfMemoryError:
                    raise  # the request's own message (ui.common.user_errors); graphs stay on for the next
                except RuntimeError as error:  # e.g. an operation that cannot be captured
                    self.failed = f"{type(error).__name__}: {error}"
                    log.warning("CUDA graph capture failed; the network runs eagerly: %s", self.failed)
                    return self.model(x, t)
                self._recorded[key] = recorded
                while len(self._recorded) > self.max_shapes:
                    self._recorded.popitem(last=False)
            if not first_call:
                self._recorded.move_to_end(key)
                return recorded(x, t)
        return self.model(x, t)

    @property
    def shapes(self) -> int:
        """How many input shapes are recorded now."""
        with self._lock:
            return len(self._recorded)
