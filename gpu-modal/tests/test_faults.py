"""Fault injection of the local service: each fault kind against a real server and a real client, the
control routes, and the same sequence for the same seed."""

import socket
import time

import httpx
import pytest

from conftest import AUTH
from live_server import serve
from trellis2_service.faults import FaultSpec, FaultSpecError, Faults, LocalStats, spec_from_env
from trellis2_service.local import build_local_app

KEY = {"Idempotency-Key": "wf:act:1"}


@pytest.fixture
def live(settings, backend):
    """-> (base url, an httpx client with the credentials)."""
    with serve(build_local_app(settings, backend)) as url, httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        yield url, http


def set_faults(http, spec, seed=0):
    response = http.put("/_local/faults", json={"spec": spec, "seed": seed})
    assert response.status_code == 200, response.text
    return response.json()


def stats(http):
    return http.get("/_local/stats").json()


# --- The spec and the seed ---------------------------------------------------------------------------------
def test_specs_are_read_and_written_back_in_one_order():
    spec = FaultSpec.parse(" lost=0.1 ,503=0.2,reset=0.05,hang=0.02,429=0.05,500=0.05,latency_ms=50,revoke_after=40")
    assert spec.text() == "503=0.2,429=0.05,500=0.05,reset=0.05,hang=0.02,lost=0.1,latency_ms=50,revoke_after=40"
    assert FaultSpec.parse("").text() == "" and FaultSpec.parse("").pick(0.0) is None


@pytest.mark.parametrize("text, says", [
    ("503", "expected name=value"), ("teapot=0.1", "unknown fault 'teapot'"), ("503=1.5", "between 0 and 1"),
    ("latency_ms=-1", "whole number"), ("503=0.6,reset=0.6", "more than 1"), ("revoke_after=x", "whole number"),
])
def test_bad_specs_are_refused_naming_the_item(text, says):
    with pytest.raises(FaultSpecError, match=says):
        FaultSpec.parse(text)


