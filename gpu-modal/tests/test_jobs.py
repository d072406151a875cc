import base64
import hashlib
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH
from fake_backend import FAKE_MP4, backend_error
from trellis2_service.local import build_local_app


def wait_for(client, job_id, headers=None, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.01)
    pytest.fail(f"job {job_id} did not finish")


def finished_generate_job(client, image_b64) -> tuple[dict, dict]:
    """Submits a generate job and waits for it: (the submit's answer, the final status)."""
    submitted = client.post("/jobs/generate", json={"image": image_b64, "seed": 7})
    assert submitted.status_code == 202
    return submitted.json(), wait_for(client, submitted.json()["job_id"])


def test_a_generate_submit_is_answered_with_a_queued_job(client, image_b64):
    accepted, _status = finished_generate_job(client, image_b64)
    assert re.fullmatch(r"job_[0-9a-f]{32}", accepted["job_id"])
    assert accepted["kind"] == "generate" and accepted["status"] == "queued" and accepted["request_id"].startswith("req_")


def test_a_finished_generate_jobs_status_carries_only_the_light_result(client, image_b64):
    accepted, status = finished_generate_job(client, image_b64)
    assert status["status"] == "succeeded" and status["error"] is None
    assert status["created_at"].endswith("Z") and status["updated_at"].endswith("Z")
    result = status["result"]
    assert "state" not in result and "video" not in result  # heavy fields only in /result
    assert result["video_bytes"] == len(FAKE_MP4) and result["request_id"] == accepted["request_id"]
    assert result["server_timing"]["backend"] == "relief"


def test_a_generate_jobs_full_result_holds_a_usable_state_and_the_video(client, image_b64):
    accepted, _status = finished_generate_job(client, image_b64)
    full = client.get(f"/jobs/{accepted['job_id']}/result").json()
    assert full["state"] and base64.b64decode(full["video"]) == FAKE_MP4 and full["state_id"] is None
    assert client.post("/extract_glb", json={"state": full["state"]}).status_code == 200


def test_a_generate_jobs_video_downloads_raw_with_its_headers(client, image_b64):
    accepted, _status = finished_generate_job(client, image_b64)
    raw_video = client.get(f"/jobs/{accepted['job_id']}/result", headers={"Accept": "video/mp4"})
    assert raw_video.content == FAKE_MP4 and raw_video.headers["content-type"] == "video/mp4"
    assert raw_video.headers["x-request-id"].startswith("req_") and "compute_seconds" in raw_video.headers["x-server-timing"]


def test_a_generate_job_runs_the_backend_once(client, backend, image_b64):
    finished_generate_job(client, image_b64)
    assert backend.generate_calls == 1


def test_extract_job_with_raw_glb(client, backend, image_b64):
    state_id = client.post("/generate", json={"image": image_b64, "state_mode": "reference"}).json()["state_id"]
    job_id = client.post("/jobs/extract_glb", json={"state_id": state_id, "texture_size": 1024}).json()["job_id"]
    status = wait_for(client, job_id)
    assert status["kind"] == "extract_glb" and status["result"]["glb_bytes"] > 0 and "glb" not in status["result"]

    raw = client.get(f"/jobs/{job_id}/result", headers={"Accept": "model/gltf-binary"})
    assert raw.status_code == 200 and raw.headers["content-type"] == "model/gltf-binary"
    assert raw.content[:4] == b"glTF"
    assert raw.headers["x-glb-sha256"] == hashlib.sha256(raw.content).hexdigest() == status["result"]["glb_sha256"]
    assert raw.headers["x-request-id"].startswith("req_")
    as_json = client.get(f"/jobs/{job_id}/result").json()
    assert base64.b64decode(as_json["glb"]) == raw.content


PRESETS = [{"name": "fast", "decimation_target": 5000, "texture_size": 512},
           {"name": "quality", "texture_size": 2048}]


def reference_state(client, image_b64) -> str:
    return client.post("/generate", json={"image": image_b64, "state_mode": "reference"}).json()["state_id"]


