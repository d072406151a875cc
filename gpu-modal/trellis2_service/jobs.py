"""Jobs: work that outlives a web request, and the runners that decide WHERE work runs.

A job record lives in the store (so it survives an API container restart on Modal) and holds its owner
(a hash of the caller's Modal-Key), kind, status and, once done, the light part of the result; heavy
result fields sit beside it as blobs. The record is written by whoever runs the work (`execute_job`), the
runner's call id is kept in a separate file by the API, so the two never overwrite each other's writes.

Runners:
- `LocalRunner`: one in-process worker thread, so calls run one after another like on one GPU container.
- `ModalRunner`: calls the Modal GPU class; jobs are `spawn()`ed and tracked by their FunctionCall id.
Submitting is the only place work starts: polling a job, from any client, never runs it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from .errors import ServiceError, error_from_exception
from .ids import new_job_id, require_job_id
from .store import Store
from .work import WorkResult, Worker

log = logging.getLogger("trellis2.jobs")

FINAL_STATUSES = ("succeeded", "failed")


def owner_of(modal_key: str | None) -> str:
    """Jobs belong to a Modal-Key; store only a hash of it."""
    return hashlib.sha256(b"trellis2-job-owner\x00" + (modal_key or "").encode()).hexdigest()


def execute_job(worker: Worker, store: Store, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
    """Run one job and record its outcome in the store; returns the backend's retire reason.

    A job already finished is left alone, so a redelivered call (a Modal retry) cannot run it twice.
    """
    record = store.get_job(job_id)
    if record is None or record["status"] in FINAL_STATUSES:
        log.info("job %s is %s; not running it", job_id, record["status"] if record else "gone")
        return None
    store.put_job({**record, "status": "running", "updated_at": time.time()})
    run = worker.generate if kind == "generate" else worker.extract
    result = run(request, submitted_at)
    finish_job(store, record, result)
    return result.retire_reason


def finish_job(store: Store, record: dict[str, Any], result: WorkResult) -> None:
    now = time.time()
    final = {**record, "updated_at": now, "expires_at": now + store.ttl_seconds}
    if result.ok:
        store.put_job_blobs(record["job_id"], result.blobs)
        final.update(status="succeeded", blobs=sorted(result.blobs), error=None,
                     result={**result.fields, "server_timing": result.server_timing})
    else:
        final.update(status="failed", result=None, error=result.error)
    store.put_job(final)


def fail_job(store: Store, record: dict[str, Any], error: ServiceError) -> dict[str, Any]:
    now = time.time()
    final = {**record, "status": "failed", "updated_at": now, "expires_at": now + store.ttl_seconds,
             "result": None, "error": error.to_dict()}
    store.put_job(final)
    return final


class Runner(Protocol):
    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult: ...

    async def warmup(self, submitted_at: float) -> WorkResult: ...

    async def submit(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
        """Start a job; return a call id to track it by, if the runner has one."""

    async def settle(self, record: dict[str, Any], call_id: str | None) -> dict[str, Any]:
        """For an unfinished record: find out whether the work died without recording it."""


class LocalRunner:
    """Runs the work in this process. A Worker stands for one GPU container (one call at a time); given
    several, calls run side by side, as on Modal with max_containers > 1."""

    def __init__(self, worker: Worker, *, workers: int = 1, make_worker: Callable[[], Worker] | None = None) -> None:
        if workers > 1 and make_worker is None:
            raise ValueError("more than one worker needs make_worker")
        self.worker = worker
        containers = [worker] + [make_worker() for _ in range(workers - 1)] if make_worker else [worker]
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        for container in containers:
            self._idle.put(container)
        # As many threads as containers, so a thread always finds one idle.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(containers), thread_name_prefix="trellis2-gpu")
        self._jobs: dict[str, concurrent.futures.Future] = {}

    def _on_a_container(self, call: Callable[[Worker], Any]) -> Any:
        container = self._idle.get()
        try:
            return call(container)
        finally:
            self._idle.put(container)

    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult:
        def work(container: Worker) -> WorkResult:
            return (container.generate if kind == "generate" else container.extract)(request, submitted_at)

        result = await asyncio.wrap_future(self._pool.submit(self._on_a_container, work))
        self._note_retire(result.retire_reason)
        return result

    async def warmup(self, submitted_at: float) -> WorkResult:
        return await asyncio.wrap_future(self._pool.submit(self._on_a_container, lambda c: c.warmup(submitted_at)))

    async def submit(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
        def work(container: Worker) -> str | None:
            return execute_job(container, container.store, job_id, kind, request, submitted_at)

        future = self._pool.submit(self._on_a_container, work)
        future.add_done_callback(lambda done: self._note_retire(None if done.exception() else done.result()))
        self._jobs[job_id] = future
        return None

    async def settle(self, record: dict[str, Any], call_id: str | None) -> dict[str, Any]:
        future = self._jobs.get(record["job_id"])
        if future is None or future.cancelled():
            # Not run by this process: it was queued or running when the server stopped.
            return fail_job(self.worker.store, record, ServiceError.of(
                "internal_error", "the job was interrupted by a service restart; submit it again"))
        if future.done() and future.exception() is not None:
            log.error("job %s crashed", record["job_id"], exc_info=future.exception())
            return fail_job(self.worker.store, record, ServiceError.of("internal_error", "the job crashed"))
        return record

    def _note_retire(self, reason: str | None) -> None:
        if reason:  # one process cannot retire itself; say so, and keep serving
            log.warning("backend asked to retire the worker (%s); restart the local service if this repeats", reason)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ModalRunner:
    """Work on the Modal GPU class. `worker` is an instance handle of it, e.g. `Trellis2Worker()`."""

    def __init__(self, worker: Any, store: Store) -> None:
        self.worker = worker
        self.store = store

    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult:
        method = self.worker.generate if kind == "generate" else self.worker.extract
        try:
            return await method.remote.aio(request, submitted_at)
        except Exception as exc:  # the container died or timed out: the call itself failed
            return WorkResult(error=_call_failure(exc, kind).to_dict())

    async def warmup(self, submitted_at: float) -> WorkResult:
        try:
            return await self.worker.warmup.remote.aio(submitted_at)
        except Exception as exc:
            return WorkResult(error=_call_failure(exc, "warmup").to_dict())

    async def submit(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
        call = await self.worker.run_job.spawn.aio(job_id, kind, request, submitted_at)
        return call.object_id

    async def settle(self, record: dict[str, Any], call_id: str | None) -> dict[str, Any]:
        import modal  # only the Modal API container gets here

        if not call_id:
            return record  # the spawn is still being recorded
        try:
            await modal.FunctionCall.from_id(call_id).get.aio(timeout=0)
        except TimeoutError:
            return record  # still queued or running
        except Exception as exc:
            failure = _call_failure(exc, record["kind"])
        else:
            failure = ServiceError.of("internal_error", "the job ended without a result")
        # The call is over. Its worker committed the outcome before returning, so read the record again;
        # only if it still is not final did the work die without recording anything.
        refreshed = await asyncio.to_thread(self.store.get_job, record["job_id"])
        if refreshed and refreshed["status"] in FINAL_STATUSES:
            return refreshed
        return await asyncio.to_thread(fail_job, self.store, record, failure)


def _call_failure(exc: BaseException, kind: str) -> ServiceError:
    failure_code = {"generate": "generation_error", "extract_glb": "extraction_error"}.get(kind, "internal_error")
    log.error("GPU call failed: %s", type(exc).__name__)
    return error_from_exception(exc, failure_code=failure_code)


class Jobs:
    """Job records for the API: create, look up (owner-checked), and settle."""

    def __init__(self, store: Store, runner: Runner) -> None:
        self.store = store
        self.runner = runner

    async def submit(self, owner: str, kind: str, request: dict, *, request_id: str, submitted_at: float,
                     include_video: bool = True) -> dict[str, Any]:
        job_id = new_job_id()
        record = {
            "job_id": job_id, "owner": owner, "kind": kind, "status": "queued", "request_id": request_id,
            "created_at": submitted_at, "updated_at": submitted_at,
            "expires_at": submitted_at + self.store.ttl_seconds, "include_video": include_video,
            "result": None, "error": None, "blobs": [],
        }
        # Committed before the work can start, so the worker finds it. Store calls go to a thread: on Modal
        # they are Volume commits and reloads, which block.
        await asyncio.to_thread(self.store.put_job, record)
        try:
            call_id = await self.runner.submit(job_id, kind, request, submitted_at)
        except Exception as exc:
            error = ServiceError.of("not_ready", f"could not start the job ({type(exc).__name__}); retry")
            await asyncio.to_thread(fail_job, self.store, record, error)
            raise error from exc
        if call_id:
            await asyncio.to_thread(self.store.put_job_call, job_id, call_id)
        return record

    async def get(self, job_id: str, owner: str) -> dict[str, Any]:
        require_job_id(job_id)
        record = await asyncio.to_thread(self.store.get_job, job_id)
        if record is None or not hmac.compare_digest(record.get("owner", ""), owner):
            raise ServiceError.of("job_not_found", f"job {job_id} is unknown, expired, or not yours")
        if record["status"] not in FINAL_STATUSES:
            call_id = await asyncio.to_thread(self.store.get_job_call, job_id)
            record = await self.runner.settle(record, call_id)
        return record
