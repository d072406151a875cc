"""Fault injection for the LOCAL service: the network between a worker and Modal, made to misbehave on
purpose and deterministically (a seed), so reliability tests can prove that no GPU work is paid twice.

    python -m trellis2_service --faults "503=0.2,reset=0.05,hang=0.02" --fault-seed 7
    env TRELLIS2_FAULTS / TRELLIS2_FAULT_SEED do the same; PUT /_local/faults changes them at run time.

Each request to an API route (not /health, not /_local/...) draws one number from a random.Random(seed) and
gets at most one fault, by the shares of the spec:
    503, 429, 500  answered with that status and the service's JSON error body (Retry-After: 1 on 429/503);
                   the work is not done
    reset          the TCP connection is aborted (RST) before any work
    hang           the request is held without an answer for HANG_SECONDS or until the client goes away;
                   the work is not done
    lost           the work IS done (a job accepted, a result computed), then the connection is aborted
                   instead of sending the answer
    latency_ms=N   N ms added to every such request
    revoke_after=N after N requests with the configured credentials, those credentials are refused with
                   401 unauthorized until the faults are changed again
Never mounted on Modal: only build_local_app (local.py) installs this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceError

log = logging.getLogger("trellis2.faults")

FAULT_KINDS = ("503", "429", "500", "reset", "hang", "lost")  # the order shares are laid out in [0, 1)
COUNTED = (*FAULT_KINDS, "revoked")
HANG_SECONDS = 120.0
TRANSPORT_KEY = "trellis2.transport"  # set in scope["state"] by the protocol of abortable_http_protocol()
UNFAULTED_PATHS = ("/health",)
CONTROL_PREFIX = "/_local/"


class FaultSpecError(ValueError):
    """A fault spec that cannot be read; the message names the item."""


@dataclass(frozen=True)
class FaultSpec:
    shares: dict[str, float] = field(default_factory=dict)
    latency_ms: int = 0
    revoke_after: int | None = None

    @classmethod
    def parse(cls, text: str) -> "FaultSpec":
        """`503=0.2,reset=0.05,latency_ms=50,revoke_after=40` (any order; empty = no faults)."""
        shares: dict[str, float] = {}
        latency_ms, revoke_after = 0, None
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, raw = (piece.strip() for piece in item.partition("="))
            if not sep:
                raise FaultSpecError(f"fault spec item {item!r}: expected name=value")
            try:
                if name in FAULT_KINDS:
                    value = float(raw)
                    if not 0.0 <= value <= 1.0:
                        raise ValueError
                    shares[name] = value
                elif name in ("latency_ms", "revoke_after"):
                    count = int(raw)
                    if count < 0:
                        raise ValueError
                    latency_ms, revoke_after = (count, revoke_after) if name == "latency_ms" else (latency_ms, count)
                else:
                    known = ", ".join((*FAULT_KINDS, "latency_ms", "revoke_after"))
                    raise FaultSpecError(f"fault spec item {item!r}: unknown fault {name!r} (known: {known})")
            except ValueError as exc:
                if isinstance(exc, FaultSpecError):
                    raise
                what = "a share between 0 and 1" if name in FAULT_KINDS else "a whole number >= 0"
                raise FaultSpecError(f"fault spec item {item!r}: {name} must be {what}") from None
        if sum(shares.values()) > 1.0 + 1e-9:
            raise FaultSpecError(f"fault spec {text!r}: the shares add up to more than 1")
        return cls(shares, latency_ms, revoke_after)

    def text(self) -> str:
        items = [f"{kind}={self.shares[kind]:g}" for kind in FAULT_KINDS if self.shares.get(kind)]
        if self.latency_ms:
            items.append(f"latency_ms={self.latency_ms}")
        if self.revoke_after is not None:
            items.append(f"revoke_after={self.revoke_after}")
        return ",".join(items)

    def pick(self, draw: float) -> str | None:
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += self.shares.get(kind, 0.0)
            if draw < edge:
                return kind
        return None


def spec_from_env(env: Mapping[str, str]) -> tuple[str, int]:
    """(spec, seed) from TRELLIS2_FAULTS / TRELLIS2_FAULT_SEED; raises FaultSpecError naming the variable."""
    spec = env.get("TRELLIS2_FAULTS", "").strip()
    raw_seed = env.get("TRELLIS2_FAULT_SEED", "").strip() or "0"
    try:
        seed = int(raw_seed)
    except ValueError:
        raise FaultSpecError(f"TRELLIS2_FAULT_SEED must be a whole number, got {raw_seed!r}") from None
    try:
        FaultSpec.parse(spec)
    except FaultSpecError as exc:
        raise FaultSpecError(f"TRELLIS2_FAULTS: {exc}") from None
    return spec, seed


class LocalStats:
    """What the local service did: jobs made, backend executions (GPU calls), GLBs extracted, faults injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # work is counted from worker threads
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.jobs_created = {"generate": 0, "extract_glb": 0}
            self.work_runs = {"generate": 0, "extract_glb": 0, "warmup": 0}
            self.presets_extracted = 0  # GLBs made: one call of a multi-preset job makes several
            self.faults_injected = dict.fromkeys(COUNTED, 0)

    def count(self, table: str, name: str) -> None:
        with self._lock:
            counts = getattr(self, table)
            counts[name] = counts.get(name, 0) + 1

    def count_presets(self, glbs: int) -> None:
        with self._lock:
            self.presets_extracted += glbs

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "jobs_created": dict(self.jobs_created),
                    "work_runs": dict(self.work_runs), "presets_extracted": self.presets_extracted,
                    "faults_injected": dict(self.faults_injected)}


