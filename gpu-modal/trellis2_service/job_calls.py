"""Where GPU work runs: a Modal function call, or its local stand-in. Both answer the same four questions.

- `spawn(job_id, kind, request, submitted_at) -> call id`: start a job's call (job_run.run_job) without waiting.
- `get(call_id, timeout) -> CallState`: wait up to `timeout` seconds for the call (the long poll). Only the call's
  own end is final: its outcome, or its terminal failure (the call timed out, crashed, or its output expired).
  Anything else (a passing gRPC or network error) is `unknown`: the job goes on, and the caller asks again.
- `run` / `warmup`: the synchronous routes' work, waited for in full.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from .errors import ServiceError, error_from_exception
from .job_keys import KeyValue
from .job_run import run_job
from .work import GpuContainer, WorkResult

log = logging.getLogger("trellis2.job_calls")

_LOCAL_CALL_ID = re.compile(r"fc-local-[0-9a-f]{32}")


@dataclass(frozen=True)
class CallState:
    """pending: still queued or running. done: `outcome` is the call's return value (job_run's outcome dict).
    failed: the call ended without an outcome (`error`). expired: its output is no longer kept.
    unknown: the platform did not answer; nothing can be concluded."""

    state: Literal["pending", "done", "failed", "expired", "unknown"]
    outcome: dict[str, Any] | None = None
    error: ServiceError | None = None


class Calls(Protocol):
    async def spawn(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str: ...

    async def get(self, call_id: str, timeout: float) -> CallState: ...

    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult: ...

    async def warmup(self, submitted_at: float) -> WorkResult: ...


def failure_code(kind: str) -> str:
    return {"generate": "generation_error", "extract_glb": "extraction_error"}.get(kind, "internal_error")


# --- Modal ---------------------------------------------------------------------------------------------------
class ModalCalls:
    """Calls of the Modal GPU class. `worker` is an instance handle of it (`Trellis2Worker()`); `from_id` looks a
    call up by id (`modal.FunctionCall.from_id`; tests pass a stand-in with the same shape)."""

    def __init__(self, worker: Any, *, from_id: Callable[[str], Any] | None = None) -> None:
        self.worker = worker
        self._from_id = from_id

    async def spawn(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str:
        call = await self.worker.run_job.spawn.aio(job_id, kind, request, submitted_at)
        return call.object_id

    async def get(self, call_id: str, timeout: float) -> CallState:
        try:
            outcome = await self._lookup(call_id).get.aio(timeout=timeout)
        except Exception as exc:
            return classify_call_error(exc)
        if not isinstance(outcome, dict) or outcome.get("status") not in ("succeeded", "failed"):
            return CallState("failed", error=ServiceError.of("internal_error", "the GPU call returned no job outcome"))
        return CallState("done", outcome)

    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult:
        method = self.worker.generate if kind == "generate" else self.worker.extract
        try:
            return await method.remote.aio(request, submitted_at)
        except Exception as exc:  # the container died or timed out: the call itself failed
            return WorkResult(error=error_from_exception(exc, failure_code=failure_code(kind)).to_dict())

    async def warmup(self, submitted_at: float) -> WorkResult:
        try:
            return await self.worker.warmup.remote.aio(submitted_at)
        except Exception as exc:
            return WorkResult(error=error_from_exception(exc, failure_code="internal_error").to_dict())

    def _lookup(self, call_id: str) -> Any:
        if self._from_id is None:
            import modal  # only the Modal API container gets here

            self._from_id = modal.FunctionCall.from_id
        return self._from_id(call_id)


def classify_call_error(exc: BaseException) -> CallState:
    """What an exception out of `FunctionCall.get` says about the call (modal 1.6: _functions.py poll_function,
    _utils/function_utils.py _process_result).

    Final: the call timed out, its output expired, the platform reports it failed (RemoteError: e.g. its container
    was killed), or the call's own exception re-raised here (run_job never raises, so that is its container failing
    to start, e.g. weights missing). Not final: the builtin TimeoutError (still running), and every transport error
    (OSError, modal's gRPC wrappers, grpclib), which says nothing about the call."""
    from modal import exception as modal_errors

    if isinstance(exc, modal_errors.OutputExpiredError):
        return CallState("expired")
    if isinstance(exc, modal_errors.FunctionTimeoutError):
        return CallState("failed", error=ServiceError.of(
            "internal_error", "the GPU call ran past its time limit; retry, or use fewer sampler steps"))
    if isinstance(exc, TimeoutError) and not isinstance(exc, modal_errors.Error):
        return CallState("pending")  # the builtin TimeoutError: not finished within `timeout`
    terminal = (modal_errors.RemoteError, modal_errors.ExecutionError, modal_errors.InternalFailure)
    if not isinstance(exc, terminal) and (isinstance(exc, (OSError, modal_errors.Error)) or _is_transport_error(exc)):
        log.warning("no answer about a GPU call (%s); asking again later", type(exc).__name__)
        return CallState("unknown")
    log.error("GPU call failed: %s", type(exc).__name__)
    if isinstance(exc, ServiceError):  # raised by the container's start-up (see modal_app.Trellis2Worker.load_model)
        return CallState("failed", error=exc)
    return CallState("failed", error=ServiceError.of(
        "internal_error", f"the GPU call failed ({type(exc).__name__}: its container crashed or could not start); retry"))


def _is_transport_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("grpclib", "h2")


# --- Local stand-in ------------------------------------------------------------------------------------------
class LocalCalls:
    """GPU calls in this process: each GpuContainer is one GPU container (one call at a time); given several,
    calls run side by side, as on Modal with max_containers > 1.

    A call's outcome is also kept on disk (`outcomes_dir`), so after a restart a finished job still answers,
    exactly as a Modal call outlives the API container that spawned it. A call that was running when the process
    stopped died with it: its `get` says failed, as Modal's would for a crashed container.
    """

    def __init__(self, workers: list[GpuContainer], kv: KeyValue, outcomes_dir: Path | str, *, max_attempts: int) -> None:
        self._idle: queue.SimpleQueue[GpuContainer] = queue.SimpleQueue()
        for worker in workers:
            self._idle.put(worker)
        # As many threads as containers, so a thread always finds one idle.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(workers), thread_name_prefix="trellis2-gpu")
        self._kv = kv
        self._max_attempts = max_attempts
        self._outcomes = Path(outcomes_dir)
        self._outcomes.mkdir(parents=True, exist_ok=True)
        self._calls: dict[str, concurrent.futures.Future] = {}

    def _on_a_container(self, call: Callable[[GpuContainer], Any]) -> Any:
        container = self._idle.get()
        try:
            return call(container)
        finally:
            self._idle.put(container)

    async def spawn(self, job_id: str, kind: str, request: dict, submitted_at: float) -> str:
        call_id = "fc-local-" + secrets.token_hex(16)

        def work(container: GpuContainer) -> dict[str, Any]:
            outcome, retire_reason = run_job(container, self._kv, container.store, job_id, kind, request, submitted_at,
                                             call_id=call_id, max_attempts=self._max_attempts)
            _note_retire(retire_reason)
            # Beside the outcome, what the benchmark reads (tests/bench/measure.ts): which job, submitted when.
            record = {"job_id": job_id, "kind": kind, "submitted_at": submitted_at, "outcome": outcome}
            self._outcome_path(call_id).write_text(json.dumps(record))
            return outcome

        self._calls[call_id] = self._pool.submit(self._on_a_container, work)
        return call_id

    async def get(self, call_id: str, timeout: float) -> CallState:
        future = self._calls.get(call_id)
        if future is None:
            return self._from_disk(call_id)
        if not future.done() and timeout > 0:
            waiting = asyncio.wrap_future(future)
            waiting.add_done_callback(_consume_outcome)
            # asyncio.wait, not wait_for: a timeout must not cancel the call, and it raises nothing.
            await asyncio.wait([waiting], timeout=timeout)
        if not future.done():
            return CallState("pending")
        if future.cancelled():
            return CallState("failed", error=_interrupted())
        if future.exception() is not None:
            log.error("local GPU call crashed", exc_info=future.exception())
            return CallState("failed", error=ServiceError.of("internal_error", "the GPU call crashed"))
        return CallState("done", future.result())

    async def run(self, kind: str, request: dict, submitted_at: float) -> WorkResult:
        def work(container: GpuContainer) -> WorkResult:
            return (container.generate if kind == "generate" else container.extract)(request, submitted_at)

        result = await asyncio.wrap_future(self._pool.submit(self._on_a_container, work))
        _note_retire(result.retire_reason)
        return result

    async def warmup(self, submitted_at: float) -> WorkResult:
        return await asyncio.wrap_future(self._pool.submit(self._on_a_container, lambda c: c.warmup(submitted_at)))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _from_disk(self, call_id: str) -> CallState:
        if not _LOCAL_CALL_ID.fullmatch(call_id):
            return CallState("failed", error=ServiceError.of("internal_error", "unknown GPU call"))
        try:
            return CallState("done", json.loads(self._outcome_path(call_id).read_text())["outcome"])
        except FileNotFoundError:
            return CallState("failed", error=_interrupted())

    def _outcome_path(self, call_id: str) -> Path:
        return self._outcomes / f"{call_id}.json"


def _interrupted() -> ServiceError:
    return ServiceError.of("internal_error", "the job was interrupted by a service restart; submit it again")


def _note_retire(reason: str | None) -> None:
    if reason:  # one process cannot retire itself; say so, and keep serving
        log.warning("backend asked to retire the worker (%s); restart the local service if this repeats", reason)


def _consume_outcome(future: asyncio.Future) -> None:
    """Marks a waited-on future's exception as seen (get() reports it), so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
