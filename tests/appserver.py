"""Launch the Blocks in-process on a free port for app and browser tests."""

import base64
import contextlib
import json
import socket
from collections.abc import Iterator

import numpy as np

from explorer.serve.state import AppState
from explorer.ui import build_demo, launch_kwargs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(state: AppState | None = None) -> Iterator[str]:
    """The app's URL while it serves (over `state`, or a fresh AppState)."""
    demo = build_demo(state)
    demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_kwargs(demo)
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


def update_value(output):
    """A component update ({'__type__': 'update', 'value': ...}) as its value; a plain value as it is."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


def decode(array: dict) -> np.ndarray:
    """A plotly.js typed array (figures.typed) as float32 values."""
    return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.float32)


def plot_traces(plot) -> list:
    """The traces of a gr.Plot output (an update or a plain value)."""
    return json.loads(update_value(plot)["plot"])["data"]
