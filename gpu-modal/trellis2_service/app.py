"""The one FastAPI app, served by Modal (CPU container, GPU work as Modal calls) and locally (LocalCalls).

Routes, fields, statuses and error bodies follow docs/service-api.md. Handlers are thin: validate the
body, hand plain data to the calls (job_calls.py) or the job ledger (job_ledger.py), shape the answer.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .config import Settings
from .errors import ServiceError
from .ids import require_state_id
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import REPLAYED_HEADER, idempotency_key
from .images import decode_base64_field, image_from_base64
from .job_calls import Calls
from .job_keys import KeyValue
from .job_ledger import MAX_JOB_WAIT_SECONDS, JobLedger, JobView, owner_of
from .middleware import RequestContextMiddleware
from .schemas import ExtractBody, GenerateBody
from .state_codec import StateFormatError, verify_state
from .store import Store
from .work import WorkResult, extract_request, generate_request, iso_utc

log = logging.getLogger("trellis2.app")

GLB_MEDIA_TYPE = "model/gltf-binary"
MP4_MEDIA_TYPE = "video/mp4"


def create_app(*, settings: Settings, calls: Calls, ledger_kv: KeyValue, store: Store, backend_name: str | None = None,
               on_job_created: Callable[[str], None] | None = None,
               warm_check: Callable[[], dict] | None = None) -> FastAPI:
    """`ledger_kv`: the job ledger's key-value store (a modal.Dict on Modal). `on_job_created(kind)` is told of
    each job made (the local service counts them). `warm_check` (Modal): answers /warmup from the warm signal
    (trellis2_service.warm) without waiting for, or taking, a GPU container; locally /warmup loads the model
    in-process."""
    app = FastAPI(title="trellis2-api", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(RequestContextMiddleware, body_limit_for=settings.body_limit_for)
    _install_error_handlers(app)
    jobs = JobLedger(ledger_kv, calls, store, on_created=on_job_created)
    backend_label = backend_name or settings.backend

    async def authenticate(request: Request) -> str:
        """-> the caller's owner hash. Locally: compare both headers; on Modal the proxy already did."""
        key, secret = request.headers.get("modal-key"), request.headers.get("modal-secret")
        if settings.auth_mode == "local":
            key_ok = _same(key, settings.modal_key)
            secret_ok = _same(secret, settings.modal_secret)  # both compared, always: no early exit
            if not (key_ok and secret_ok):
                raise ServiceError.of("unauthorized", "missing or wrong Modal-Key / Modal-Secret headers")
        elif settings.auth_mode == "proxy" and not key:
            raise ServiceError.of("unauthorized", "missing Modal-Key / Modal-Secret headers")
        return owner_of(key)

    @app.get("/health")
    async def health(request: Request) -> dict:
        return {"status": "ok", "service": "trellis2-api", "backend": backend_label, "version": __version__,
                "request_id": _request_id(request)}

    api = APIRouter(dependencies=[Depends(authenticate)])

    @api.post("/warmup")
    async def warmup(request: Request) -> JSONResponse:
        if warm_check is not None:
            return _json(request, await run_in_threadpool(warm_check))
        result = _checked(await calls.warmup(time.time()))
        cold = bool(result.fields.get("cold_start"))  # this call loaded the model: it was not warm, and started it
        return _json(request, {**result.fields, "warm": not cold, "started": cold, "server_timing": result.server_timing})

    @api.post("/generate")
    async def generate(body: GenerateBody, request: Request) -> Response:
        render_preview = body.include_video or body.state_mode == "reference"
        work = await run_in_threadpool(_generate_work, body, render_preview)
        result = _checked(await calls.run("generate", work, time.time()))
        return _json(request, _generate_body(result.fields, result.blobs, result.server_timing, body.include_video))

    @api.post("/extract_glb")
    async def extract_glb(body: ExtractBody, request: Request) -> Response:
        if body.presets is not None:
            raise ServiceError.of("validation_error", "presets: only for POST /jobs/extract_glb")
        work = await run_in_threadpool(_extract_work, body, settings, store)
        result = _checked(await calls.run("extract_glb", work, time.time()))
        return _extract_response(request, result.fields, result.blobs, result.server_timing)

    async def submit_job(request: Request, owner: str, kind: str, body: GenerateBody | ExtractBody,
                         prepare: Callable[[], Awaitable[dict]], **options: Any) -> Response:
        header = request.headers.get(IDEMPOTENCY_HEADER)
        # Hashing a large body (an inline state) takes a while: not on the event loop.
        key = None if header is None else await run_in_threadpool(idempotency_key, header, kind,
                                                                  body.model_dump(mode="json"))
        job, replayed = await jobs.submit(owner, kind, prepare, request_id=_request_id(request), idempotency=key,
                                          **options)
        response = _json(request, {"job_id": job.job_id, "kind": job.kind, "status": job.status}, status=202)
        if replayed:
            response.headers[REPLAYED_HEADER] = "true"
        return response

    @api.post("/jobs/generate", status_code=202)
    async def submit_generate(body: GenerateBody, request: Request, owner: str = Depends(authenticate)) -> Response:
        # The preview is rendered only when asked for (include_video): it costs GPU seconds.
        return await submit_job(request, owner, "generate", body,
                                lambda: run_in_threadpool(_generate_work, body, body.include_video),
                                include_video=body.include_video)

    @api.post("/jobs/extract_glb", status_code=202)
    async def submit_extract(body: ExtractBody, request: Request, owner: str = Depends(authenticate)) -> Response:
        return await submit_job(request, owner, "extract_glb", body,
                                lambda: run_in_threadpool(_extract_work, body, settings, store))

    @api.get("/jobs/{job_id}")
    async def job_status(job_id: str, request: Request, owner: str = Depends(authenticate),
                         wait: float = Query(0.0, ge=0.0, le=MAX_JOB_WAIT_SECONDS)) -> Response:
        # `wait` > 0: a long poll, answered once the job is final or after `wait` seconds (see JobLedger.wait).
        # Out of range (or NaN) is a 400 validation_error like any other field.
        job = await jobs.wait(job_id, owner, wait)
        summary = {**job.result, "request_id": job.request_id} if job.status == "succeeded" and job.result else None
        error = job.error
        return _json(request, {
            "job_id": job.job_id, "kind": job.kind, "status": job.status,
            "created_at": iso_utc(job.created_at), "updated_at": iso_utc(job.updated_at),
            "result": summary, "error": {k: error[k] for k in ("code", "message", "retryable")} if error else None,
        })

    @api.get("/jobs/{job_id}/result")
    async def job_result(job_id: str, request: Request, owner: str = Depends(authenticate),
                         preset: str | None = Query(None, max_length=32)) -> Response:
        job = await jobs.get(job_id, owner)
        if job.status == "failed":
            raise ServiceError.from_dict(job.error or ServiceError.of("internal_error", "the job failed").to_dict())
        if job.status != "succeeded" or job.result is None:
            raise ServiceError.of("job_not_finished", f"job {job_id} is {job.status}; poll GET /jobs/{job_id}")
        fields = {k: v for k, v in job.result.items() if k != "server_timing"}
        timing = job.result.get("server_timing")
        if job.kind == "extract_glb":
            return await _extract_result(request, jobs, job, fields, timing, preset)
        if preset is not None:
            raise ServiceError.of("validation_error", "preset: only for extract_glb jobs")
        if _accepts(request, MP4_MEDIA_TYPE):
            if "video" not in job.blobs:
                raise ServiceError.of("state_not_found", "this job has no preview video (submit with include_video)")
            blobs = await jobs.result_blobs(job, ["video"])
            return _raw(request, blobs["video"], MP4_MEDIA_TYPE, timing)
        blobs = await jobs.result_blobs(job, job.blobs)
        return _json(request, _generate_body(fields, blobs, timing, job.include_video))

    @api.get("/states/{state_id}/preview.mp4")
    async def state_preview(state_id: str, request: Request) -> Response:
        require_state_id(state_id)
        started = time.perf_counter()
        video = await run_in_threadpool(store.get_preview, state_id)
        # Served from the store by this (CPU) process: no model work, so no queue, load or GPU.
        timing = {"compute_seconds": round(time.perf_counter() - started, 4), "queue_seconds": 0.0,
                  "cold_start": False, "load_seconds": None, "backend": backend_label, "device": "cpu"}
        return _raw(request, video, MP4_MEDIA_TYPE, timing)

    app.include_router(api)
    return app


