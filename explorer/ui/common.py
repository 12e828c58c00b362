"""What every tab shares: turning core errors into UI messages, and the output folder."""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go
from gradio.components.plot import PlotData

from explorer.activity import REQUESTS
from explorer.config import model_device
from explorer.data.registry import DataKind
from explorer.limits import quote
from explorer.runs.store import RunMissing
from explorer.serve.limits import limits
from explorer.serve.training_queue import release_device
from explorer.store.files import prune_folder
from explorer.store.registry import ModelKindError
from explorer.training.job import is_out_of_memory
from explorer.viz.export import export_formats
from explorer.viz.figures import Figure, to_json, waiting_figure

log = logging.getLogger("explorer.ui")

OUTPUT_DIR = Path(tempfile.gettempdir()) / "diffusion-explorer"
OUTPUT_MAX_AGE_S = 3600  # exported files older than this are removed when a new one is made
OUTPUT_MAX_BYTES = 512 * 2**20  # and the oldest beyond this total

OUT_OF_MEMORY = ("the device ran out of memory for this request (a training job may be using it): ask for fewer "
                 "samples or steps, or try again when training ends; its memory was released")  # fmt: skip


MISSING_RUN = "that run is no longer recorded (or was never made): press Sample (or Run) first, then scrub"


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a ValueError from the core as a gr.Error with its message; log anything else
    and show a short message instead of a traceback. Works for plain and generator handlers."""

    def translate(error: Exception) -> gr.Error:
        if is_out_of_memory(error):  # free what the failed request cached, so the next one (or training) fits
            release_device(model_device())  # where the registry put the request's model
            return gr.Error(OUT_OF_MEMORY, print_exception=False)
        if isinstance(error, RunMissing):
            return gr.Error(MISSING_RUN, print_exception=False)
        if isinstance(error, ModelKindError):
            where = "the Discrete (D3PM) tab" if error.kind == DataKind.CATEGORICAL else "the Reverse denoising tab"
            return gr.Error(f"{error}: open it in {where}", print_exception=False)
        if isinstance(error, ValueError):
            return gr.Error(str(error), print_exception=False)
        log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(f"Something went wrong ({type(error).__name__}); the details are in the server log.")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:  # noqa: BLE001 - every error becomes a UI message
                raise translate(error) from None

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as error:  # noqa: BLE001 - every error becomes a UI message
            raise translate(error) from None

    return wrapper


# What each kind of input field expects, as a one-line message says it.
EXPECTS = {gr.Slider: "a number", gr.Number: "a number", gr.Checkbox: "true or false", gr.Textbox: "text",
           gr.Dropdown: "one of its choices", gr.Radio: "one of its choices", gr.File: "an uploaded file",
           gr.Image: "an uploaded image"}  # fmt: skip
FILE_FIELDS = (gr.File, gr.Image)  # their payloads name the server's cache: never quoted
CHOICE_FIELDS = (gr.Dropdown, gr.Radio)  # Gradio's own refusal lists every choice and Python types
MAX_FRAMEWORK_MESSAGE = 160  # a framework's own one-line refusal up to this length is kept as it is


# What Gradio's own checks before preprocessing say, as the app words them (their text echoes
# values, names server folders, or spans lines).
FRAMEWORK_REFUSALS = [
    (re.compile(r"validation error for FileData|FileData|^\W*(?:path|meta)\W*$", re.S),
     "a file input takes a file uploaded to this server (POST /gradio_api/upload), as "
     "{{\"path\": ..., \"meta\": {{\"_type\": \"gradio.FileData\"}}}}"),
    (re.compile(r"not uploaded by a user|cannot be accessed|not in the upload folder", re.S),
     "a file input may only name a file uploaded to this server"),
    (re.compile(r"hostname|Errno|https?://", re.S), "a file input may not be a URL: upload the file instead"),
    (re.compile(r"didn't receive enough input values \(needed: (\d+), got: (\d+)\)", re.S),
     "this endpoint takes {0} values, got {1}"),
]  # fmt: skip


def framework_message(error: Exception) -> str:
    """One line for a failure in Gradio's handling of a request's inputs (before any handler)."""
    text = str(getattr(error, "message", None) or error)
    for pattern, message in FRAMEWORK_REFUSALS:
        if found := pattern.search(text):
            return message.format(*found.groups())
    first = re.sub(r"(/[\w.-]+)+", "<path>", text.strip().splitlines()[0] if text.strip() else "bad input")
    return first[:MAX_FRAMEWORK_MESSAGE]


class FieldRefusal(gr.Error):
    """A field's value refused in the app's words (field_message): passed on as it is."""


def guard_requests(demo: gr.Blocks) -> None:
    """Word Gradio's own input checks (argument count, file payloads) in one line: they run in
    Blocks.preprocess_data before any component's preprocess, so the demo's method is wrapped."""
    original = demo.preprocess_data

    async def preprocess_data(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        except FieldRefusal:
            raise
        except gr.Error as error:
            text = str(error.message if hasattr(error, "message") else error)
            if "\n" not in text and len(text) <= MAX_FRAMEWORK_MESSAGE and "/" not in text:
                raise
            raise gr.Error(framework_message(error), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the request's inputs could not be read
            raise gr.Error(framework_message(error), print_exception=False) from None

    demo.preprocess_data = preprocess_data


def guard_inputs(demo: gr.Blocks) -> None:
    """Make every input field of `demo` refuse a bad value with one short line that names the field.

    Gradio turns a failed preprocess into a multi-line "Could not preprocess input component at
    index 12 … Original error: TypeError …" (and its Dropdown lists every choice). Each component
    is given a subclass of its own class, of the same name, whose preprocess words the failure; a
    subclass rather than a wrapped bound method, because a session copies components it updates
    (a model picker's new choices) and the copy must check its own choices."""
    for block in demo.blocks.values():
        cls = type(block)
        if isinstance(block, gr.components.Component) and not getattr(cls, "_guarded", False):
            block.__class__ = _guarded_class(cls)
    guard_requests(demo)


@functools.cache
def _guarded_class(cls: type) -> type:
    def preprocess(self: Any, payload: Any) -> Any:
        expected = _mistyped(self, payload)
        if expected:
            raise FieldRefusal(field_message(self, payload, expected), print_exception=False)
        try:
            return cls.preprocess(self, payload)
        except gr.Error as error:
            text = str(error.message if hasattr(error, "message") else error)
            if "\n" not in text and len(text) <= MAX_FRAMEWORK_MESSAGE and not isinstance(self, CHOICE_FIELDS):
                raise  # a slider's "Value 9 is greater than maximum value 4." says it well
            raise FieldRefusal(field_message(self, payload), print_exception=False) from None
        except Exception:  # noqa: BLE001 - any failure to read a field is the asker's input
            raise FieldRefusal(field_message(self, payload), print_exception=False) from None

    return type(cls.__name__, (cls,), {"preprocess": preprocess, "_guarded": True, "__module__": cls.__module__})


def _mistyped(block: Any, payload: Any) -> str | None:
    """What Gradio lets through but the field cannot mean, as what it expects instead: a checkbox
    given anything but true or false (JSON's 1, "no", [] would count by their truthiness), a
    whole-number slider given 1.5. None when the payload is of the field's kind."""
    if isinstance(block, gr.Checkbox) and not isinstance(payload, bool):
        return "true or false"
    whole = isinstance(block, gr.Slider) and float(block.step).is_integer() and float(block.minimum).is_integer()
    if whole and isinstance(payload, float) and math.isfinite(payload) and not payload.is_integer():
        return "a whole number"
    return None


def field_message(block: Any, payload: Any, expects: str | None = None) -> str:
    """'Samples' expects a number, got 'abc': what a field could not read, in one line."""
    name = getattr(block, "label", None) or type(block).__name__
    expects = expects or next((text for kind, text in EXPECTS.items() if isinstance(block, kind)), "a valid value")
    shown = "something else" if isinstance(block, FILE_FIELDS) else quote(payload)
    return f"'{name}' expects {expects}, got {shown}"


def output_folder() -> Path:
    """The app's output folder, with exports older than OUTPUT_MAX_AGE_S, then the oldest beyond
    OUTPUT_MAX_BYTES in all, removed first, so disk use stays bounded."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    prune_folder(OUTPUT_DIR, OUTPUT_MAX_AGE_S, OUTPUT_MAX_BYTES)
    return OUTPUT_DIR


def new_output_path(stem: str, suffix: str) -> Path:
    """A fresh file path in the app's output folder (output_folder)."""
    return output_folder() / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def output_file(stem: str, suffix: str, text: str) -> Path:
    """`text` in the app's output folder under a name made from its content, written only if absent:
    a view redrawn with the same content (the curves follow every row edit) writes nothing new."""
    path = OUTPUT_DIR / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}{suffix}"
    if not path.exists():
        output_folder()
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def plot_value(fig: Figure) -> PlotData:
    """A plotly figure dict as gr.Plot's serialised value (skips graph-object validation)."""
    return PlotData(type="plotly", plot=to_json(fig))


