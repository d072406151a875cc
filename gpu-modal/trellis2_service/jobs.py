"""Jobs: work that outlives a web request, and the runners that decide WHERE work runs.

A job lives in the store (so it survives an API container restart on Modal) as files with one writer
each (see store.py): the API writes the submit record (owner hash, kind, request id), the runner's call id
and, only if it concludes the call died, a verdict; the GPU side (`execute_job`) writes attempts, "running"
and the outcome. The status is computed when reading, and the worker's outcome always wins, so a poll can
never overwrite a job the GPU side finished.

Runners:
- `LocalRunner`: one in-process worker thread, so calls run one after another like on one GPU container.
- `ModalRunner`: calls the Modal GPU class; jobs are `spawn()`ed and tracked by their FunctionCall id.
Submitting is the only place work starts: polling a job, from any client, never runs it again. A submit
with an `Idempotency-Key` already bound to a job (see idempotency.py) answers with that job instead.

A poll may be a long poll (`Jobs.wait`): the runner waits on the work itself (a LocalRunner's future, a
Modal FunctionCall), so the poll answers as soon as the job is final instead of the client sleeping
between polls and seeing the outcome late.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import queue
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .errors import ServiceError, error_from_exception
from .idempotency import IdempotencyKey, KeyLocks
from .ids import new_job_id, require_job_id
from .store import FINAL_STATUSES, Store
from .work import WorkResult, Worker

log = logging.getLogger("trellis2.jobs")

STALE_VIEW_RETRIES = 3
# Longest long poll (`GET /jobs/{id}?wait=S`): well inside any proxy's idle limit and Modal's web-request
# cut-off, and short enough that a lost connection is noticed soon; a client simply polls again.
MAX_JOB_WAIT_SECONDS = 20.0
# When the runner had nothing to wait on (a Modal call not recorded yet, a job whose work already ended
# while the store still shows it unfinished), a long poll looks again no sooner than this: it never spins.
WAIT_RECHECK_SECONDS = 0.25


def owner_of(modal_key: str | None) -> str:
    """Jobs belong to a Modal-Key; store only a hash of it."""
    return hashlib.sha256(b"trellis2-job-owner\x00" + (modal_key or "").encode()).hexdigest()


def execute_job(worker: Worker, store: Store, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
    """Run one job and record its outcome in the store; returns the backend's retire reason.

    The GPU side's only writes are its own file (worker.json) and the result blobs. A job already
    finished, or failed by the API's verdict, is left alone, so a redelivered call (a Modal retry) cannot
    run it twice; a job started `max_job_attempts` times already (each start killed its container) is
    failed instead of being run again.
    """
    record, fresh = store.read_job(job_id)
    for _ in range(STALE_VIEW_RETRIES):  # a stale view may not show the job yet, or undercount its attempts
        if fresh:
            break
        time.sleep(1.0)
        record, fresh = store.read_job(job_id)
    if record is None or record["status"] in FINAL_STATUSES:
        log.info("job %s is %s; not running it", job_id, record["status"] if record else "gone")
        return None
    attempts = int(record.get("attempts", 0))
    winner = _superseding_job(store, record)
    if winner:
        _record_failure(store, job_id, attempts, ServiceError.of(
            "internal_error", f"superseded: the same Idempotency-Key was accepted twice and job {winner} "
                              "holds it; submit again with the same key to get that job"))
        return None
    if attempts >= worker.settings.max_job_attempts:
        _record_failure(store, job_id, attempts, poison_input(attempts))
        return None
    attempts += 1
    store.put_job_progress(job_id, {"status": "running", "attempts": attempts, "updated_at": time.time()})
    run = worker.generate if kind == "generate" else worker.extract
    result = run(request, submitted_at)
    finish_job(store, job_id, result, attempts)
    return result.retire_reason


def finish_job(store: Store, job_id: str, result: WorkResult, attempts: int) -> None:
    now = time.time()
    outcome: dict[str, Any] = {"attempts": attempts, "updated_at": now, "expires_at": now + store.ttl_seconds}
    if result.ok:
        store.put_job_blobs(job_id, result.blobs)
        outcome.update(status="succeeded", blobs=sorted(result.blobs), error=None,
                       result={**result.fields, "server_timing": result.server_timing})
    else:
        outcome.update(status="failed", result=None, error=result.error)
    store.put_job_progress(job_id, outcome)


def poison_input(attempts: int) -> ServiceError:
    return ServiceError.of("poison_input", f"the job was started {attempts} times and each time its GPU container "
                                           "died; this input keeps killing containers, so it is not run again")


def _record_failure(store: Store, job_id: str, attempts: int, error: ServiceError) -> None:
    log.warning("job %s not run: %s", job_id, error.message)
    finish_job(store, job_id, WorkResult(error=error.to_dict()), attempts)


def _superseding_job(store: Store, record: dict[str, Any]) -> str | None:
    """The job that holds this job's Idempotency-Key instead of it, if another one does.

    Only reachable when two API containers accepted the same key at once (each saw no binding before the
    other's commit); by the time a GPU container starts, the Volume has settled on one binding.
    """
    binding_file = record.get("idempotency_file")
    if not binding_file:
        return None
    holder = store.idempotency_job(binding_file)
    return holder if holder and holder != record["job_id"] else None


class Runner(Protocol):
    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult: ...

    async def warmup(self, submitted_at: float) -> WorkResult: ...

    async def submit(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str | None:
        """Start a job; return a call id to track it by, if the runner has one."""

    async def settle(self, record: dict[str, Any], call_id: str | None) -> ServiceError | None:
        """For an unfinished record: the error to record if the work died without recording an outcome."""

    async def wait_settled(self, record: dict[str, Any], call_id: str | None, timeout: float) -> None:
        """For an unfinished record: returns when the job's work may have ended, or after `timeout` seconds.

        Never raises for the work's own failure and never cancels the work: the caller reads the store
        again, and `settle` turns a call that died unrecorded into the verdict. May return early.
        """


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

    async def settle(self, record: dict[str, Any], call_id: str | None) -> ServiceError | None:
        future = self._jobs.get(record["job_id"])
        if future is None or future.cancelled():
            # Not run by this process: it was queued or running when the server stopped.
            return ServiceError.of("internal_error", "the job was interrupted by a service restart; submit it again")
        if future.done() and future.exception() is not None:
            log.error("job %s crashed", record["job_id"], exc_info=future.exception())
            return ServiceError.of("internal_error", "the job crashed")
        return None

    async def wait_settled(self, record: dict[str, Any], call_id: str | None, timeout: float) -> None:
        """Waits on the job's future: it completes after `execute_job` recorded the outcome (or crashed).

        A job with no future here (it was run by a process before a restart), or one already over,
        returns at once: `Jobs.get` then reports it (`settle` fails an interrupted job).
        `asyncio.wait` rather than `wait_for`: on timeout it cancels nothing (cancelling a wrapped future
        would cancel the job), it never raises the job's exception (`settle` reports a crash), and a future
        cancelled by `shutdown` ends the wait instead of surfacing as a CancelledError in the request.
        """
        future = self._jobs.get(record["job_id"])
        if future is None or future.done():
            return
        waiting = asyncio.wrap_future(future)
        waiting.add_done_callback(_consume_outcome)
        await asyncio.wait([waiting], timeout=timeout)

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

    async def settle(self, record: dict[str, Any], call_id: str | None) -> ServiceError | None:
        import modal  # only the Modal API container gets here

        if not call_id:
            return None  # the spawn is still being recorded
        try:
            await modal.FunctionCall.from_id(call_id).get.aio(timeout=0)
        except TimeoutError:
            return None  # still queued or running
        except Exception as exc:
            failure = _call_failure(exc, record["kind"])
        else:
            failure = ServiceError.of("internal_error", "the job ended without a result")
        # The call is over. Its worker committed the outcome before returning, so look again; only if the
        # record still is not final (and this container's view is fresh) did the work die unrecorded.
        refreshed, reloaded = await asyncio.to_thread(self.store.read_job, record["job_id"])
        if not reloaded or refreshed is None or refreshed["status"] in FINAL_STATUSES:
            return None
        return failure

    async def wait_settled(self, record: dict[str, Any], call_id: str | None, timeout: float) -> None:
        """Waits on the job's FunctionCall. Its worker commits the outcome to the Volume before the call
        returns, so the caller's re-read (with a reload) sees it.

        Any failure of the call (it died, its result expired) just ends the wait: `settle` turns it into
        the verdict. Without a call id yet (the spawn is still being recorded) there is nothing to wait on:
        sleep a little, and the caller looks again.
        """
        import modal  # only the Modal API container gets here

        if not call_id:
            await asyncio.sleep(min(timeout, 0.5))
            return
        try:
            await modal.FunctionCall.from_id(call_id).get.aio(timeout=timeout)
        except Exception:  # TimeoutError (still running), or the call failed: settle() decides
            pass


def _consume_outcome(future: asyncio.Future) -> None:
    """Marks a waited-on future's exception as seen (settle() reports it), so asyncio does not log it."""
    if not future.cancelled():
        future.exception()


def _call_failure(exc: BaseException, kind: str) -> ServiceError:
    failure_code = {"generate": "generation_error", "extract_glb": "extraction_error"}.get(kind, "internal_error")
    log.error("GPU call failed: %s", type(exc).__name__)
    return error_from_exception(exc, failure_code=failure_code)


class Jobs:
    """Job records for the API: create (once per idempotency key), look up (owner-checked), and settle."""

    def __init__(self, store: Store, runner: Runner, *, max_attempts: int = 2,
                 on_created: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.runner = runner
        self.max_attempts = max_attempts
        self._on_created = on_created or (lambda kind: None)
        self._key_locks = KeyLocks()

    async def submit(self, owner: str, kind: str, prepare: Callable[[], Awaitable[dict]], *, request_id: str,
                     submitted_at: float, include_video: bool = True,
                     idempotency: IdempotencyKey | None = None) -> tuple[dict[str, Any], bool]:
        """-> (the job's record, whether it was an existing job bound to the idempotency key).

        `prepare` validates the request and builds the work; it is not called for a replay.
        """
        if idempotency is None:
            request = await prepare()
            record = await self._create(owner, kind, request_id, submitted_at, include_video, None)
            await self._start(record, request, submitted_at)
            return record, False
        # One submit per key at a time in this container: a second waits, then finds the first's binding.
        async with self._key_locks.hold(owner + "\x00" + idempotency.key):
            if not await asyncio.to_thread(self.store.reload):
                # A stale view might miss the key's binding: refusing costs a retry, guessing could cost a job.
                raise ServiceError.of("not_ready", "the job store could not be refreshed; retry with the same key")
            binding = await asyncio.to_thread(self.store.get_idempotency, owner, idempotency.key, fresh=False)
            if binding is not None:
                if not hmac.compare_digest(str(binding.get("body_sha256", "")), idempotency.body_sha256):
                    raise ServiceError.of("idempotency_key_reused", (
                        f"Idempotency-Key was already used for a different request (job {binding.get('job_id')}); "
                        "use a new key for new work"))
                existing = await self._existing(binding.get("job_id"), owner)
                if existing is not None and existing["status"] != "failed":
                    return existing, True
                # The bound job failed (nothing was produced, so nothing is paid twice) or expired: rebind.
            request = await prepare()
            record = await self._create(owner, kind, request_id, submitted_at, include_video,
                                        self.store.idempotency_file(owner, idempotency.key))
            bound = await asyncio.to_thread(
                self.store.bind_idempotency, owner, idempotency.key,
                {"job_id": record["job_id"], "body_sha256": idempotency.body_sha256}, replace=binding is not None)
            if not bound:  # another process on this store bound the key between our look and our bind
                await asyncio.to_thread(self.store.put_job_verdict, record["job_id"], ServiceError.of(
                    "internal_error", "superseded by another request with the same Idempotency-Key").to_dict())
                raise ServiceError.of("not_ready", "another request with this Idempotency-Key is being accepted; "
                                                   "retry with the same key")
            await self._start(record, request, submitted_at)
            return record, False

    async def get(self, job_id: str, owner: str) -> dict[str, Any]:
        require_job_id(job_id)
        record = await self._existing(job_id, owner)
        if record is None:
            raise ServiceError.of("job_not_found", f"job {job_id} is unknown, expired, or not yours")
        return record

    async def wait(self, job_id: str, owner: str, wait_seconds: float) -> dict[str, Any]:
        """`get`, as a long poll: answers as soon as the job is final, or after `wait_seconds` with its
        current status (0: at once, exactly like `get`).

        The runner waits on the work itself and we read the store again when it may have ended, so a
        finished job is seen within one request instead of a client's backoff interval late. Each look
        goes through `get` (owner check, settle), so a long poll concludes exactly what a short one would.
        """
        if not 0.0 <= wait_seconds <= MAX_JOB_WAIT_SECONDS:  # also NaN; the route refuses these first
            raise ServiceError.of("validation_error", f"wait: must be 0 to {MAX_JOB_WAIT_SECONDS:g} seconds")
        deadline = time.monotonic() + wait_seconds
        record = await self.get(job_id, owner)
        while record["status"] not in FINAL_STATUSES:
            started = time.monotonic()
            if started >= deadline:
                break
            call_id = await asyncio.to_thread(self.store.get_job_call, job_id)  # recorded after the spawn
            await self.runner.wait_settled(record, call_id, deadline - started)
            record = await self.get(job_id, owner)  # at once: a job that just ended is answered now
            if record["status"] not in FINAL_STATUSES:
                # Still unfinished although the runner returned early: it had nothing to wait on (see
                # WAIT_RECHECK_SECONDS). Pace the next look, so a long poll never spins on the store.
                pause = min(started + WAIT_RECHECK_SECONDS, deadline) - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
        return record

    async def _existing(self, job_id: str | None, owner: str) -> dict[str, Any] | None:
        """The owner's job, settled (a job whose call died is failed now), or None."""
        if job_id is None:
            return None
        record, reloaded = await asyncio.to_thread(self.store.read_job, job_id)
        if record is None or not hmac.compare_digest(record.get("owner", ""), owner):
            return None
        if record["status"] in FINAL_STATUSES:
            return record
        call_id = await asyncio.to_thread(self.store.get_job_call, job_id)
        verdict = await self.runner.settle(record, call_id)
        if verdict is None or not reloaded:
            return record  # a stale view (failed reload) may answer a poll, never conclude anything
        if int(record.get("attempts", 0)) >= self.max_attempts:
            verdict = poison_input(int(record["attempts"]))
        await asyncio.to_thread(self.store.put_job_verdict, job_id, verdict.to_dict())
        return await asyncio.to_thread(self.store.get_job, job_id, fresh=False) or record

    async def _create(self, owner: str, kind: str, request_id: str, submitted_at: float, include_video: bool,
                      idempotency_file: str | None) -> dict[str, Any]:
        record = {
            "job_id": new_job_id(), "owner": owner, "kind": kind, "status": "queued", "request_id": request_id,
            "created_at": submitted_at, "updated_at": submitted_at,
            "expires_at": submitted_at + self.store.ttl_seconds, "include_video": include_video,
            "result": None, "error": None, "blobs": [], "idempotency_file": idempotency_file,
        }
        # Committed before the work can start, so the worker finds it. Store calls go to a thread: on Modal
        # they are Volume commits and reloads, which block.
        await asyncio.to_thread(self.store.create_job, record)
        self._on_created(kind)
        return {**record, "attempts": 0}

    async def _start(self, record: dict[str, Any], request: dict, submitted_at: float) -> None:
        job_id = record["job_id"]
        try:
            call_id = await self.runner.submit(job_id, record["kind"], request, submitted_at)
        except Exception as exc:
            error = ServiceError.of("not_ready", f"could not start the job ({type(exc).__name__}); retry")
            await asyncio.to_thread(self.store.put_job_verdict, job_id, error.to_dict())
            raise error from exc
        if call_id:
            await asyncio.to_thread(self.store.put_job_call, job_id, call_id)