# --- Validation up front (the same for synchronous routes and jobs) ------------------------------------
def _generate_work(body: GenerateBody, render_preview: bool) -> dict:
    image_bytes, _ = image_from_base64(body.image)  # decoded fully here, so a bad image fails before any GPU work
    return generate_request(image_bytes, body.sampler_params(), state_mode=body.state_mode,
                            render_preview=render_preview)


def _extract_work(body: ExtractBody, settings: Settings, store: Store) -> dict:
    if body.state is not None:
        blob = decode_base64_field(body.state, "state")
        try:
            verify_state(blob, settings.state_secret)  # signature only; the worker decodes it
        except StateFormatError as exc:
            raise ServiceError.of("validation_error", f"state: {exc}") from None
        return extract_request(blob, None, body.extract_params(), body.preset_params())
    store.require_state(body.state_id)
    return extract_request(None, body.state_id, body.extract_params(), body.preset_params())


# --- Response shapes -------------------------------------------------------------------------------------
def _generate_body(fields: dict, blobs: dict, timing: dict | None, include_video: bool) -> dict:
    video = blobs.get("video")
    state = blobs.get("state")
    return {
        "state": _b64(state) if state is not None else None,
        "state_id": fields.get("state_id"),
        "state_expires_at": fields.get("state_expires_at"),
        "video": _b64(video) if (video is not None and include_video) else None,
        "video_bytes": fields.get("video_bytes", 0),
        "server_timing": timing,
    }


