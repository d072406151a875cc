"""Job routes: POST /jobs/generate and /jobs/extract_glb (202 + job id, idempotent by key), GET /jobs/{id}
(a long poll with `wait`), GET /jobs/{id}/result. The ledger behind them is job_ledger.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .errors import ServiceError
from .http_common import (
    MP4_MEDIA_TYPE,
    Service,
    accepts,
    authenticate,
    extract_work,
    generate_body,
    generate_work,
    glb_answer,
    json_answer,
    raw_answer,
    request_id,
    service_of,
)
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import REPLAYED_HEADER, idempotency_key
from .job_ledger import MAX_JOB_WAIT_SECONDS, JobView
from .schemas import ExtractBody, GenerateBody
from .work import iso_utc

router = APIRouter(prefix="/jobs", dependencies=[Depends(authenticate)])


async def _submit(request: Request, owner: str, kind: str, body: GenerateBody | ExtractBody,
                  prepare: Callable[[], Awaitable[dict]], **options: Any) -> Response:
    header = request.headers.get(IDEMPOTENCY_HEADER)
    # Hashing a large body (an inline state) takes a while: not on the event loop.
    key = None if header is None else await run_in_threadpool(idempotency_key, header, kind,
                                                              body.model_dump(mode="json"))
    job, replayed = await service_of(request).jobs.submit(owner, kind, prepare, request_id=request_id(request),
                                                          idempotency=key, **options)
    response = json_answer(request, {"job_id": job.job_id, "kind": job.kind, "status": job.status}, status=202)
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


@router.post("/generate", status_code=202)
async def submit_generate(body: GenerateBody, request: Request, owner: str = Depends(authenticate)) -> Response:
    # The preview is rendered only when asked for (include_video): it costs GPU seconds.
    return await _submit(request, owner, "generate", body,
                         lambda: run_in_threadpool(generate_work, body, body.include_video),
                         include_video=body.include_video)


@router.post("/extract_glb", status_code=202)
async def submit_extract(body: ExtractBody, request: Request, owner: str = Depends(authenticate)) -> Response:
    service = service_of(request)
    return await _submit(request, owner, "extract_glb", body, lambda: run_in_threadpool(extract_work, body, service))


@router.get("/{job_id}")
async def job_status(job_id: str, request: Request, owner: str = Depends(authenticate),
                     wait: float = Query(0.0, ge=0.0, le=MAX_JOB_WAIT_SECONDS)) -> Response:
    # `wait` > 0: a long poll, answered once the job is final or after `wait` seconds (see JobLedger.wait).
    # Out of range (or NaN) is a 400 validation_error like any other field.
    job = await service_of(request).jobs.wait(job_id, owner, wait)
    summary = {**job.result, "request_id": job.request_id} if job.status == "succeeded" and job.result else None
    error = job.error
    return json_answer(request, {
        "job_id": job.job_id, "kind": job.kind, "status": job.status,
        "created_at": iso_utc(job.created_at), "updated_at": iso_utc(job.updated_at),
        "result": summary, "error": {k: error[k] for k in ("code", "message", "retryable")} if error else None,
    })


@router.get("/{job_id}/result")
async def job_result(job_id: str, request: Request, owner: str = Depends(authenticate),
                     preset: str | None = Query(None, max_length=32)) -> Response:
    service = service_of(request)
    job = await service.jobs.get(job_id, owner)
    if job.status == "failed":
        raise ServiceError.from_dict(job.error or ServiceError.of("internal_error", "the job failed").to_dict())
    if job.status != "succeeded" or job.result is None:
        raise ServiceError.of("job_not_finished", f"job {job_id} is {job.status}; poll GET /jobs/{job_id}")
    if job.kind == "extract_glb":
        return await _glb_result(request, service, job, preset)
    if preset is not None:
        raise ServiceError.of("validation_error", "preset: only for extract_glb jobs")
    timing = job.result.get("server_timing")
    if accepts(request, MP4_MEDIA_TYPE):
        if "video" not in job.blobs:
            raise ServiceError.of("state_not_found", "this job has no preview video (submit with include_video)")
        video = (await service.jobs.result_blobs(job, ["video"]))["video"]
        return raw_answer(request, video, MP4_MEDIA_TYPE, timing)
    blobs = await service.jobs.result_blobs(job, job.blobs)
    return json_answer(request, generate_body(job.result, blobs, timing, job.include_video))


async def _glb_result(request: Request, service: Service, job: JobView, preset: str | None) -> Response:
    """One GLB of a finished extract job: the job's only one, or, of a multi-preset job, the one named by `preset`."""
    assert job.result is not None
    presets: dict | None = job.result.get("presets")
    if presets is None:
        if preset is not None:
            raise ServiceError.of("validation_error", "preset: this job made a single GLB; leave preset out")
        blob_name, glb_fields = "glb", job.result
    elif preset is None:
        raise ServiceError.of("validation_error", f"preset: required for this job; one of {', '.join(presets)}")
    elif preset not in presets:
        raise ServiceError.of("not_found", f"preset: this job made no GLB named {preset!r}; it made {', '.join(presets)}")
    else:
        blob_name, glb_fields = f"glb-{preset}", presets[preset]
    glb = (await service.jobs.result_blobs(job, [blob_name]))[blob_name]
    return glb_answer(request, glb, glb_fields["glb_sha256"], job.result.get("server_timing"))
