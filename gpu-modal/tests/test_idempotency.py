"""Idempotency-Key on job submits: a repeat gets the same job and starts no work."""

import threading
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH
from fake_backend import backend_error
from test_jobs import wait_for
from trellis2_service.local import build_local_app

KEY = {"Idempotency-Key": "wf-1:activity-7:3f9a"}


def test_a_repeated_key_answers_with_the_same_job_and_no_new_work(client, backend, image_b64):
    first = client.post("/jobs/generate", json={"image": image_b64, "seed": 3}, headers=KEY)
    assert first.status_code == 202 and "idempotency-replayed" not in first.headers
    job_id = first.json()["job_id"]
    wait_for(client, job_id)
    again = client.post("/jobs/generate", json={"seed": 3, "image": image_b64}, headers=KEY)  # same body, reordered
    assert again.status_code == 202 and again.headers["idempotency-replayed"] == "true"
    assert again.json()["job_id"] == job_id and again.json()["status"] == "succeeded"
    assert again.json()["request_id"] != first.json()["request_id"]
    assert backend.generate_calls == 1


def test_defaults_written_out_are_the_same_request(client, backend, image_b64):
    job_id = client.post("/jobs/generate", json={"image": image_b64}, headers=KEY).json()["job_id"]
    again = client.post("/jobs/generate", json={"image": image_b64, "seed": 42, "state_mode": "inline"}, headers=KEY)
    assert again.json()["job_id"] == job_id


def test_a_key_reused_for_another_request_is_refused(client, backend, image_b64):
    client.post("/jobs/generate", json={"image": image_b64, "seed": 1}, headers=KEY)
    for other in ({"image": image_b64, "seed": 2}, ):
        response = client.post("/jobs/generate", json=other, headers=KEY)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert response.json()["error"]["retryable"] is False
    state_id = client.post("/generate", json={"image": image_b64, "state_mode": "reference"}).json()["state_id"]
    response = client.post("/jobs/extract_glb", json={"state_id": state_id}, headers=KEY)  # another kind of work
    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("bad", ["", "x" * 201, "has space", "slash/y", "é"])
def test_a_malformed_key_is_a_validation_error_naming_the_header(client, backend, image_b64, bad):
    response = client.post("/jobs/generate", json={"image": image_b64},
                           headers={"Idempotency-Key": bad.encode("utf-8")})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert backend.generate_calls == 0


def test_the_longest_key_is_accepted(client, image_b64):
    assert client.post("/jobs/generate", json={"image": image_b64},
                       headers={"Idempotency-Key": "a.b_c:d-" * 25}).status_code == 202


def test_keys_are_per_owner(client, settings, backend, image_b64):
    with TestClient(build_local_app(replace(settings, auth_mode="proxy"), backend)) as proxied:
        mine = proxied.post("/jobs/generate", json={"image": image_b64}, headers={**AUTH, **KEY}).json()["job_id"]
        other = {"Modal-Key": "wk-someone-else", "Modal-Secret": "ws-y", **KEY}
        theirs = proxied.post("/jobs/generate", json={"image": image_b64, "seed": 9}, headers=other)
        assert theirs.status_code == 202 and theirs.json()["job_id"] != mine


def test_a_failed_job_lets_its_key_start_new_work(client, backend, image_b64):
    backend.fail_next = backend_error("generation_error")
    failed = client.post("/jobs/generate", json={"image": image_b64}, headers=KEY).json()["job_id"]
    assert wait_for(client, failed)["status"] == "failed"
    retried = client.post("/jobs/generate", json={"image": image_b64}, headers=KEY)
    assert retried.status_code == 202 and "idempotency-replayed" not in retried.headers
    new_id = retried.json()["job_id"]
    assert new_id != failed and wait_for(client, new_id)["status"] == "succeeded"
    replay = client.post("/jobs/generate", json={"image": image_b64}, headers=KEY)
    assert replay.json()["job_id"] == new_id and replay.headers["idempotency-replayed"] == "true"
    assert backend.generate_calls == 2


def test_a_job_interrupted_by_a_restart_is_replaced_under_the_same_key(settings, backend, image_b64):
    backend.gate = threading.Event()
    with TestClient(build_local_app(settings, backend)) as first:
        lost = first.post("/jobs/generate", json={"image": image_b64}, headers={**AUTH, **KEY}).json()["job_id"]
        assert backend.started.wait(5)
    with TestClient(build_local_app(settings, backend)) as second:  # the first process is gone, its job cut off
        again = second.post("/jobs/generate", json={"image": image_b64}, headers={**AUTH, **KEY})
        assert again.status_code == 202 and again.json()["job_id"] != lost
        backend.gate.set()
        assert wait_for(second, again.json()["job_id"], headers=AUTH)["status"] == "succeeded"


def test_simultaneous_submits_with_one_key_make_one_job(settings, backend, image_b64):
    backend.gate = threading.Event()
    app = build_local_app(settings, backend)
    with TestClient(app) as client:  # one event loop: requests from these threads really overlap in it
        client.headers.update(AUTH)
        answers: list = []
        go = threading.Barrier(8)

        def submit():
            go.wait()
            answers.append(client.post("/jobs/generate", json={"image": image_b64}, headers=KEY))

        threads = [threading.Thread(target=submit) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        backend.gate.set()
        assert {answer.status_code for answer in answers} == {202}
        assert len({answer.json()["job_id"] for answer in answers}) == 1
        assert sum(answer.headers.get("idempotency-replayed") == "true" for answer in answers) == 7
        wait_for(client, answers[0].json()["job_id"])
    assert backend.generate_calls == 1
    assert len(list((settings.store_dir / "jobs").iterdir())) == 1


def test_fingerprints_tell_requests_apart_but_not_field_order():
    from trellis2_service.idempotency import request_fingerprint as fp

    assert fp("generate", {"a": "1", "b": 2}) == fp("generate", {"b": 2, "a": "1"})
    assert fp("generate", {"a": "1"}) != fp("generate", {"a": 1})  # a string is not a number
    assert fp("generate", {"a": "1"}) != fp("extract_glb", {"a": "1"})
    assert fp("generate", {"a": "b", "c": ""}) != fp("generate", {"a": "", "c": "b"})
