"""The job ledger against a stand-in for Modal (modal_standin.py): in every race, each unit of work runs on a GPU
exactly once. The API is the real app on the real ModalCalls; every "API container" and every GPU container has
its own view of a last-writer-wins Volume that refuses hard links, and they share only a Dict with put-if-absent."""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import pytest
from fastapi.testclient import TestClient
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from modal import exception as modal_errors

from conftest import AUTH, png_bytes
from fake_backend import FakeBackend
from modal_standin import (
    ContainerKilled,
    StandInDict,
    StandInGpu,
    StandInVolume,
    gpu_worker_factory,
    refuse_hard_links,
    wait_until,
)
from trellis2_service.app import create_app

GRACE = 0.3  # the spawn grace, shortened so tests can outwait it
KEY = {"Idempotency-Key": "asset-1:generate:0"}


class MortalBackend(FakeBackend):
    """A backend whose container can be told to die in the middle of the work."""

    kill_in_work = False

    def _enter(self) -> None:
        if self.kill_in_work:
            raise ContainerKilled()
        super()._enter()


class Platform:
    def __init__(self, tmp_path, settings) -> None:
        self.settings = settings
        self.volume = StandInVolume(tmp_path / "volume")
        self.kv = StandInDict()
        self.gpu = StandInGpu(self.volume, self.kv, gpu_worker_factory(settings, MortalBackend),
                              max_attempts=settings.max_job_attempts)

    def api_container(self) -> TestClient:
        app = create_app(settings=self.settings, calls=self.gpu.api_calls(), ledger_kv=self.kv,
                         store=self.volume.mount(), backend_name="relief", spawn_grace_seconds=GRACE)
        client = TestClient(app, raise_server_exceptions=False)
        client.headers.update(AUTH)
        return client


@pytest.fixture
def platform(tmp_path, settings, monkeypatch) -> Platform:
    refuse_hard_links(monkeypatch)
    return Platform(tmp_path, settings)


@pytest.fixture
def generate_body() -> dict:
    return {"image": base64.b64encode(png_bytes()).decode(), "state_mode": "reference", "include_video": True}


def finished(client: TestClient, job_id: str) -> dict:
    for _ in range(100):
        body = client.get(f"/jobs/{job_id}", params={"wait": 1}).json()
        if body.get("status") in ("succeeded", "failed"):
            return body
    raise AssertionError(f"job {job_id} did not finish")


def test_a_submit_whose_answer_is_lost_is_answered_by_the_same_job(platform, generate_body):
    first, second = platform.api_container(), platform.api_container()
    lost = first.post("/jobs/generate", json=generate_body, headers=KEY)  # its answer never reaches the client
    retry = second.post("/jobs/generate", json=generate_body, headers=KEY)  # so it asks another API container
    assert retry.status_code == 202 and retry.headers["idempotency-replayed"] == "true"
    assert retry.json()["job_id"] == lost.json()["job_id"]
    assert finished(second, retry.json()["job_id"])["status"] == "succeeded"
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 1


def test_two_api_containers_racing_one_key_run_one_job(platform, generate_body):
    platform.kv.barrier = threading.Barrier(2)  # both look up the key before either binds it
    answers = [None, None]

    def submit(index: int) -> None:
        answers[index] = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    platform.kv.barrier = None
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json()["job_id"] == answers[1].json()["job_id"]
    assert sum(answer.headers.get("idempotency-replayed") == "true" for answer in answers) == 1
    assert finished(platform.api_container(), answers[0].json()["job_id"])["status"] == "succeeded"
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 1
    assert len(platform.kv.keys_with("key/")) == 1


def test_a_spawn_whose_answer_was_lost_is_found_through_its_own_call(platform, generate_body):
    platform.gpu.spawn_answer_lost = True
    first = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert first.status_code == 503 and first.json()["error"]["retryable"] is True
    replay = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert replay.status_code == 202 and replay.headers["idempotency-replayed"] == "true"
    time.sleep(GRACE * 2)  # past the grace: the job is resolved by its call's own claim, not given up
    assert finished(platform.api_container(), replay.json()["job_id"])["status"] == "succeeded"
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 1


