"""The app wired for one local process: a disk store, worker threads standing in for GPU containers, the
backend in-process; plus what only a local service has: fault injection (faults.py) and its control routes.

Control routes (loopback clients only, same credentials as the API when auth is on, never faulted):
    GET  /_local/stats        -> {"requests", "jobs_created": {kind: n}, "work_runs": {kind: n} (GPU calls),
                                  "presets_extracted": n (GLBs made), "faults_injected": {fault: n},
                                  "faults": {"spec", "seed"}, "request_id"}
    POST /_local/stats/reset  -> the same, zeroed
    PUT  /_local/faults       {"spec": "503=0.2,...", "seed": 7} ({"spec": ""} clears) -> {"spec", "seed", ...}
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware import Middleware
from starlette.types import Scope

from .app import create_app
from .backends.base import Backend
from .config import Settings
from .errors import ServiceError
from .faults import FaultMiddleware, Faults, FaultSpecError, LocalStats, abortable_http_protocol
from .job_calls import LocalCalls
from .job_keys import LocalDict
from .store import Store
from .work import GpuContainer, WorkResult


class CountingGpuContainer(GpuContainer):
    """A GpuContainer that counts its backend executions: the GPU work a real deployment would pay for."""

    def __init__(self, *args, stats: LocalStats, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats

    def generate(self, request: dict, submitted_at: float) -> WorkResult:
        self.stats.count("work_runs", "generate")
        return super().generate(request, submitted_at)

    def extract(self, request: dict, submitted_at: float) -> WorkResult:
        self.stats.count("work_runs", "extract_glb")
        result = super().extract(request, submitted_at)
        if result.ok:
            self.stats.count_presets(len(request.get("presets") or {"glb": None}))
        return result

    def warmup(self, submitted_at: float) -> WorkResult:
        self.stats.count("work_runs", "warmup")
        return super().warmup(submitted_at)


def build_local_app(settings: Settings, backend: Backend, *, gpu_workers: int = 1, fault_spec: str = "",
                    fault_seed: int = 0) -> FastAPI:
    store = Store(settings.store_dir, ttl_seconds=settings.state_ttl_seconds)
    store.purge_expired()  # whatever expired while the service was down
    stats = LocalStats()
    faults = Faults(stats, fault_spec, fault_seed)

    def make_worker() -> GpuContainer:
        return CountingGpuContainer(backend, store, settings, stats=stats)

    workers = [make_worker() for _ in range(gpu_workers)]
    # The job ledger's key-value store and the calls' outcomes live beside the store, so finished jobs and
    # bound keys outlive a restart of this process, as they outlive an API container on Modal.
    ledger_kv = LocalDict(store.root / "ledger")
    calls = LocalCalls(workers, ledger_kv, store.root / "calls", max_attempts=settings.max_job_attempts)
    app = create_app(settings=settings, calls=calls, ledger_kv=ledger_kv, store=store, backend_name=backend.name,
                     on_job_created=lambda kind: stats.count("jobs_created", kind))
    # Appended = innermost of the user middleware: inside RequestContextMiddleware, so an injected error
    # has a request id and a body that is too large is refused before any fault is drawn.
    app.user_middleware.append(Middleware(FaultMiddleware, faults=faults,
                                          authenticated=lambda scope: _has_configured_credentials(scope, settings)))
    app.include_router(_control_routes(settings, faults, stats))
    app.state.worker, app.state.calls, app.state.faults, app.state.stats = workers[0], calls, faults, stats
    app.router.on_shutdown.append(calls.shutdown)
    return app


def uvicorn_config(app: FastAPI, host: str, port: int):
    """How the local service is served (also by tests): uvicorn, with a protocol that lets faults drop
    connections for real, and a short graceful shutdown so a held ("hang") request cannot delay a stop."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, http=abortable_http_protocol(), access_log=False,
                          log_level="warning", timeout_graceful_shutdown=3)


class FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: str = Field(max_length=1000)
    seed: int = 0


def _control_routes(settings: Settings, faults: Faults, stats: LocalStats) -> APIRouter:
    def local_caller(request: Request) -> None:
        host = request.client.host if request.client else ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "testclient"  # Starlette's in-process test client
        if not loopback:
            raise ServiceError.of("not_found", f"no route {request.url.path}")
        if settings.auth_mode == "local" and not _has_configured_credentials(request.scope, settings):
            raise ServiceError.of("unauthorized", "missing or wrong Modal-Key / Modal-Secret headers")

    router = APIRouter(prefix="/_local", dependencies=[Depends(local_caller)])

    def answer(request: Request, body: dict) -> JSONResponse:
        return JSONResponse({**body, "request_id": request.scope.get("state", {}).get("request_id", "")})

    @router.get("/stats")
    async def read_stats(request: Request) -> JSONResponse:
        return answer(request, {**stats.snapshot(), "faults": faults.describe()})

    @router.post("/stats/reset")
    async def reset_stats(request: Request) -> JSONResponse:
        stats.reset()
        return answer(request, {**stats.snapshot(), "faults": faults.describe()})

    @router.put("/faults")
    async def set_faults(body: FaultsBody, request: Request) -> JSONResponse:
        try:
            faults.configure(body.spec, body.seed)
        except FaultSpecError as exc:
            raise ServiceError.of("validation_error", f"spec: {exc}") from None
        return answer(request, faults.describe())

    @router.get("/faults")
    async def get_faults(request: Request) -> JSONResponse:
        return answer(request, faults.describe())

    return router


def _has_configured_credentials(scope: Scope, settings: Settings) -> bool:
    if settings.auth_mode != "local":
        return True  # no credentials to compare: every request counts as the configured caller
    headers = dict(scope.get("headers") or [])
    key_ok = _same(headers.get(b"modal-key"), settings.modal_key)
    secret_ok = _same(headers.get(b"modal-secret"), settings.modal_secret)
    return key_ok and secret_ok


def _same(given: bytes | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given, expected.encode())
