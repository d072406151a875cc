"""The one FastAPI app, served by Modal (CPU container, GPU work as Modal calls) and locally (LocalCalls).

Routes, fields, statuses and error bodies follow docs/service-api.md. Handlers are thin: validate the body, hand
plain data to the calls (job_calls.py) or the job ledger (job_ledger.py), shape the answer. Here: health, warm-up
and state previews; the job routes are in job_routes.py, the seed-compatible surface in seed_api.py.
"""

from __future__ import annotations

import time
from typing import Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from . import __version__, job_routes, seed_api
from .config import Settings
from .http_common import (
    MP4_MEDIA_TYPE,
    Service,
    authenticate,
    checked,
    install_error_handlers,
    json_answer,
    raw_answer,
    request_id,
    service_of,
)
from .ids import require_state_id
from .job_calls import Calls
from .job_keys import KeyValue
from .job_ledger import SPAWN_GRACE_SECONDS, JobLedger
from .middleware import RequestContextMiddleware
from .store import Store


def create_app(*, settings: Settings, calls: Calls, ledger_kv: KeyValue, store: Store, backend_name: str | None = None,
               on_job_created: Callable[[str], None] | None = None,
               warm_check: Callable[[], dict] | None = None,
               spawn_grace_seconds: float = SPAWN_GRACE_SECONDS) -> FastAPI:
    """`ledger_kv`: the job ledger's key-value store (a modal.Dict on Modal). `on_job_created(kind)` is told of
    each job made (the local service counts them). `warm_check` (Modal): answers /warmup from the warm signal
    (trellis2_service.warm) without waiting for, or taking, a GPU container; locally /warmup loads the model
    in-process."""
    app = FastAPI(title="trellis2-api", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = Service(
        settings=settings, calls=calls, store=store, backend_label=backend_name or settings.backend,
        jobs=JobLedger(ledger_kv, calls, store, on_created=on_job_created, spawn_grace_seconds=spawn_grace_seconds),
        warm_check=warm_check)
    app.add_middleware(RequestContextMiddleware, body_limit_for=settings.body_limit_for)
    install_error_handlers(app)
    app.include_router(open_router)
    app.include_router(router)
    app.include_router(job_routes.router)
    app.include_router(seed_api.router)
    return app


open_router = APIRouter()
router = APIRouter(dependencies=[Depends(authenticate)])


@open_router.get("/health")
async def health(request: Request) -> dict:
    return {"status": "ok", "service": "trellis2-api", "backend": service_of(request).backend_label,
            "version": __version__, "request_id": request_id(request)}


@router.post("/warmup")
async def warmup(request: Request) -> JSONResponse:
    service = service_of(request)
    if service.warm_check is not None:
        return json_answer(request, await run_in_threadpool(service.warm_check))
    result = checked(await service.calls.warmup(time.time()))
    cold = bool(result.fields.get("cold_start"))  # this call loaded the model: it was not warm, and started it
    return json_answer(request, {**result.fields, "warm": not cold, "started": cold,
                                 "server_timing": result.server_timing})


@router.get("/states/{state_id}/preview.mp4")
async def state_preview(state_id: str, request: Request) -> Response:
    require_state_id(state_id)
    service = service_of(request)
    started = time.perf_counter()
    video = await run_in_threadpool(service.store.get_preview, state_id)
    # Served from the store by this (CPU) process: no model work, so no queue, load or GPU.
    timing = {"compute_seconds": round(time.perf_counter() - started, 4), "queue_seconds": 0.0,
              "cold_start": False, "load_seconds": None, "backend": service.backend_label, "device": "cpu"}
    return raw_answer(request, video, MP4_MEDIA_TYPE, timing)
