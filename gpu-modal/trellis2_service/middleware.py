"""The outermost ASGI layer: a request id for every response, the body-size limit, and the access log.

The size limit is enforced here, before FastAPI reads the body: a `Content-Length` over the limit is
refused at once, and a body without one (chunked) is counted while it streams and refused as soon as it
crosses the limit. Nothing is base64- or JSON-decoded until the whole body is known to be small enough.

Refused, but heard out: before the 413 goes out, the rest of the body is read and thrown away (at most
DISCARD_MAX_BYTES beyond the limit, for at most DISCARD_MAX_SECONDS). A server that answers and closes
with the body unread makes the kernel reset the connection, and the client sees "connection reset"
instead of the error.
A client that sent `Expect: 100-continue` has not sent its body yet, so it is answered at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import anyio

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceError
from .ids import new_request_id
from .logs import mask

log = logging.getLogger("trellis2.http")

DISCARD_MAX_BYTES = 64 * 1024 * 1024
DISCARD_MAX_SECONDS = 10.0


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, body_limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.body_limit_for = body_limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
                status["code"] = message["status"]
            await send(message)

        try:
            limit = self.body_limit_for(scope.get("path", ""))
            body = await self._read_body(scope, receive, limit)
            if body is None:
                await _discard_rest(scope, receive, limit)
                await self._reject_too_large(send_with_id, request_id, limit)
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            headers = dict(scope.get("headers") or [])
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "modal_key": mask(headers.get(b"modal-key", b"").decode("latin-1")),
                },
            )

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None as soon as it is known to be over the limit."""
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        return None
                except ValueError:
                    pass  # a malformed length: count the stream instead
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _reject_too_large(self, send: Send, request_id: str, limit: int) -> None:
        error = ServiceError.of("payload_too_large", f"request body is over the limit of {limit} bytes")
        payload = json.dumps({"error": error.body(), "request_id": request_id}).encode()
        await send({
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": payload})


async def _discard_rest(scope: Scope, receive: Receive, limit: int) -> None:
    """Read what is left of a refused body, within bounds (see the module docstring)."""
    headers = dict(scope.get("headers") or [])
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return
    try:
        declared = int(headers.get(b"content-length", b""))
    except ValueError:
        declared = None
    if declared is not None and declared > limit + DISCARD_MAX_BYTES:
        return  # too much to hear out: the client will likely see a reset; said so in docs/service-api.md
    discarded = 0
    with anyio.move_on_after(DISCARD_MAX_SECONDS):
        while discarded <= limit + DISCARD_MAX_BYTES:  # counts from the start of the body
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            discarded += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replayed