def test_a_spawn_that_never_started_is_given_up_and_its_key_bound_again(platform, generate_body):
    platform.gpu.spawn_fails = True
    assert platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY).status_code == 503
    early = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert early.json()["status"] == "queued"  # within the grace: it might still start
    time.sleep(GRACE * 2)
    late = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert late.status_code == 202 and "idempotency-replayed" not in late.headers  # a new job for the same key
    assert late.json()["job_id"] != early.json()["job_id"]
    assert finished(platform.api_container(), late.json()["job_id"])["status"] == "succeeded"
    gone = platform.api_container().get(f"/jobs/{early.json()['job_id']}").json()
    assert gone["status"] == "failed" and "never started" in gone["error"]["message"]
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 1


def test_a_call_queued_past_the_grace_after_a_lost_spawn_answer_runs_once(platform, generate_body):
    """The worst order: the spawn's answer is lost and its call waits in the queue longer than the grace, so the
    API gives the job up and binds the key again. The old call, when it finally starts, finds itself given up."""
    platform.gpu.hold.clear()
    platform.gpu.spawn_answer_lost = True
    assert platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY).status_code == 503
    time.sleep(GRACE * 2)
    rebound = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert rebound.status_code == 202 and "idempotency-replayed" not in rebound.headers
    platform.gpu.hold.set()
    assert finished(platform.api_container(), rebound.json()["job_id"])["status"] == "succeeded"
    wait_until(lambda: all(call.done.is_set() for call in platform.gpu.calls.values()))
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 2


def test_a_transient_error_of_get_is_not_a_verdict(platform, generate_body):
    platform.gpu.hold.clear()
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    call = next(iter(platform.gpu.calls.values()))
    call.transient_errors = [modal_errors.InternalError("stand-in: grpc internal"),
                             modal_errors.ConnectionError("stand-in: connection reset"), ConnectionResetError(104, "reset")]
    for _ in range(3):
        assert api.get(f"/jobs/{job_id}").json()["status"] in ("queued", "running")
    replay = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert replay.json()["job_id"] == job_id and replay.headers["idempotency-replayed"] == "true"
    platform.gpu.hold.set()
    assert finished(api, job_id)["status"] == "succeeded"
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 1


def test_a_dict_outage_answers_503_and_concludes_nothing(platform, generate_body):
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    assert finished(api, job_id)["status"] == "succeeded"
    platform.kv.fail_gets = 1
    outage = api.get(f"/jobs/{job_id}")
    assert outage.status_code == 503 and outage.json()["error"]["code"] == "not_ready"
    assert api.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    assert platform.gpu.completed["generate"] == 1


def test_the_gpu_side_rides_out_a_dict_outage(platform, generate_body):
    platform.gpu.hold.clear()
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    platform.kv.fail_gets = 2  # the call's own ledger reads fail twice, then work
    platform.gpu.hold.set()
    wait_until(lambda: all(call.done.is_set() for call in platform.gpu.calls.values()))
    assert finished(api, job_id)["status"] == "succeeded" and platform.gpu.completed["generate"] == 1


def test_a_container_that_dies_mid_job_is_rescheduled_and_the_work_runs_once(platform, generate_body):
    platform.gpu.kill_next = 1
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    assert finished(api, job_id)["status"] == "succeeded"
    assert platform.gpu.started["generate"] == 2 and platform.gpu.completed["generate"] == 1
    assert platform.kv.get(f"attempts/{job_id}") == 2


def test_an_input_that_kills_every_container_is_stopped_and_not_bound_again(platform, generate_body):
    platform.gpu.kill_next = 10
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    status = finished(api, job_id)
    assert status["status"] == "failed" and status["error"]["code"] == "poison_input"
    assert status["error"]["retryable"] is False
    replay = api.post("/jobs/generate", json=generate_body, headers=KEY)
    assert replay.json()["job_id"] == job_id and replay.headers["idempotency-replayed"] == "true"
    assert platform.gpu.started["generate"] == 3 and platform.gpu.completed["generate"] == 0


