"""One GPU job, run inside its function call: the GPU side of the job ledger (job_ledger.py has the API side).

`run_job` is what the Modal GPU method (and the local stand-in for it) executes. It never raises: whatever
happens becomes the call's return value, a small `outcome` dict, so the call's own result *is* the job's
status, and an exception out of `FunctionCall.get` can only mean the platform, never the work (see job_calls.py).
Heavy results (state, preview, GLBs) are files in the store, written and committed before the call returns, so
whoever sees the outcome can read them.

Before running, the call claims its job with one atomic put-if-absent (`claim/<job_id>` = "run"). The API side
claims "abandoned" the same way for a job whose call it never saw start; exactly one claim wins, so a job is
either run by its own call or given up, never both. A call started again after its container died (Modal
reschedules crashed inputs) finds its own "run" claim and goes on, counting attempts; an input that keeps
killing its containers is failed as poison_input instead of being run forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import ServiceError
from .job_keys import KeyValue, attempts_key, call_key, claim_key
from .store import Store
from .work import GpuContainer, WorkResult

log = logging.getLogger("trellis2.job_run")

CLAIM_RUN, CLAIM_ABANDONED = "run", "abandoned"
LEDGER_TRIES, LEDGER_RETRY_SECONDS = 3, 0.5


def run_job(worker: GpuContainer, kv: KeyValue, store: Store, job_id: str, kind: str, request: dict, submitted_at: float,
            *, call_id: str | None, max_attempts: int) -> tuple[dict[str, Any], str | None]:
    """-> (the job's outcome, the backend's reason to retire this container or None)."""
    try:
        refusal = _claim(kv, job_id, call_id, max_attempts)
    except Exception as exc:  # the ledger stayed unreachable: run nothing we could not account for
        log.error("job %s: the job ledger failed (%s); not running it", job_id, type(exc).__name__)
        return failed_outcome(ServiceError.of("not_ready", "the job ledger was unreachable; retry")), None
    if refusal is not None:
        return failed_outcome(refusal), None
    run = worker.generate if kind == "generate" else worker.extract
    result = run(request, submitted_at)
    return _keep_results(store, job_id, result), result.retire_reason


def _claim(kv: KeyValue, job_id: str, call_id: str | None, max_attempts: int) -> ServiceError | None:
    """Claim the job for this call and count the attempt; -> why not to run it, or None to run it."""
    if not _retrying(lambda: kv.put(claim_key(job_id), CLAIM_RUN, skip_if_exists=True)) and \
            _retrying(lambda: kv.get(claim_key(job_id))) != CLAIM_RUN:
        log.info("job %s was given up before it started; not running it", job_id)
        return abandoned_error()
    if call_id:  # so the API finds this call even if it stopped before recording it
        _retrying(lambda: kv.put(call_key(job_id), call_id))
    attempts = int(_retrying(lambda: kv.get(attempts_key(job_id))) or 0)
    if attempts >= max_attempts:
        log.warning("job %s was started %d times already; failing it as poison_input", job_id, attempts)
        return poison_input(attempts)
    _retrying(lambda: kv.put(attempts_key(job_id), attempts + 1))
    return None


def _retrying(operation: Callable[[], Any]) -> Any:
    """A ledger operation, tried again on a passing error: each is safe to repeat (a put-if-absent whose answer
    was lost reads back as taken, and the claim's value is checked)."""
    for attempt in range(LEDGER_TRIES):
        try:
            return operation()
        except Exception:
            if attempt == LEDGER_TRIES - 1:
                raise
            time.sleep(LEDGER_RETRY_SECONDS)


def _keep_results(store: Store, job_id: str, result: WorkResult) -> dict[str, Any]:
    if not result.ok:
        return failed_outcome(ServiceError.from_dict(result.error or {}))
    started = time.perf_counter()
    try:
        store.put_job_blobs(job_id, result.blobs)  # committed before the call returns
    except Exception as exc:
        log.error("job %s: could not keep its results (%s)", job_id, type(exc).__name__)
        return failed_outcome(ServiceError.of("internal_error", "the job's results could not be stored; retry"))
    timing = dict(result.server_timing or {})
    timing["store_seconds"] = round(float(timing.get("store_seconds", 0.0)) + time.perf_counter() - started, 4)
    return {"status": "succeeded", "result": {**result.fields, "server_timing": timing},
            "blobs": sorted(result.blobs), "error": None, "finished_at": time.time()}


def failed_outcome(error: ServiceError) -> dict[str, Any]:
    return {"status": "failed", "result": None, "blobs": [], "error": error.to_dict(), "finished_at": time.time()}


def poison_input(attempts: int) -> ServiceError:
    return ServiceError.of("poison_input", f"the job was started {attempts} times and each time its GPU container "
                                           "died; this input keeps killing containers, so it is not run again")


def abandoned_error() -> ServiceError:
    return ServiceError.of("internal_error", "the job was accepted but its GPU call never started; submit it again "
                                             "(with the same Idempotency-Key, it is bound to a new job)")
