"""ASGI middleware in front of Gradio's routes: each client's request rate and uploads within their
share, the cache pruned, and unknown endpoints answered 404.

Gradio writes an upload to its cache folder before any event handler sees it, so the bound must
sit in front of the route: an upload over the client's rate is refused with 429 before its body is
read, and each upload (and, at most every few seconds, any other POST) prunes the cache to its
total size and age (explorer.serve.disk). Gradio answers a call to an endpoint it does not have
(the Train tab's, on a read-only server) with a 500 and a traceback in the log; here it is a 404.
On a public server each client's requests draw on a token bucket (explorer.serve.rate): pages and
the config a new session fetches cost PAGE_COST, events and uploads EVENT_COST, static assets
nothing. A refusal closes the connection, so a refused upload's body is not read to its end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

from explorer.limits import MAX_UPLOAD_BYTES, quote
from explorer.serve.disk import CACHE_MAX_BYTES, PUBLIC_UPLOAD_BYTES, DiskBudget, client_address
from explorer.serve.limits import limits
from explorer.serve.rate import EVENT_COST, PAGE_COST, RequestRate

UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
CALL_PATH = re.compile(r"^(?:/gradio_api)?/call/([^/]+)(?:/[^/]*)?/?$")  # POST a call, GET its events
JOIN_PATH = re.compile(r"^(?:/gradio_api)?/queue/join/?$")
MAX_JOIN_BODY = 64 * 2**20  # a queue/join body read here to check its function (uploads travel apart)
PAGE_PATHS = {"", "/config", "/info", "/gradio_api/info", "/openapi.json", "/gradio_api/openapi.json"}
STREAM_PATH = re.compile(r"^(?:/gradio_api)?/(?:queue/data|call/[^/]+/[^/]+)/?$")  # an event's answer


def make_budget() -> DiskBudget:
    """The server's disk budget: the cache bounds everywhere, an upload rate on a public server."""
    rate = PUBLIC_UPLOAD_BYTES if limits().public else None
    return DiskBudget(lambda: Path(get_upload_folder()), CACHE_MAX_BYTES, per_client_bytes=rate)


def make_rate() -> RequestRate | None:
    """Each client's request rate on a public server; None (no bound) on a person's own machine."""
    return RequestRate() if limits().public else None


def request_cost(method: str | None, path: str) -> float:
    """What a request draws from its client's bucket: pages and configs (a new session) more than
    events; static assets, files and the heartbeat nothing."""
    trimmed = path.rstrip("/")
    if method == "GET" and trimmed in PAGE_PATHS:
        return PAGE_COST
    if method == "POST" or (method == "GET" and STREAM_PATH.match(path)):
        return EVENT_COST
    return 0.0


class RequestGuard:
    """Refuse requests beyond a client's rate, uploads beyond the budget and calls of unknown
    endpoints; prune the cache as requests come."""

    def __init__(self, app: Any, budget: DiskBudget | None = None, rate: RequestRate | None = None):
        self.app, self.budget = app, budget or make_budget()
        self.rate = rate if rate is not None else make_rate()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = client_address(headers.get("x-forwarded-for"), (scope.get("client") or (None,))[0]) or "unknown"
        cost = request_cost(method, path)
        if self.rate is not None and cost:
            wait = self.rate.admit(client, cost)
            if wait is not None:
                await _refuse(send, 429, f"too many requests from you: try again in {max(wait, 1):.0f} s", wait)
                return
        call = CALL_PATH.match(path)
        if call and method in ("GET", "POST") and call.group(1) not in _api_names(scope):
            await _refuse(send, 404, f"this server has no endpoint called {quote(call.group(1))}")
            return
        if method != "POST":
            await self.app(scope, receive, send)
            return
        if JOIN_PATH.match(path):
            body = await _read_body(receive, MAX_JOIN_BODY)
            if body is None:
                await _refuse(send, 413, "the request is too large")
                return
            index = _fn_index(body)
            if index is not None and index not in _functions(scope):
                await _refuse(send, 404, f"this server has no function {quote(index)}")
                return
            receive = _replay(body, receive)
        elif path.rstrip("/").endswith(UPLOAD_PATHS):
            try:
                size = int(headers.get("content-length", MAX_UPLOAD_BYTES))
            except ValueError:
                size = MAX_UPLOAD_BYTES
            refusal = self.budget.admit(client, size)
            if refusal is not None:
                await _refuse(send, 429, refusal)
                return
        else:
            self.budget.prune()
        await self.app(scope, receive, send)


def _functions(scope: dict) -> dict:
    return scope["app"].get_blocks().fns


def _api_names(scope: dict) -> set[str]:
    """The app's named endpoints, read once (the Blocks is fixed once it is served)."""
    app = scope["app"]
    if not hasattr(app, "explorer_api_names"):
        app.explorer_api_names = {fn.api_name for fn in _functions(scope).values() if isinstance(fn.api_name, str)}
    return app.explorer_api_names


def _fn_index(body: bytes) -> Any:
    try:
        return json.loads(body).get("fn_index")
    except (ValueError, AttributeError):
        return None  # Gradio answers a malformed body itself (422)


async def _read_body(receive: Any, limit: int) -> bytes | None:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A receive() that hands the app the body already read, then listens on as before."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(send: Any, status: int, message: str, retry_after: float | None = None) -> None:
    """Answer in one line and close the connection: the server then reads no more of the request's
    body (a refused 20 MB upload would otherwise be received, and parsed, to its end)."""
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