def test_one_extract_job_makes_every_preset_in_one_gpu_call(client, backend, image_b64):
    state_id = reference_state(client, image_b64)
    extracted_before = backend.extract_calls
    job_id = client.post("/jobs/extract_glb", json={"state_id": state_id, "presets": PRESETS}).json()["job_id"]
    status = wait_for(client, job_id)
    presets = status["result"]["presets"]
    assert list(presets) == ["fast", "quality"] and backend.extract_calls - extracted_before == 2
    stats = client.get("/_local/stats").json()
    assert stats["work_runs"]["extract_glb"] == 1 and stats["presets_extracted"] == 2
    for name, preset in presets.items():
        raw = client.get(f"/jobs/{job_id}/result", params={"preset": name}, headers={"Accept": "model/gltf-binary"})
        assert raw.status_code == 200 and raw.content[:4] == b"glTF"
        assert raw.headers["x-glb-sha256"] == hashlib.sha256(raw.content).hexdigest() == preset["glb_sha256"]
        assert f'"texture_size": {dict((p["name"], p["texture_size"]) for p in PRESETS)[name]}'.encode() in raw.content
        as_json = client.get(f"/jobs/{job_id}/result", params={"preset": name}).json()
        assert base64.b64decode(as_json["glb"]) == raw.content and as_json["glb_sha256"] == preset["glb_sha256"]


def test_a_multi_preset_result_names_the_preset_it_needs(client, image_b64):
    state_id = reference_state(client, image_b64)
    job_id = client.post("/jobs/extract_glb", json={"state_id": state_id, "presets": PRESETS}).json()["job_id"]
    wait_for(client, job_id)
    unnamed = client.get(f"/jobs/{job_id}/result")
    assert unnamed.status_code == 400 and "fast, quality" in unnamed.json()["error"]["message"]
    unknown = client.get(f"/jobs/{job_id}/result", params={"preset": "balanced"})
    assert unknown.status_code == 404 and "balanced" in unknown.json()["error"]["message"]


@pytest.mark.parametrize("body, field", [
    ({"presets": PRESETS, "texture_size": 1024}, "texture_size"),
    ({"presets": [PRESETS[0], PRESETS[0]]}, "unique"),
    ({"presets": []}, "presets"),
    ({"presets": [{"name": "Fast"}]}, "name"),
    ({"presets": [{"name": f"p{i}"} for i in range(9)]}, "presets"),
    ({"presets": [{"name": "fast", "texture_size": 300}]}, "texture_size"),
])
def test_bad_presets_are_refused_before_any_work(client, backend, image_b64, body, field):
    state_id = reference_state(client, image_b64)
    answer = client.post("/jobs/extract_glb", json={"state_id": state_id, **body})
    assert answer.status_code == 400 and field in answer.json()["error"]["message"]
    assert client.get("/_local/stats").json()["jobs_created"]["extract_glb"] == 0


def test_the_synchronous_route_makes_one_glb_only(client, image_b64):
    state_id = reference_state(client, image_b64)
    answer = client.post("/extract_glb", json={"state_id": state_id, "presets": PRESETS})
    assert answer.status_code == 400 and "POST /jobs/extract_glb" in answer.json()["error"]["message"]


def test_a_preview_is_rendered_only_when_asked_for(client, backend, image_b64):
    job_id = client.post("/jobs/generate", json={"image": image_b64, "include_video": False,
                                                 "state_mode": "reference"}).json()["job_id"]
    status = wait_for(client, job_id)
    assert status["result"]["video_bytes"] == 0
    assert client.get(f"/jobs/{job_id}/result", headers={"Accept": "video/mp4"}).status_code == 404