def test_the_same_seed_gives_the_same_faults_and_another_seed_others():
    def sequence(seed):
        faults = Faults(LocalStats(), "503=0.2,reset=0.05,hang=0.02,lost=0.1,429=0.05,500=0.05", seed)
        return [faults.next_fault(authenticated=True) for _ in range(400)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    drawn = sequence(7)
    assert 40 < drawn.count("503") < 120 and drawn.count(None) > 150  # the shares, roughly


def test_env_configures_faults_and_a_bad_value_names_the_variable():
    assert spec_from_env({"TRELLIS2_FAULTS": "503=0.5", "TRELLIS2_FAULT_SEED": "9"}) == ("503=0.5", 9)
    assert spec_from_env({}) == ("", 0)
    with pytest.raises(FaultSpecError, match="TRELLIS2_FAULT_SEED"):
        spec_from_env({"TRELLIS2_FAULT_SEED": "seven"})
    with pytest.raises(FaultSpecError, match="TRELLIS2_FAULTS"):
        spec_from_env({"TRELLIS2_FAULTS": "503=2"})


def test_the_cli_refuses_a_bad_spec():
    from trellis2_service.__main__ import parse_args

    assert parse_args(["--faults", "reset=0.1", "--fault-seed", "3"]).fault_seed == 3
    with pytest.raises(SystemExit):
        parse_args(["--faults", "reset=7"])


# --- Each fault kind, over real HTTP -----------------------------------------------------------------------
@pytest.mark.parametrize("status, code", [(503, "not_ready"), (429, "rate_limited"), (500, "internal_error")])
def test_error_answers_do_no_work(live, image_b64, status, code):
    _, http = live
    set_faults(http, f"{status}=1")
    response = http.post("/jobs/generate", json={"image": image_b64})
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["retryable"] is True
    assert "injected" in body["error"]["message"]
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers.get("retry-after") == (None if status == 500 else "1")
    counted = stats(http)
    assert counted["jobs_created"]["generate"] == 0 and counted["work_runs"]["generate"] == 0
    assert counted["faults_injected"][str(status)] == 1 and counted["requests"] == 1


def test_health_and_control_routes_are_never_faulted(live):
    _, http = live
    set_faults(http, "503=1")
    assert http.get("/health").status_code == 200
    assert stats(http)["requests"] == 0


def test_a_reset_drops_the_connection_before_any_work(live, image_b64):
    url, http = live
    set_faults(http, "reset=1")
    host, port = url.removeprefix("http://").split(":")
    body = b'{"image": "%s"}' % image_b64.encode()
    request = (b"POST /jobs/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Modal-Key: %s\r\nModal-Secret: %s\r\nContent-Length: %d\r\n\r\n" % (
                   AUTH["Modal-Key"].encode(), AUTH["Modal-Secret"].encode(), len(body))) + body
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(request)
        with pytest.raises(ConnectionResetError):  # RST, not a clean close and not an answer
            raw.recv(65536)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.post("/jobs/generate", json={"image": image_b64})
    counted = stats(http)
    assert counted["faults_injected"]["reset"] == 2 and counted["jobs_created"]["generate"] == 0


def test_a_hung_request_gets_no_answer_and_does_no_work(live, image_b64):
    _, http = live
    set_faults(http, "hang=1")
    with pytest.raises(httpx.ReadTimeout):
        http.post("/jobs/generate", json={"image": image_b64}, timeout=0.5)
    counted = stats(http)
    assert counted["faults_injected"]["hang"] == 1 and counted["jobs_created"]["generate"] == 0
    assert counted["work_runs"]["generate"] == 0


def test_a_lost_answer_did_the_work_and_a_retry_with_the_key_gets_it(live, backend, image_b64):
    _, http = live
    set_faults(http, "lost=1")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.post("/jobs/generate", json={"image": image_b64}, headers=KEY)
    assert stats(http)["jobs_created"]["generate"] == 1  # accepted, though the client never heard
    set_faults(http, "")
    retry = http.post("/jobs/generate", json={"image": image_b64}, headers=KEY)
    assert retry.status_code == 202 and retry.headers["idempotency-replayed"] == "true"
    job_id = retry.json()["job_id"]
    for _ in range(500):
        if http.get(f"/jobs/{job_id}").json()["status"] == "succeeded":
            break
        time.sleep(0.01)
    counted = stats(http)
    assert counted["jobs_created"]["generate"] == 1 and counted["work_runs"]["generate"] == 1
    assert backend.generate_calls == 1


def test_latency_is_added_to_each_request(live):
    _, http = live
    set_faults(http, "latency_ms=300")
    started = time.perf_counter()
    assert http.get("/jobs/job_" + "0" * 32).status_code == 404
    assert time.perf_counter() - started >= 0.3  # a lower bound: sleeping can only take longer


def test_credentials_are_revoked_after_n_requests_until_faults_change(live):
    _, http = live
    set_faults(http, "revoke_after=2")
    unknown = "/jobs/job_" + "0" * 32
    wrong = {"Modal-Key": "wk-other", "Modal-Secret": "ws-other"}
    assert http.get(unknown, headers=wrong).status_code == 401  # not the configured credentials: not counted
    assert [http.get(unknown).status_code for _ in range(2)] == [404, 404]
    revoked = http.get(unknown)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"
    assert "revoked" in revoked.json()["error"]["message"]
    assert http.post("/warmup").status_code == 401
    assert stats(http)["faults_injected"]["revoked"] == 2  # the control routes still answer
    set_faults(http, "")
    assert http.get(unknown).status_code == 404


def test_stats_count_backend_work_apart_from_job_records(live, image_b64):
    _, http = live
    assert http.post("/generate", json={"image": image_b64}).status_code == 200
    assert http.post("/warmup").status_code == 200
    counted = stats(http)
    assert counted["work_runs"] == {"generate": 1, "extract_glb": 0, "warmup": 1}
    assert counted["jobs_created"] == {"generate": 0, "extract_glb": 0} and counted["requests"] == 2
    assert counted["faults"] == {"spec": "", "seed": 0}
    reset = http.post("/_local/stats/reset").json()
    assert reset["requests"] == 0 and reset["work_runs"]["generate"] == 0


def test_control_routes_check_credentials_and_specs(live):
    url, http = live
    assert httpx.get(f"{url}/_local/stats").status_code == 401
    response = http.put("/_local/faults", json={"spec": "503=3"})
    assert response.status_code == 400 and "503 must be a share between 0 and 1" in response.json()["error"]["message"]
    configured = set_faults(http, "reset=0.5,503=0.25", seed=4)
    assert (configured["spec"], configured["seed"]) == ("503=0.25,reset=0.5", 4)
    assert http.get("/_local/faults").json()["spec"] == "503=0.25,reset=0.5"


def test_a_faulted_server_is_deterministic_by_seed(settings, backend):
    def statuses(seed):
        with serve(build_local_app(settings, backend, fault_spec="503=0.3,429=0.2", fault_seed=seed)) as url:
            with httpx.Client(base_url=url, headers=AUTH) as http:
                return [http.get("/jobs/job_" + "0" * 32).status_code for _ in range(30)]

    first = statuses(11)
    assert first == statuses(11) and set(first) == {404, 429, 503}


def test_the_shared_app_has_no_control_routes_and_no_faults(settings, backend):
    """What Modal serves is create_app alone: /_local/* does not exist there."""
    from fastapi.testclient import TestClient

    from conftest import plain_app

    with TestClient(plain_app(settings, backend), headers=AUTH) as client:
        assert client.get("/_local/stats").status_code == 404
        assert client.put("/_local/faults", json={"spec": "503=1"}).status_code == 404
