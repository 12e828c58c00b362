"""ASGI middleware in front of Gradio's routes: uploads within the disk budget, and the cache pruned.

Gradio writes an upload to its cache folder before any event handler sees it, so the bound must
sit in front of the route: an upload over the client's rate is refused with 429 before its body is
read, and each upload (and, at most every few seconds, any other POST) prunes the cache to its
total size and age (explorer.serve.disk).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

from explorer.limits import MAX_UPLOAD_BYTES
from explorer.serve.disk import CACHE_MAX_BYTES, PUBLIC_UPLOAD_BYTES, DiskBudget, client_address
from explorer.serve.limits import limits

UPLOAD_PATHS = ("/gradio_api/upload", "/upload")


def make_budget() -> DiskBudget:
    """The server's disk budget: the cache bounds everywhere, an upload rate on a public server."""
    rate = PUBLIC_UPLOAD_BYTES if limits().public else None
    return DiskBudget(lambda: Path(get_upload_folder()), CACHE_MAX_BYTES, per_client_bytes=rate)


class DiskGuard:
    """Refuse uploads beyond the budget; prune the cache as requests come."""

    def __init__(self, app: Any, budget: DiskBudget | None = None):
        self.app, self.budget = app, budget or make_budget()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").rstrip("/").endswith(UPLOAD_PATHS):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                size = int(headers.get("content-length", MAX_UPLOAD_BYTES))
            except ValueError:
                size = MAX_UPLOAD_BYTES
            peer = (scope.get("client") or (None,))[0]
            refusal = self.budget.admit(client_address(headers.get("x-forwarded-for"), peer) or "unknown", size)
            if refusal is not None:
                await _refuse(send, 429, refusal)
                return
        else:
            self.budget.prune()
        await self.app(scope, receive, send)


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