def test_pick_up_by_id_from_a_new_client_never_reruns(settings, backend, image_b64):
    app = build_local_app(settings, backend)
    first = TestClient(app)
    job_id = first.post("/jobs/generate", json={"image": image_b64}, headers=AUTH).json()["job_id"]
    first.close()
    with TestClient(app) as second:  # a restarted caller that only kept the job id
        for _ in range(3):
            wait_for(second, job_id, headers=AUTH)
            assert second.get(f"/jobs/{job_id}/result", headers=AUTH).status_code == 200
    assert backend.generate_calls == 1


def test_another_callers_job_is_not_found(client, settings, backend, image_b64):
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    wait_for(client, job_id)
    # Proxy auth (as on Modal): any valid Modal token passes, but jobs stay with the token that made them.
    from dataclasses import replace

    with TestClient(build_local_app(replace(settings, auth_mode="proxy"), backend)) as proxied:
        mine = {"Modal-Key": AUTH["Modal-Key"], "Modal-Secret": "ws-x"}
        theirs = {"Modal-Key": "wk-someone-else", "Modal-Secret": "ws-y"}
        assert proxied.get(f"/jobs/{job_id}", headers=mine).status_code == 200
        for suffix in ("", "/result"):
            response = proxied.get(f"/jobs/{job_id}{suffix}", headers=theirs)
            assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"


def test_unknown_job_is_404(client):
    response = client.get("/jobs/job_" + "1" * 32)
    assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"


def test_result_before_the_job_finished_is_409(client, backend, image_b64):
    backend.gate = threading.Event()
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert backend.started.wait(5)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    queued_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert client.get(f"/jobs/{queued_id}").json()["status"] == "queued"  # one worker: it waits its turn
    for pending in (job_id, queued_id):
        response = client.get(f"/jobs/{pending}/result")
        assert response.status_code == 409
        assert response.json()["error"] == {"code": "job_not_finished", "message": response.json()["error"]["message"],
                                            "retryable": True}
    backend.gate.set()
    assert wait_for(client, queued_id)["status"] == "succeeded"


def test_failed_job_reports_its_error(client, backend, image_b64):
    backend.fail_next = backend_error("generation_error")
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    status = wait_for(client, job_id)
    assert status["status"] == "failed" and status["result"] is None
    assert status["error"] == {"code": "generation_error", "message": "generation_error happened", "retryable": True}
    response = client.get(f"/jobs/{job_id}/result")
    assert response.status_code == 500 and response.json()["error"]["code"] == "generation_error"


def test_jobs_are_validated_up_front(client, backend):
    assert client.post("/jobs/generate", json={"image": "nope!"}).status_code == 400
    assert client.post("/jobs/extract_glb", json={"state_id": "st_" + "2" * 32}).status_code == 404
    assert client.post("/jobs/extract_glb", json={"state_id": "st_bad"}).status_code == 400
    assert backend.generate_calls == backend.extract_calls == 0


def test_jobs_interrupted_by_a_restart_fail_instead_of_hanging(settings, backend, image_b64):
    backend.gate = threading.Event()
    with TestClient(build_local_app(settings, backend)) as first:
        job_id = first.post("/jobs/generate", json={"image": image_b64}, headers=AUTH).json()["job_id"]
        assert backend.started.wait(5)
    # The first process is gone (its runner shut down); a new one finds the job still "running".
    with TestClient(build_local_app(settings, backend)) as second:
        status = second.get(f"/jobs/{job_id}", headers=AUTH).json()
        assert status["status"] == "failed" and status["error"]["code"] == "internal_error"
        assert status["error"]["retryable"] is True
    backend.gate.set()


def test_a_redelivered_job_does_not_run_twice(settings, backend, image_b64):
    """A call delivered again for a job that already ran (its own claim is there) counts an attempt; once the
    attempts are used up it is refused as poison_input instead of running the backend again."""
    from trellis2_service.job_run import run_job

    app = build_local_app(settings, backend)
    with TestClient(app) as client:
        job_id = client.post("/jobs/generate", json={"image": image_b64}, headers=AUTH).json()["job_id"]
        wait_for(client, job_id, headers=AUTH)
    worker = app.state.worker
    kv = app.state.calls._kv
    outcome, _ = run_job(worker, kv, worker.store, job_id, "generate", {}, time.time(), call_id=None, max_attempts=1)
    assert outcome["status"] == "failed" and outcome["error"]["code"] == "poison_input"
    assert backend.generate_calls == 1