def sampling_queue() -> dict[str, Any]:
    """Listener options for the heavy requests (sampling runs, sweeps, curves, GIF exports): one
    shared Gradio queue group, at most the server's sampling concurrency computed at once."""
    return dict(concurrency_id="sampling", concurrency_limit=limits().sampling_concurrency)


try:  # Hugging Face ZeroGPU lends a GPU per call to functions wrapped by spaces.GPU
    import spaces  # type: ignore[import-not-found]
except ImportError:
    spaces = None


def spaces_module() -> Any:
    """The `spaces` package where it is installed (ZeroGPU), else None (read when called)."""
    return spaces


GPU_CALL_S = 120  # the longest a wrapped call may hold a ZeroGPU device


def gpu_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A heavy handler (the sampling group's): marked active in activity.REQUESTS while it runs, so a
    training job gives way to it, and wrapped in spaces.GPU where the `spaces` package is present
    (ZeroGPU). The mark is made outside spaces.GPU, in the process that holds the training job."""
    inner = fn if spaces is None else spaces.GPU(duration=GPU_CALL_S)(fn)
    if inspect.isgeneratorfunction(inner):

        @functools.wraps(inner)
        def marked_generator(*args: Any, **kwargs: Any) -> Any:
            with REQUESTS.request():
                yield from inner(*args, **kwargs)

        marked: Callable[..., Any] = marked_generator
    else:

        @functools.wraps(inner)
        def marked(*args: Any, **kwargs: Any) -> Any:
            with REQUESTS.request():
                return inner(*args, **kwargs)

    marked.marks_activity = True  # type: ignore[attr-defined]  (tests/test_activity.py walks the events)
    return marked


# a tab's control column: beside the view on a wide screen, after it on a phone (CSS in explorer.ui)
CONTROLS = dict(scale=1, min_width=280, elem_classes=["xp-controls"])


def picture(label: str, elem_id: str, **kwargs: Any) -> gr.Image:
    """An image output drawn by the app: its label as the accessible name (alt text), no label
    badge and no toolbar over the content (exports have their own download button)."""
    return gr.Image(label=label, show_label=False, format="png", buttons=[], elem_id=elem_id, **kwargs)


def result_plot(label: str, elem_id: str, waiting: str, height: int = 300, **kwargs: Any) -> gr.Plot:
    """A plot a run fills: until then it says what to press (`waiting`); the figure's own title
    names it, so no label badge sits above it (the label stays its accessible name)."""
    first = go.Figure(waiting_figure(label, waiting, height))
    return gr.Plot(first, label=label, show_label=False, elem_id=elem_id, **kwargs)


def export_outputs(prefix: str, label: str, button: str = "Export", **button_kwargs: Any) -> tuple[Any, Any, list[Any]]:
    """The export button, its format picker (GIF, or MP4 where an encoder is installed) and the
    outputs an export handler fills: the GIF preview, the video preview and the download button
    (elem_ids `{prefix}-export`, `-format`, `-gif`, `-video`, `-download`). A handler takes the
    format as its last input and returns export_result(path)."""
    with gr.Row(equal_height=True):
        export = gr.Button(button, elem_id=f"{prefix}-export", scale=2, **button_kwargs)
        fmt = gr.Radio(export_formats(), value="GIF", label="Format", show_label=False, scale=1, min_width=120,
                       elem_id=f"{prefix}-format")  # fmt: skip
    gif = gr.Image(label=label, show_label=False, visible=False, buttons=[], elem_id=f"{prefix}-gif")  # shown once made
    video = gr.Video(label=label, show_label=False, visible=False, autoplay=True, loop=True, elem_id=f"{prefix}-video")
    download = gr.DownloadButton("Download", visible=False, elem_id=f"{prefix}-download")
    return export, fmt, [gif, video, download]


def export_result(path: str | Path) -> tuple[Any, Any, Any]:
    """What an export handler returns for export_outputs: the preview that fits the file's format (the
    other hidden) and the shown download button."""
    path = str(path)
    video = path.endswith(".mp4")
    return (gr.update(value=None if video else path, visible=not video),
            gr.update(value=path if video else None, visible=video),
            gr.update(value=path, visible=True, label=f"Download {'MP4' if video else 'GIF'}"))  # fmt: skip


def bind(fn: Callable[..., Any], state: Any) -> Callable[..., Any]:
    """fn with its first argument (the app's state) filled in, keeping the rest of its signature
    (Gradio reads it to map inputs and to inject gr.Request) and its generator nature."""
    signature = inspect.signature(fn, eval_str=True)  # resolved here: the wrapper's module cannot see fn's names
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def bound_generator(*args: Any, **kwargs: Any) -> Any:
            yield from fn(state, *args, **kwargs)

        bound = bound_generator
    else:

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return fn(state, *args, **kwargs)

    rest = list(signature.parameters.values())[1:]
    bound.__signature__ = signature.replace(parameters=rest)  # type: ignore[attr-defined]
    bound.__annotations__ = {p.name: p.annotation for p in rest if p.annotation is not inspect.Parameter.empty}
    del bound.__wrapped__  # inspect.signature must read __signature__, not follow fn
    return bound
