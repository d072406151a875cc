"""The seed-compatible surface, kept in one place: the synchronous routes (POST /generate, POST /extract_glb,
answered when the work is done, inline signed states) and the seed's one-host-per-endpoint URLs on Modal.
A client written for the seed works unchanged; new clients use the job routes (job_routes.py)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ServiceError
from .http_common import authenticate, checked, extract_work, generate_body, generate_work, glb_answer, json_answer, service_of
from .schemas import ExtractBody, GenerateBody

router = APIRouter(dependencies=[Depends(authenticate)])


@router.post("/generate")
async def generate(body: GenerateBody, request: Request) -> Response:
    # A reference state keeps its preview beside it (GET /states/{id}/preview.mp4), so it is always rendered.
    render_preview = body.include_video or body.state_mode == "reference"
    work = await run_in_threadpool(generate_work, body, render_preview)
    result = checked(await service_of(request).calls.run("generate", work, time.time()))
    return json_answer(request, generate_body(result.fields, result.blobs, result.server_timing, body.include_video))


@router.post("/extract_glb")
async def extract_glb(body: ExtractBody, request: Request) -> Response:
    if body.presets is not None:
        raise ServiceError.of("validation_error", "presets: only for POST /jobs/extract_glb")
    service = service_of(request)
    work = await run_in_threadpool(extract_work, body, service)
    result = checked(await service.calls.run("extract_glb", work, time.time()))
    return glb_answer(request, result.blobs["glb"], result.fields["glb_sha256"], result.server_timing)


def route_root_to(app: ASGIApp, path: str) -> ASGIApp:
    """Serve `app` on a host of its own (`...-generate.modal.run`): a request for `/` goes to `path`."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in ("", "/"):
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await app(scope, receive, send)

    return routed