def test_several_local_containers_run_calls_side_by_side(settings, tmp_path):
    """--gpu-workers N imitates N GPU containers: N slow calls overlap instead of queueing."""
    import asyncio
    import threading

    from fake_backend import FakeBackend
    from trellis2_service.job_calls import LocalCalls
    from trellis2_service.job_keys import LocalDict
    from trellis2_service.store import Store
    from trellis2_service.work import GpuContainer

    inside, most_inside, lock = 0, 0, threading.Lock()
    all_in = threading.Barrier(3, timeout=10)

    class Overlapping(GpuContainer):
        def warmup(self, submitted_at):
            nonlocal inside, most_inside
            with lock:
                inside += 1
                most_inside = max(most_inside, inside)
            all_in.wait()  # returns only once three calls are inside at the same time
            with lock:
                inside -= 1
            return super().warmup(submitted_at)

    store = Store(settings.store_dir, ttl_seconds=3600)
    calls = LocalCalls([Overlapping(FakeBackend(), store, settings) for _ in range(3)], LocalDict(tmp_path / "kv"),
                       tmp_path / "calls", max_attempts=2)

    async def three_at_once():
        return await asyncio.gather(*(calls.warmup(0.0) for _ in range(3)))

    results = asyncio.run(three_at_once())
    calls.shutdown()
    assert most_inside == 3 and all(result.error is None for result in results)


# --- Long polls: GET /jobs/{id}?wait=S -------------------------------------------------------------------
# Timings are only ever compared with a much longer wait (or checked as a lower bound the service itself
# guarantees), so a slow machine cannot fail them.

def timed_get(client, url, **kwargs):
    started = time.monotonic()
    response = client.get(url, **kwargs)
    return response, time.monotonic() - started


def test_a_long_poll_answers_as_soon_as_the_job_finishes(client, backend, image_b64):
    backend.gate = threading.Event()
    running = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert backend.started.wait(5)
    queued = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]  # behind it: one worker
    threading.Timer(0.2, backend.gate.set).start()
    for job_id in (running, queued):
        response, seconds = timed_get(client, f"/jobs/{job_id}", params={"wait": 15})
        assert response.status_code == 200 and response.json()["status"] == "succeeded"
        assert response.json()["result"]["server_timing"]["backend"] == "relief"
        assert seconds < 10  # answered when the work ended, not after the 15 s wait


def test_a_long_poll_on_a_job_that_fails_answers_with_its_error(client, backend, image_b64):
    backend.gate = threading.Event()
    backend.fail_next = backend_error("generation_error")
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    assert backend.started.wait(5)
    threading.Timer(0.2, backend.gate.set).start()
    response, seconds = timed_get(client, f"/jobs/{job_id}?wait=15")
    assert response.json()["status"] == "failed" and response.json()["error"]["code"] == "generation_error"
    assert seconds < 10


def test_a_long_poll_ends_after_the_wait_with_the_current_status(client, backend, image_b64):
    backend.gate = threading.Event()
    try:
        job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
        assert backend.started.wait(5)
        response, seconds = timed_get(client, f"/jobs/{job_id}?wait=0.3")
        assert response.status_code == 200 and response.json()["status"] == "running"
        assert response.json()["result"] is None and response.json()["error"] is None
        assert seconds >= 0.25  # it did wait (the service's own deadline), and then answered
        assert client.get(f"/jobs/{job_id}?wait=0").json()["status"] == "running"  # 0: at once, as without
    finally:
        backend.gate.set()
    assert wait_for(client, job_id)["status"] == "succeeded"


def test_a_finished_job_answers_a_long_poll_at_once(client, image_b64):
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    wait_for(client, job_id)
    response, seconds = timed_get(client, f"/jobs/{job_id}?wait=20")  # the longest wait allowed
    assert response.json()["status"] == "succeeded" and seconds < 10