class Faults:
    """The configured spec and seed, the random sequence drawn from them, and the revocation count."""

    def __init__(self, stats: LocalStats, spec: str = "", seed: int = 0) -> None:
        self.stats = stats
        self.configure(spec, seed)

    def configure(self, spec: str, seed: int = 0) -> None:
        self.spec = FaultSpec.parse(spec)
        self.seed = seed
        self._random = random.Random(seed)
        self._authenticated = 0  # requests with the configured credentials since the last configure()

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec.text(), "seed": self.seed}

    def next_fault(self, *, authenticated: bool) -> str | None:
        """The fault for the next API request, in arrival order; "revoked" once the credentials are."""
        if authenticated:
            self._authenticated += 1
            if self.spec.revoke_after is not None and self._authenticated > self.spec.revoke_after:
                return "revoked"
        return self.spec.pick(self._random.random())  # one draw per request, so the sequence is the seed's


class FaultMiddleware:
    """ASGI middleware inside RequestContextMiddleware (so faults carry a request id and bodies are already
    size-checked). `authenticated(scope)` says whether a request carries the configured credentials."""

    def __init__(self, app: ASGIApp, *, faults: Faults, authenticated: Callable[[Scope], bool]) -> None:
        self.app = app
        self.faults = faults
        self.authenticated = authenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in UNFAULTED_PATHS or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        stats = self.faults.stats
        stats.count_request()
        fault = self.faults.next_fault(authenticated=self.authenticated(scope))
        if self.faults.spec.latency_ms:
            await asyncio.sleep(self.faults.spec.latency_ms / 1000)
        if fault is None:
            await self.app(scope, receive, send)
            return
        stats.count("faults_injected", fault)
        log.info("injecting fault %s on %s %s", fault, scope.get("method"), path)
        if fault == "revoked":
            await _send_error(scope, send, ServiceError.of(
                "unauthorized", "the Modal-Key / Modal-Secret credentials were revoked (injected fault "
                                "revoke_after); set new credentials"))
        elif fault in ("503", "429", "500"):
            code = {"503": "not_ready", "429": "rate_limited", "500": "internal_error"}[fault]
            await _send_error(scope, send, ServiceError.of(code, f"injected fault: HTTP {fault}; retry"),
                              retry_after=fault != "500")
        elif fault == "reset":
            await _drop_connection(scope)
        elif fault == "hang":
            await _hold(receive)
            await _drop_connection(scope)
        else:  # lost: the work happens, its answer never arrives
            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _drop_connection(scope)


async def _send_error(scope: Scope, send: Send, error: ServiceError, *, retry_after: bool = False) -> None:
    request_id = scope.get("state", {}).get("request_id", "")
    payload = json.dumps({"error": error.body(), "request_id": request_id}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _hold(receive: Receive) -> None:
    """Wait until the client disconnects, or HANG_SECONDS."""
    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnect(), HANG_SECONDS)
    except asyncio.TimeoutError:
        pass


class ConnectionDropped(ConnectionError):
    """Raised where the server gives no transport to abort (e.g. an in-process test client)."""


async def _drop_connection(scope: Scope) -> None:
    """Abort the TCP connection: with SO_LINGER 0 the close sends RST, so the client sees ECONNRESET."""
    transport = scope.get("state", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionDropped("injected fault: connection dropped")
    if not transport.is_closing():
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    for _ in range(3):  # let the server see the connection lost before the app returns, so it sends nothing
        await asyncio.sleep(0)


def abortable_http_protocol() -> type:
    """uvicorn's h11 protocol, which also puts the connection's transport in each request's scope state,
    so a fault can abort the connection (ASGI itself offers no way to)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class AbortableH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.app_state = {**self.app_state, TRANSPORT_KEY: transport}

    return AbortableH11Protocol
