"""Jobs for the API: work that outlives a web request, paid for once per Idempotency-Key.

A job is one GPU function call (job_calls.py). Its status is that call's `get` (a long poll: answered as soon as
the call ends); its results are files the call wrote and committed before returning (store.py); who owns it,
and which call runs it, are entries in a key-value store with an atomic put-if-absent (job_keys.py). There are
no job files to merge, no verdicts written by pollers, and nothing that depends on a Volume's links or locks.

An Idempotency-Key is bound to its job by one put-if-absent of `key/<digest>/0`: of two API containers receiving
the same key at once exactly one binds it, and the other answers with the winner's job. A key whose job failed
retryably (the call's own terminal failure, never a passing error) or expired is bound again, atomically, at
`key/<digest>/1`, 2, ...; only a call that has ended can be superseded, so a key never has two calls running.

A job whose call id was never recorded (the API container stopped between binding the key and spawning) is
resolved after SPAWN_GRACE_SECONDS by an atomic claim against its call (job_run.py): either the call has started
and is followed, or it never will, and the job fails so that its key can be bound again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ServiceError
from .idempotency import IdempotencyKey
from .ids import new_job_id, require_job_id
from .job_calls import CallState, Calls
from .job_keys import KeyValue, binding_key, call_key, claim_key, job_key
from .job_run import CLAIM_ABANDONED, CLAIM_RUN, abandoned_error
from .store import Store

log = logging.getLogger("trellis2.jobs")

FINAL_STATUSES = ("succeeded", "failed")
# Longest long poll (`GET /jobs/{id}?wait=S`): well inside any proxy's idle limit and Modal's 150 s web-request
# cut-off, and short enough that a lost connection is noticed soon; a client simply polls again.
MAX_JOB_WAIT_SECONDS = 20.0
# When there was nothing to wait on (no call id yet, or the platform did not answer), a long poll looks again no
# sooner than this: it never spins.
WAIT_RECHECK_SECONDS = 0.25
# How long a job may stay without a recorded call before it is resolved by a claim: far longer than a spawn
# takes, so only a job whose API container stopped mid-submit ever gets there.
SPAWN_GRACE_SECONDS = 120.0
# How many times one Idempotency-Key may be bound to a new job after retryable failures.
MAX_KEY_GENERATIONS = 16


def owner_of(modal_key: str | None) -> str:
    """Jobs belong to a Modal-Key; only a hash of it is kept."""
    return hashlib.sha256(b"trellis2-job-owner\x00" + (modal_key or "").encode()).hexdigest()


@dataclass
class JobView:
    """A job as one look saw it."""

    job_id: str
    kind: str
    status: str  # queued | running | succeeded | failed
    created_at: float
    updated_at: float
    request_id: str
    include_video: bool
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    blobs: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobLedger:
    def __init__(self, kv: KeyValue, calls: Calls, store: Store, *, clock: Callable[[], float] = time.time,
                 on_created: Callable[[str], None] | None = None,
                 spawn_grace_seconds: float = SPAWN_GRACE_SECONDS) -> None:
        self.kv = kv
        self.calls = calls
        self.store = store
        self._clock = clock
        self._on_created = on_created or (lambda kind: None)
        self._spawn_grace = spawn_grace_seconds

    # --- Submitting -------------------------------------------------------------------------------------------
    async def submit(self, owner: str, kind: str, prepare: Callable[[], Awaitable[dict]], *, request_id: str,
                     include_video: bool = True, idempotency: IdempotencyKey | None = None) -> tuple[JobView, bool]:
        """-> (the job, whether it is an existing job the key was bound to). `prepare` validates the request and
        builds the work; a replay never calls it."""
        if idempotency is None:
            job = await self._create(owner, kind, request_id, include_video)
            await self._start(job, await prepare())
            return job, False
        request: dict | None = None
        for generation in range(MAX_KEY_GENERATIONS):
            name = binding_key(owner, idempotency.key, generation)
            binding = await self._get(name)
            if binding is None:
                request = request if request is not None else await prepare()
                job = await self._create(owner, kind, request_id, include_video)
                if await self._put_if_absent(name, {"job_id": job.job_id, "body_sha256": idempotency.body_sha256}):
                    await self._start(job, request)
                    return job, False
                binding = await self._get(name)  # another API container bound the key first: answer with its job
                if binding is None:
                    raise ServiceError.of("not_ready", "the job ledger did not answer; retry with the same key")
            if not hmac.compare_digest(str(binding.get("body_sha256", "")), idempotency.body_sha256):
                raise ServiceError.of("idempotency_key_reused", (
                    f"Idempotency-Key was already used for a different request (job {binding.get('job_id')}); "
                    "use a new key for new work"))
            job = await self._look(str(binding.get("job_id")), owner, 0.0)
            if job is not None and not _may_run_again(job):
                return job, True
            # Its call failed retryably, or the job expired: bind the key again, at the next generation.
        raise ServiceError.of("idempotency_key_reused", f"the jobs of this Idempotency-Key failed {MAX_KEY_GENERATIONS} "
                                                        "times; look at their errors, then use a new key", retryable=False)

    async def _create(self, owner: str, kind: str, request_id: str, include_video: bool) -> JobView:
        now = self._clock()
        job = JobView(job_id=new_job_id(), kind=kind, status="queued", created_at=now, updated_at=now,
                      request_id=request_id, include_video=include_video)
        await self._put(job_key(job.job_id), {"owner": owner, "kind": kind, "request_id": request_id,
                                              "created_at": now, "include_video": include_video})
        self._on_created(kind)
        return job

    async def _start(self, job: JobView, request: dict) -> None:
        try:
            call_id = await self.calls.spawn(job.job_id, job.kind, request, job.created_at)
        except Exception as exc:
            # Whether the call started is unknown: the job resolves itself (see SPAWN_GRACE_SECONDS).
            log.error("could not start job %s: %s", job.job_id, type(exc).__name__)
            raise ServiceError.of("not_ready", f"could not start the job ({type(exc).__name__}); retry with the same "
                                               "Idempotency-Key") from exc
        await self._put(call_key(job.job_id), call_id)

    # --- Looking ----------------------------------------------------------------------------------------------
    async def get(self, job_id: str, owner: str) -> JobView:
        return await self.wait(job_id, owner, 0.0)

    async def wait(self, job_id: str, owner: str, wait_seconds: float) -> JobView:
        """The job, as a long poll: answered as soon as it is final, or after `wait_seconds` as it stands."""
        require_job_id(job_id)
        if not 0.0 <= wait_seconds <= MAX_JOB_WAIT_SECONDS:  # also NaN; the route refuses these first
            raise ServiceError.of("validation_error", f"wait: must be 0 to {MAX_JOB_WAIT_SECONDS:g} seconds")
        deadline = time.monotonic() + wait_seconds
        while True:
            started = time.monotonic()
            job = await self._look(job_id, owner, max(deadline - started, 0.0))
            if job is None:
                raise ServiceError.of("job_not_found", f"job {job_id} is unknown, expired, or not yours")
            if job.final or time.monotonic() >= deadline:
                return job
            # The look came back early with nothing final (no call to wait on, or no answer): pace the next one.
            pause = min(started + WAIT_RECHECK_SECONDS, deadline) - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)

    async def _look(self, job_id: str, owner: str, timeout: float) -> JobView | None:
        """The owner's job, None if unknown, not theirs or expired; waits up to `timeout` on its call."""
        record = await self._get(job_key(job_id))
        if not isinstance(record, dict) or not hmac.compare_digest(str(record.get("owner", "")), owner):
            return None
        if float(record["created_at"]) + self.store.ttl_seconds <= self._clock():
            return None
        job = JobView(job_id=job_id, kind=record["kind"], status="queued", created_at=float(record["created_at"]),
                      updated_at=self._clock(), request_id=record["request_id"],
                      include_video=bool(record.get("include_video", True)))
        call_id = await self._get(call_key(job_id))
        if call_id is None:
            call_id = await self._resolve_unrecorded(job)
            if call_id is None:
                return job  # queued, or failed by _resolve_unrecorded
        state = await self.calls.get(call_id, timeout)
        if state.state == "expired":
            return None
        if state.state == "done" and state.outcome is not None:
            outcome = state.outcome
            job.status = outcome["status"]
            job.result, job.error, job.blobs = outcome.get("result"), outcome.get("error"), list(outcome.get("blobs", []))
            job.updated_at = float(outcome.get("finished_at", job.updated_at))
        elif state.state == "failed":
            job.status, job.error = "failed", (state.error or ServiceError.of("internal_error", "the job failed")).to_dict()
        else:  # pending or unknown: not final; say whether the call has begun
            job.status = "running" if await self._get(claim_key(job_id)) == CLAIM_RUN else "queued"
        return job

    async def _resolve_unrecorded(self, job: JobView) -> str | None:
        """A job with no call id yet: wait out the grace period, then decide it by a claim (see job_run.py)."""
        if self._clock() - job.created_at < self._spawn_grace:
            return None
        if await self._put_if_absent(claim_key(job.job_id), CLAIM_ABANDONED) or \
                await self._get(claim_key(job.job_id)) == CLAIM_ABANDONED:
            job.status, job.error = "failed", abandoned_error().to_dict()
            return None
        job.status = "running"  # its call claimed it and records its id as it starts
        return await self._get(call_key(job.job_id))

    # --- Results ----------------------------------------------------------------------------------------------
    async def result_blobs(self, job: JobView, names: list[str]) -> dict[str, bytes]:
        """The finished job's result files. The call committed them before it returned; a container whose view
        predates that commit reloads once."""
        blobs = await asyncio.to_thread(self.store.get_job_blobs, job.job_id, names)
        if blobs is None and await asyncio.to_thread(self.store.reload):
            blobs = await asyncio.to_thread(self.store.get_job_blobs, job.job_id, names)
        if blobs is None:
            raise ServiceError.of("not_ready", "the job's results are not visible here yet; retry")
        return blobs

    # --- The key-value store (a modal.Dict blocks: off the event loop) ------------------------------------------
    # A failure to reach it concludes nothing: the request answers 503 and the client asks again.
    async def _get(self, key: str) -> Any:
        return await _ledger_call(self.kv.get, key)

    async def _put(self, key: str, value: Any) -> None:
        await _ledger_call(self.kv.put, key, value)

    async def _put_if_absent(self, key: str, value: Any) -> bool:
        return bool(await _ledger_call(lambda: self.kv.put(key, value, skip_if_exists=True)))


async def _ledger_call(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return await asyncio.to_thread(function, *args)
    except Exception as exc:
        log.warning("the job ledger did not answer: %s", type(exc).__name__)
        raise ServiceError.of("not_ready", "the job ledger did not answer; retry (with the same Idempotency-Key)") from exc


def _may_run_again(job: JobView) -> bool:
    """A failed job whose failure is worth another try: its call has ended, so its key may be bound again."""
    return job.status == "failed" and bool((job.error or {}).get("retryable", False))
