"""ModalRunner against stand-ins for Modal's handles: the job bookkeeping the API does on Modal, offline."""

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
        assert timeout == 0
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
