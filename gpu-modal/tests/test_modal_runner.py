"""ModalRunner against stand-ins for Modal's handles: the job bookkeeping the API does on Modal, offline."""

import asyncio
import threading
import time
import types

import modal
import pytest
from fastapi.testclient import TestClient

from fake_backend import oom_error
from trellis2_service.app import create_app
from trellis2_service.jobs import ModalRunner, execute_job
from trellis2_service.store import Store
from trellis2_service.work import Worker

PROXY_AUTH = {"Modal-Key": "wk-proxy-user", "Modal-Secret": "ws-checked-by-modal"}


class FakeCall:
    def __init__(self, call_id: str, thread: threading.Thread | None, crash: BaseException | None) -> None:
        self.object_id, self.thread, self.crash = call_id, thread, crash

    async def get_now(self, timeout=None):
        assert timeout is not None and timeout >= 0  # the API never waits on a call without a bound
        if self.thread is not None and timeout > 0:
            await asyncio.to_thread(self.thread.join, timeout)  # a long poll: wait for the call to end
        if self.thread is not None and self.thread.is_alive():
            raise TimeoutError()
        if self.crash is not None:
            raise self.crash
        return "done"


class FakeGpuClass:
    """What `Trellis2Worker()` offers the API: .remote.aio / .spawn.aio on each method."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.calls: dict[str, FakeCall] = {}
        self.crash_next: BaseException | None = None
        self.spawned = 0

        async def remote_generate(request, submitted_at):
            if self.crash_next:
                raise self.crash_next
            return worker.generate(request, submitted_at)

        async def remote_warmup(submitted_at):
            return worker.warmup(submitted_at)

        async def spawn_job(job_id, kind, request, submitted_at):
            self.spawned += 1
            crash, self.crash_next = self.crash_next, None
            thread = None
            if crash is None:
                thread = threading.Thread(target=execute_job, args=(worker, worker.store, job_id, kind, request,
                                                                    submitted_at))
                thread.start()
            call = FakeCall(f"fc-{self.spawned}", thread, crash)
            self.calls[call.object_id] = call
            return call

        def method(**aio):
            return types.SimpleNamespace(**{name: types.SimpleNamespace(aio=fn) for name, fn in aio.items()})

        self.generate = method(remote=remote_generate)
        self.extract = method(remote=remote_generate)
        self.warmup = method(remote=remote_warmup)
        self.run_job = method(spawn=spawn_job)


@pytest.fixture
def modal_client(settings, backend, monkeypatch):
    from dataclasses import replace

    settings = replace(settings, auth_mode="proxy")
    hooks = {"commit": 0, "reload": 0}
    store = Store(settings.store_dir, ttl_seconds=3600, commit=lambda: hooks.__setitem__("commit", hooks["commit"] + 1),
                  reload=lambda: hooks.__setitem__("reload", hooks["reload"] + 1))
    gpu = FakeGpuClass(Worker(backend, store, settings))
    monkeypatch.setattr(modal.FunctionCall, "from_id",
                        lambda call_id: types.SimpleNamespace(get=types.SimpleNamespace(aio=gpu.calls[call_id].get_now)))
    app = create_app(settings=settings, runner=ModalRunner(gpu, store), store=store, backend_name="trellis2")
    with TestClient(app) as client:
        client.headers.update(PROXY_AUTH)
        yield client, gpu, hooks


def poll(client, job_id):
    for _ in range(500):
        body = client.get(f"/jobs/{job_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.01)
    pytest.fail("job never finished")


def test_spawned_job_is_tracked_by_call_id(modal_client, image_b64):
    client, gpu, hooks = modal_client
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert poll(client, job_id)["status"] == "succeeded"
    assert client.get(f"/jobs/{job_id}/result").json()["state"]
    assert gpu.spawned == 1 and hooks["commit"] >= 3 and hooks["reload"] >= 1


def test_a_gpu_call_that_died_fails_the_job(modal_client, image_b64):
    client, gpu, _ = modal_client
    gpu.crash_next = RuntimeError("container lost")
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    status = poll(client, job_id)
    assert status["status"] == "failed" and status["error"]["code"] == "generation_error"
    assert status["error"]["retryable"] is True


def test_a_gpu_call_killed_by_oom_is_503(modal_client, image_b64):
    client, gpu, _ = modal_client
    gpu.crash_next = oom_error()
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert poll(client, job_id)["error"]["code"] == "cuda_oom"
    assert client.get(f"/jobs/{job_id}/result").status_code == 503


def test_synchronous_call_failure_is_an_api_error(modal_client, image_b64):
    client, gpu, _ = modal_client
    gpu.crash_next = RuntimeError("preempted")
    response = client.post("/generate", json={"image": image_b64})
    assert response.status_code == 500 and response.json()["error"]["code"] == "generation_error"
    assert client.post("/warmup").json()["ready"] is True


def test_a_long_poll_waits_on_the_function_call(modal_client, backend, image_b64):
    client, _, _ = modal_client
    backend.gate = threading.Event()
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert backend.started.wait(5)
    assert client.get(f"/jobs/{job_id}?wait=0.3").json()["status"] == "running"  # the wait ran out
    threading.Timer(0.2, backend.gate.set).start()
    started = time.monotonic()
    status = client.get(f"/jobs/{job_id}?wait=15").json()
    assert status["status"] == "succeeded" and time.monotonic() - started < 10


def test_a_long_poll_on_a_call_that_dies_answers_with_the_verdict(modal_client, image_b64):
    client, gpu, _ = modal_client

    class DyingCall:  # queued, then its container is lost before the worker recorded anything
        died = False

        async def get_now(self, timeout=None):
            if timeout and not self.died:
                await asyncio.sleep(0.2)
                self.died = True
            if self.died:
                raise RuntimeError("container lost")
            raise TimeoutError()

    gpu.crash_next = RuntimeError("unused")  # the fake then starts no worker thread: nothing gets recorded
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    gpu.calls[f"fc-{gpu.spawned}"] = DyingCall()
    assert client.get(f"/jobs/{job_id}").json()["status"] == "queued"
    started = time.monotonic()
    status = client.get(f"/jobs/{job_id}?wait=15").json()
    assert status["status"] == "failed" and status["error"]["code"] == "generation_error"
    assert time.monotonic() - started < 10


def test_without_a_call_id_yet_the_modal_runner_sleeps_briefly(settings):
    store = Store(settings.store_dir, ttl_seconds=3600)
    runner = ModalRunner(None, store)
    record = {"job_id": "job_" + "5" * 32, "kind": "generate"}

    async def waits(timeout):
        started = time.monotonic()
        await runner.wait_settled(record, None, timeout)
        return time.monotonic() - started

    assert 0.05 <= asyncio.run(waits(0.1)) < 5  # never longer than asked
    assert asyncio.run(waits(15)) < 5  # at most ~0.5 s: the caller then reads the store again
