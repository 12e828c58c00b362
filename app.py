"""Launch the diffusion explorer: `python app.py [--host H] [--port P] [server limits]`.

Host and port default to 127.0.0.1:7860, or to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
when set (as on Hugging Face Spaces). Runs offline: analytics are off. The server limits
(--read-only, --public, --max-train-steps, --train-queue, --sampling-concurrency,
--torch-threads, --max-models) default to
the EXPLORER_* environment variables that explorer/server.py lists, so a Space sets them
in its settings. Every tab's primary button is pressed once with its starting controls in the background
at start-up, so a newcomer's first presses answer from the run store (explorer/ui/warm.py; --no-warm or
EXPLORER_WARM=0 turns that off).
"""

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("HTTP_PROXY") or os.environ.get("HTTPS_PROXY") or os.environ.get("http_proxy"):
    os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")

from explorer.serve import limits as server  # noqa: E402
from explorer.ui import build_demo, launch_kwargs  # noqa: E402
from explorer.ui.warm import WARM_ENV  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the diffusion explorer web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument(
        "--read-only", action="store_true", help="serve the models there are; no training (EXPLORER_READ_ONLY)"
    )
    parser.add_argument(
        "--public",
        action="store_true",
        help="a shared server: stricter limits, users cancel only their own jobs (EXPLORER_PUBLIC)",
    )
    numbers = {
        "max_train_steps": ("EXPLORER_MAX_TRAIN_STEPS", "longest training run accepted"),
        "train_queue": ("EXPLORER_TRAIN_QUEUE", "training jobs that may wait behind the running one"),
        "sampling_concurrency": ("EXPLORER_SAMPLING_CONCURRENCY", "sampling requests computed at once"),
        "torch_threads": ("EXPLORER_TORCH_THREADS", "torch threads per request"),
        "max_models": ("EXPLORER_MAX_MODELS", "trained models kept before new runs are refused"),
    }
    parser.add_argument("--no-warm", action="store_true",
                        help="do not record the default runs at start-up (EXPLORER_WARM=0)")  # fmt: skip
    for dest, (variable, text) in numbers.items():
        parser.add_argument(f"--{dest.replace('_', '-')}", type=int, help=f"{text} ({variable})")  # fmt: skip
    args = parser.parse_args(argv)
    env = dict(os.environ)  # the flags override the environment
    env |= {"EXPLORER_READ_ONLY": "1"} if args.read_only else {}
    env |= {"EXPLORER_PUBLIC": "1"} if args.public else {}
    env |= {variable: str(getattr(args, dest)) for dest, (variable, _) in numbers.items()
            if getattr(args, dest) is not None}  # fmt: skip
    try:
        server.configure(server.limits_from_env(env))
    except ValueError as error:
        parser.error(str(error))
    warm = not args.no_warm and os.environ.get(WARM_ENV, "1") != "0"
    demo = build_demo(warm_defaults=warm)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs(demo))


if __name__ == "__main__":
    main()
