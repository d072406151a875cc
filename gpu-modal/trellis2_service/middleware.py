"""The outermost ASGI layer: a request id for every response, the body-size limit, and the access log.

The size limit is enforced here, before FastAPI reads the body: a `Content-Length` over the limit is
refused at once, and a body without one (chunked) is counted while it streams and refused as soon as it
crosses the limit. Nothing is base64- or JSON-decoded until the whole body is known to be small enough.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceError
from .ids import new_request_id
from .logs import mask

log = logging.getLogger("trellis2.http")


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


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replayed