def test_a_key_replayed_after_a_terminal_failure_gets_exactly_one_new_run(platform, generate_body):
    platform.gpu.reschedules, platform.gpu.kill_next = 0, 1  # the call ends with RemoteError
    api = platform.api_container()
    failed_job = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    status = finished(api, failed_job)
    assert status["status"] == "failed" and status["error"]["retryable"] is True
    retried = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert retried.status_code == 202 and "idempotency-replayed" not in retried.headers
    assert finished(api, retried.json()["job_id"])["status"] == "succeeded"
    again = platform.api_container().post("/jobs/generate", json=generate_body, headers=KEY)
    assert again.json()["job_id"] == retried.json()["job_id"] and again.headers["idempotency-replayed"] == "true"
    assert platform.gpu.completed["generate"] == 1 and len(platform.gpu.calls) == 2
    assert len(platform.kv.keys_with("key/")) == 2


def test_an_expired_output_ends_the_job_and_frees_its_key(platform, generate_body):
    api = platform.api_container()
    job_id = api.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"]
    assert finished(api, job_id)["status"] == "succeeded"
    next(iter(platform.gpu.calls.values())).terminal = modal_errors.OutputExpiredError()
    assert api.get(f"/jobs/{job_id}").status_code == 404
    renewed = api.post("/jobs/generate", json=generate_body, headers=KEY)
    assert renewed.status_code == 202 and renewed.json()["job_id"] != job_id


def test_results_are_read_by_an_api_container_that_never_saw_them_written(platform, generate_body):
    """Every API container's view predates the GPU call's commit: downloads reload once and check out whole."""
    maker = platform.api_container()
    generated = finished(maker, maker.post("/jobs/generate", json=generate_body, headers=KEY).json()["job_id"])
    state_id = generated["result"]["state_id"]
    presets = [{"name": "fast", "texture_size": 512}, {"name": "quality", "texture_size": 1024}]
    extract = platform.api_container().post("/jobs/extract_glb", json={"state_id": state_id, "presets": presets},
                                            headers={"Idempotency-Key": "asset-1:extract:0"})
    assert extract.status_code == 202
    status = finished(platform.api_container(), extract.json()["job_id"])
    reader = platform.api_container()
    for name in ("fast", "quality"):
        glb = reader.get(f"/jobs/{extract.json()['job_id']}/result", params={"preset": name},
                         headers={"Accept": "model/gltf-binary"})
        assert glb.status_code == 200
        assert hashlib.sha256(glb.content).hexdigest() == status["result"]["presets"][name]["glb_sha256"]
    assert platform.gpu.completed == {"generate": 1, "extract_glb": 1}


@pytest.mark.parametrize("raised, state", [
    (TimeoutError(), "pending"),  # the builtin: not finished within the timeout
    (modal_errors.OutputExpiredError(), "expired"),
    (modal_errors.FunctionTimeoutError("600 s"), "failed"),
    (modal_errors.RemoteError("container crashed"), "failed"),
    (modal_errors.ExecutionError("could not deserialize"), "failed"),
    (modal_errors.InternalFailure("input failed"), "failed"),
    (RuntimeError("raised while the container started"), "failed"),  # the call's own exception, re-raised
    (modal_errors.ConnectionError("lost"), "unknown"),
    (modal_errors.InternalError("grpc internal"), "unknown"),
    (modal_errors.ServiceError("grpc unavailable"), "unknown"),
    (modal_errors.TimeoutError("modal's own, not the builtin"), "unknown"),
    (ConnectionResetError(104, "reset"), "unknown"),
    (OSError("network unreachable"), "unknown"),
    (GRPCError(Status.UNAVAILABLE, "stream reset"), "unknown"),
])
def test_only_the_calls_own_end_is_final(raised, state):
    from trellis2_service.job_calls import classify_call_error

    assert classify_call_error(raised).state == state


def test_a_failure_raised_by_the_container_start_keeps_its_error():
    from trellis2_service.errors import ServiceError
    from trellis2_service.job_calls import classify_call_error

    missing = ServiceError.of("not_ready", "weights missing: run download_weights")
    assert classify_call_error(missing).error is missing
