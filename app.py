"""Launch the diffusion explorer: `python app.py [--host H] [--port P]`.

Host and port default to 127.0.0.1:7860, or to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
when set (as on Hugging Face Spaces). Runs offline: analytics are off.
"""

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("HTTP_PROXY") or os.environ.get("HTTPS_PROXY") or os.environ.get("http_proxy"):
    os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")

from explorer.ui import build_demo, launch_kwargs  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the diffusion explorer web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    build_demo().launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
