"""A stand-in for the parts of Modal the job ledger's correctness depends on, as unforgiving as the real platform.

- `StandInVolume`: every container mounts its own view of the files; `commit()` publishes the files that
  container changed (last writer wins, file by file), `reload()` replaces the view with what was committed, and
  nothing else is shared. Hard links are refused (`os.link` raises PermissionError, as reported on real Volumes).
- `StandInDict`: a modal.Dict shared by every container: values are copied through serialisation (no shared
  objects), `put(..., skip_if_exists=True)` is atomic, and `get` can be told to fail with a transport error or to
  hold callers at a barrier so that races interleave the worst way.
- `StandInGpu`: the GPU class. `run_job.spawn.aio` starts a call on a fresh container (its own Volume view) in a
  thread; a call's `get.aio(timeout=)` raises the builtin TimeoutError while it runs, and can be scripted to
  raise transient errors first. A container that dies mid-job (`ContainerKilled`) has its input rescheduled on
  a new container, as Modal does for crashed inputs, up to `reschedules` times; after that the call ends with
  modal.exception.RemoteError. `completed` counts backend work that finished: the GPU runs a user pays for.
The API under test is the real app (create_app) on the real ModalCalls and JobLedger, one per "API container".
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from modal import exception as modal_errors

from trellis2_service.job_calls import ModalCalls
from trellis2_service.job_run import run_job
from trellis2_service.store import Store
from trellis2_service.work import GpuContainer


class ContainerKilled(BaseException):
    """The GPU container died (OOM kill, preemption): nothing after this line runs in it."""


def refuse_hard_links(monkeypatch) -> None:
    def link(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", link)


class StandInVolume:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.shared = root / "committed"
        self.shared.mkdir(parents=True)
        self._lock = threading.Lock()
        self._mounts = 0

    def mount(self, ttl_seconds: int = 3600) -> Store:
        with self._lock:
            self._mounts += 1
            view = self.root / f"view-{self._mounts}"
        view.mkdir()
        synced: dict[Path, bytes] = {}

        def files() -> dict[Path, bytes]:
            return {path.relative_to(view): path.read_bytes() for path in view.rglob("*") if path.is_file()}

        def commit() -> None:
            with self._lock:
                current = files()
                for relative, data in current.items():
                    if synced.get(relative) != data:  # changed in this view since it last synced
                        (self.shared / relative).parent.mkdir(parents=True, exist_ok=True)
                        (self.shared / relative).write_bytes(data)
                synced.clear()
                synced.update(current)

        def reload() -> None:
            with self._lock:
                shutil.rmtree(view)
                shutil.copytree(self.shared, view)
                synced.clear()
                synced.update(files())

        return Store(view, ttl_seconds=ttl_seconds, commit=commit, reload=reload, purge_on_write=False)


class StandInDict:
    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()
        self.fail_gets = 0  # the next N gets raise a transport error
        self.barrier: threading.Barrier | None = None  # gets of unset keys wait here (to interleave races)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if self.fail_gets:
                self.fail_gets -= 1
                raise modal_errors.ConnectionError("stand-in: connection to the Dict service lost")
            data = self._data.get(key)
        if data is None and self.barrier is not None and key.startswith("key/"):
            try:
                self.barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass
        return default if data is None else json.loads(data)

    def put(self, key: str, value: Any, *, skip_if_exists: bool = False) -> bool:
        data = json.dumps(value)
        with self._lock:
            if skip_if_exists and key in self._data:
                return False
            self._data[key] = data
            return True

    def keys_with(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(key for key in self._data if key.startswith(prefix))


class _Method:
    """Modal's method objects: `f.aio(...)` is the async form."""

    def __init__(self, function) -> None:
        self.aio = function


class StandInCall:
    def __init__(self, call_id: str) -> None:
        self.object_id = call_id
        self.done = threading.Event()
        self.outcome: dict | None = None
        self.terminal: BaseException | None = None  # how the call ended without an outcome
        self.transient_errors: list[BaseException] = []  # raised by the next gets, one each
        self.get = _Method(self._get)

    async def _get(self, timeout: float | None = None) -> dict:
        if self.transient_errors:
            raise self.transient_errors.pop(0)
        finished = await asyncio.to_thread(self.done.wait, timeout)
        if not finished:
            raise TimeoutError()
        if self.terminal is not None:
            raise self.terminal
        return copy.deepcopy(self.outcome)


class StandInGpu:
    def __init__(self, volume: StandInVolume, kv: StandInDict, make_worker, *, max_attempts: int = 2,
                 reschedules: int = 3) -> None:
        """`make_worker(store)` builds one GpuContainer over its own Volume view."""
        self.volume = volume
        self.kv = kv
        self.make_worker = make_worker
        self.max_attempts = max_attempts
        self.reschedules = reschedules
        self.calls: dict[str, StandInCall] = {}
        self.completed: Counter[str] = Counter()  # finished backend work per kind: what a user pays for
        self.started: Counter[str] = Counter()  # container starts of an input (a dead container counts too)
        self.spawn_answer_lost = False  # the next spawn starts the call, then raises (its answer is lost)
        self.spawn_fails = False  # the next spawn raises and starts nothing
        self.hold = threading.Event()  # while clear, calls wait before running (keeps them "queued")
        self.hold.set()
        self.kill_next = 0  # the next N starts of an input die mid-job
        self._lock = threading.Lock()
        self.run_job = type("RunJob", (), {"spawn": _Method(self._spawn)})()

    def from_id(self, call_id: str) -> StandInCall:
        return self.calls[call_id]

    def api_calls(self) -> ModalCalls:
        return ModalCalls(self, from_id=self.from_id)

    async def _spawn(self, job_id: str, kind: str, request: dict, submitted_at: float) -> StandInCall:
        if self.spawn_fails:
            self.spawn_fails = False
            raise modal_errors.ConnectionError("stand-in: spawn failed")
        call = StandInCall(f"fc-{len(self.calls) + 1:026d}")
        self.calls[call.object_id] = call
        threading.Thread(target=self._serve, args=(call, job_id, kind, request, submitted_at), daemon=True).start()
        if self.spawn_answer_lost:
            self.spawn_answer_lost = False
            raise modal_errors.ConnectionError("stand-in: the spawn's answer was lost")
        return call

    def _serve(self, call: StandInCall, job_id: str, kind: str, request: dict, submitted_at: float) -> None:
        self.hold.wait(timeout=30)
        for _ in range(1 + self.reschedules):
            worker = self.make_worker(self.volume.mount())  # a fresh container: its own Volume view
            worker.store.reload()
            with self._lock:
                self.started[kind] += 1
                dies = self.kill_next > 0
                self.kill_next -= 1 if dies else 0
            if dies:
                worker.backend.kill_in_work = True
            try:
                outcome, _ = run_job(worker, self.kv, worker.store, job_id, kind, request, submitted_at,
                                     call_id=call.object_id, max_attempts=self.max_attempts)
            except ContainerKilled:
                continue  # Modal reschedules an input whose container crashed
            if outcome["status"] == "succeeded":
                with self._lock:
                    self.completed[kind] += 1
            call.outcome = outcome
            call.done.set()
            return
        call.terminal = modal_errors.RemoteError("stand-in: the input's container crashed too many times")
        call.done.set()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def gpu_worker_factory(settings, backend_class):
    """Containers share nothing but the Volume and the Dict: each gets a new backend of `backend_class`."""

    def make(store: Store) -> GpuContainer:
        return GpuContainer(backend_class(), store, settings)

    return make
