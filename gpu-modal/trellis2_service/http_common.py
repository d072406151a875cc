"""What every route shares: the service it works with, who is calling, answer shapes, and error bodies."""

from __future__ import annotations

import base64
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import Settings
from .errors import ServiceError
from .images import decode_base64_field, image_from_base64
from .job_calls import Calls
from .job_ledger import JobLedger, owner_of
from .schemas import ExtractBody, GenerateBody
from .state_codec import StateFormatError, verify_state
from .store import Store
from .work import WorkResult, extract_request, generate_request

log = logging.getLogger("trellis2.app")

GLB_MEDIA_TYPE = "model/gltf-binary"
MP4_MEDIA_TYPE = "video/mp4"


@dataclass(frozen=True)
class Service:
    """What the routes work with (one per app, in `app.state.service`)."""

    settings: Settings
    calls: Calls
    jobs: JobLedger
    store: Store
    backend_label: str
    # Modal: answers /warmup from the warm signal (warm.py) without waiting for, or taking, a GPU container.
    warm_check: Callable[[], dict] | None = None


def service_of(request: Request) -> Service:
    return request.app.state.service


def authenticate(request: Request) -> str:
    """-> the caller's owner hash. Locally: compare both headers; on Modal the proxy already did."""
    settings = service_of(request).settings
    key, secret = request.headers.get("modal-key"), request.headers.get("modal-secret")
    if settings.auth_mode == "local":
        key_ok = _same(key, settings.modal_key)
        secret_ok = _same(secret, settings.modal_secret)  # both compared, always: no early exit
        if not (key_ok and secret_ok):
            raise ServiceError.of("unauthorized", "missing or wrong Modal-Key / Modal-Secret headers")
    elif settings.auth_mode == "proxy" and not key:
        raise ServiceError.of("unauthorized", "missing Modal-Key / Modal-Secret headers")
    return owner_of(key)


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        hmac.compare_digest(b"x", b"y")  # keep the timing of a missing header like that of a wrong one
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# --- Answers ---------------------------------------------------------------------------------------------
def checked(result: WorkResult) -> WorkResult:
    if result.error:
        raise ServiceError.from_dict(result.error)
    return result


def json_answer(request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({**body, "request_id": request_id(request)}, status_code=status)


def raw_answer(request: Request, data: bytes, media_type: str, timing: dict | None,
               headers: dict | None = None) -> Response:
    all_headers = {"X-Server-Timing": json.dumps(timing, separators=(",", ":")), **(headers or {})}
    return Response(data, media_type=media_type, headers=all_headers)


def accepts(request: Request, media_type: str) -> bool:
    return media_type in request.headers.get("accept", "")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def generate_body(fields: dict, blobs: dict, timing: dict | None, include_video: bool) -> dict:
    """A generation's answer (the seed's shape): the inline state and video when there are, else nulls."""
    video = blobs.get("video")
    state = blobs.get("state")
    return {
        "state": b64(state) if state is not None else None,
        "state_id": fields.get("state_id"),
        "state_expires_at": fields.get("state_expires_at"),
        "video": b64(video) if (video is not None and include_video) else None,
        "video_bytes": fields.get("video_bytes", 0),
        "server_timing": timing,
    }


def glb_answer(request: Request, glb: bytes, glb_sha256: str, timing: dict | None) -> Response:
    """A GLB: raw with `Accept: model/gltf-binary`, else the seed's JSON with base64."""
    if accepts(request, GLB_MEDIA_TYPE):
        return raw_answer(request, glb, GLB_MEDIA_TYPE, timing, {"X-Glb-Sha256": glb_sha256})
    return json_answer(request, {"glb": b64(glb), "glb_bytes": len(glb), "glb_sha256": glb_sha256,
                                 "server_timing": timing})


# --- Errors ---------------------------------------------------------------------------------------------
def error_response(request: Request, error: ServiceError) -> JSONResponse:
    rid = request_id(request)
    return JSONResponse({"error": error.body(), "request_id": rid}, status_code=error.status,
                        headers={"X-Request-Id": rid})


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


async def _on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return error_response(request, exc)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(request, ServiceError.of("validation_error", describe_validation_errors(exc.errors())))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error_response(request, ServiceError.of("not_found", f"no route {request.url.path}"))
    if exc.status_code == 405:
        return error_response(request, ServiceError.of("method_not_allowed", f"{request.method} is not allowed here"))
    code = "validation_error" if exc.status_code < 500 else "internal_error"
    return error_response(request, ServiceError(code, str(exc.detail), exc.status_code, exc.status_code >= 500))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"request_id": request_id(request)})
    return error_response(request, ServiceError.of("internal_error", "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


# --- Validation up front (the same for synchronous routes and jobs) ------------------------------------
def generate_work(body: GenerateBody, render_preview: bool) -> dict:
    image_bytes, _ = image_from_base64(body.image)  # decoded fully here, so a bad image fails before any GPU work
    return generate_request(image_bytes, body.sampler_params(), state_mode=body.state_mode,
                            render_preview=render_preview)


def extract_work(body: ExtractBody, service: Service) -> dict:
    if body.state is not None:
        blob = decode_base64_field(body.state, "state")
        try:
            verify_state(blob, service.settings.state_secret)  # signature only; the worker decodes it
        except StateFormatError as exc:
            raise ServiceError.of("validation_error", f"state: {exc}") from None
        return extract_request(blob, None, body.extract_params(), body.preset_params())
    service.store.require_state(body.state_id)
    return extract_request(None, body.state_id, body.extract_params(), body.preset_params())