def _extract_response(request: Request, fields: dict, blobs: dict, timing: dict | None) -> Response:
    glb = blobs["glb"]
    if _accepts(request, GLB_MEDIA_TYPE):
        return _raw(request, glb, GLB_MEDIA_TYPE, timing, {"X-Glb-Sha256": fields["glb_sha256"]})
    return _json(request, {"glb": _b64(glb), "glb_bytes": fields["glb_bytes"], "glb_sha256": fields["glb_sha256"],
                           "server_timing": timing})


async def _extract_result(request: Request, jobs: JobLedger, job: JobView, fields: dict, timing: dict | None,
                          preset: str | None) -> Response:
    """One GLB of a finished extract job: the job's only one, or, of a multi-preset job, the one named by `preset`."""
    presets: dict | None = fields.get("presets")
    if presets is None:
        if preset is not None:
            raise ServiceError.of("validation_error", "preset: this job made a single GLB; leave preset out")
        blob_name, glb_fields = "glb", fields
    elif preset is None:
        raise ServiceError.of("validation_error", f"preset: required for this job; one of {', '.join(presets)}")
    elif preset not in presets:
        raise ServiceError.of("not_found", f"preset: this job made no GLB named {preset!r}; it made {', '.join(presets)}")
    else:
        blob_name, glb_fields = f"glb-{preset}", presets[preset]
    glb = (await jobs.result_blobs(job, [blob_name]))[blob_name]
    return _extract_response(request, {**glb_fields, "glb_bytes": len(glb)}, {"glb": glb}, timing)


def _checked(result: WorkResult) -> WorkResult:
    if result.error:
        raise ServiceError.from_dict(result.error)
    return result


def _json(request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({**body, "request_id": _request_id(request)}, status_code=status)


def _raw(request: Request, data: bytes, media_type: str, timing: dict | None, headers: dict | None = None) -> Response:
    all_headers = {"X-Server-Timing": json.dumps(timing, separators=(",", ":")), **(headers or {})}
    return Response(data, media_type=media_type, headers=all_headers)


def _accepts(request: Request, media_type: str) -> bool:
    return media_type in request.headers.get("accept", "")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        hmac.compare_digest(b"x", b"y")  # keep the timing of a missing header like that of a wrong one
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# --- Errors ---------------------------------------------------------------------------------------------
def error_response(request: Request, error: ServiceError) -> JSONResponse:
    request_id = _request_id(request)
    return JSONResponse({"error": error.body(), "request_id": request_id}, status_code=error.status,
                        headers={"X-Request-Id": request_id})


def describe_validation_errors(errors: list[dict]) -> str:
    """FastAPI's error list -> one sentence naming the offending fields."""
    parts = []
    for error in errors[:5]:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        kind = error.get("type", "")
        if kind == "json_invalid":
            parts.append("body: not valid JSON")
        elif not location and kind in ("missing", "model_attributes_type", "dict_type"):
            parts.append("body: must be a JSON object")
        else:
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{'.'.join(location)}: {message}" if location else message)
    return "; ".join(dict.fromkeys(parts))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, ServiceError.of("validation_error", describe_validation_errors(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(request, ServiceError.of("not_found", f"no route {request.url.path}"))
        if exc.status_code == 405:
            message = f"{request.method} is not allowed here"
            return error_response(request, ServiceError.of("method_not_allowed", message))
        code = "validation_error" if exc.status_code < 500 else "internal_error"
        return error_response(request, ServiceError(code, str(exc.detail), exc.status_code, exc.status_code >= 500))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": _request_id(request)})
        return error_response(request, ServiceError.of("internal_error", "internal error"))


# --- Seed-style subdomain routing ------------------------------------------------------------------------
def route_root_to(app: ASGIApp, path: str) -> ASGIApp:
    """Serve `app` on a host of its own (`...-generate.modal.run`): a request for `/` goes to `path`."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in ("", "/"):
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await app(scope, receive, send)

    return routed