@pytest.mark.parametrize("wait", ["-1", "20.5", "1e9", "abc", "", "nan", "inf"])
def test_an_invalid_wait_is_refused(client, image_b64, wait):
    job_id = client.post("/jobs/generate", json={"image": image_b64}).json()["job_id"]
    response = client.get(f"/jobs/{job_id}", params={"wait": wait})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["retryable"] is False and "wait" in error["message"]


def test_a_long_poll_keeps_the_owner_check(client, settings, backend, image_b64):
    from dataclasses import replace

    backend.gate = threading.Event()
    try:
        with TestClient(build_local_app(replace(settings, auth_mode="proxy"), backend)) as proxied:
            theirs = {"Modal-Key": "wk-someone-else", "Modal-Secret": "ws-y"}
            job_id = proxied.post("/jobs/generate", json={"image": image_b64}, headers=AUTH).json()["job_id"]
            assert backend.started.wait(5)
            # Someone else's job, still running: not found, at once (nothing of it is waited on).
            response, seconds = timed_get(proxied, f"/jobs/{job_id}?wait=20", headers=theirs)
            assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"
            assert seconds < 10
            unknown, seconds = timed_get(proxied, "/jobs/job_" + "3" * 32 + "?wait=20", headers=AUTH)
            assert unknown.status_code == 404 and seconds < 10
            assert proxied.get(f"/jobs/{job_id}?wait=0.1", headers=AUTH).json()["status"] == "running"
    finally:
        backend.gate.set()


def test_a_long_poll_on_a_job_interrupted_by_a_restart_fails_it_at_once(settings, backend, image_b64):
    backend.gate = threading.Event()
    with TestClient(build_local_app(settings, backend)) as first:
        job_id = first.post("/jobs/generate", json={"image": image_b64}, headers=AUTH).json()["job_id"]
        assert backend.started.wait(5)
    with TestClient(build_local_app(settings, backend)) as second:  # no future for the job in this process
        response, seconds = timed_get(second, f"/jobs/{job_id}?wait=20", headers=AUTH)
        assert response.json()["status"] == "failed" and response.json()["error"]["code"] == "internal_error"
        assert seconds < 10
    backend.gate.set()


def test_a_local_call_waited_on_is_never_cancelled_and_never_raises(settings, tmp_path):
    """A wait that times out leaves the call running; a call cancelled by shutdown, or one that crashed, is
    reported as failed, never as an exception in the request; a call this process never made failed with it."""
    import asyncio
    import concurrent.futures

    from fake_backend import FakeBackend
    from trellis2_service.job_calls import LocalCalls
    from trellis2_service.job_keys import LocalDict
    from trellis2_service.store import Store
    from trellis2_service.work import GpuContainer

    calls = LocalCalls([GpuContainer(FakeBackend(), Store(settings.store_dir, ttl_seconds=3600), settings)],
                       LocalDict(tmp_path / "kv"), tmp_path / "calls", max_attempts=2)
    call_id = "fc-local-" + "4" * 32

    async def scenario():
        calls._calls[call_id] = future = concurrent.futures.Future()
        assert (await calls.get(call_id, 0.05)).state == "pending"
        assert not future.done()  # timed out: the call is untouched
        threading.Timer(0.05, future.cancel).start()
        assert (await asyncio.wait_for(calls.get(call_id, 10), 5)).state == "failed"
        calls._calls[call_id] = crashed = concurrent.futures.Future()
        threading.Timer(0.05, crashed.set_exception, args=(RuntimeError("boom"),)).start()
        assert (await asyncio.wait_for(calls.get(call_id, 10), 5)).state == "failed"
        del calls._calls[call_id]
        assert (await asyncio.wait_for(calls.get(call_id, 10), 1)).state == "failed"  # not this process's call

    asyncio.run(scenario())
    calls.shutdown()
