import pytest
from fastapi.testclient import TestClient

from conftest import KEY, SECRET
from trellis2_service.config import Settings
from trellis2_service.local import build_local_app

PROTECTED = [
    ("post", "/warmup"), ("post", "/generate"), ("post", "/extract_glb"), ("post", "/jobs/generate"),
    ("post", "/jobs/extract_glb"), ("get", "/jobs/job_" + "0" * 32), ("get", "/jobs/job_" + "0" * 32 + "/result"),
    ("get", "/states/st_" + "0" * 32 + "/preview.mp4"),
]


@pytest.fixture
def anonymous(settings, backend):
    with TestClient(build_local_app(settings, backend)) as test_client:
        yield test_client


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("headers", [
    {},
    {"Modal-Key": KEY},
    {"Modal-Secret": SECRET},
    {"Modal-Key": KEY, "Modal-Secret": "ws-wrong"},
    {"Modal-Key": "wk-wrong", "Modal-Secret": SECRET},
    {"Modal-Key": KEY + "x", "Modal-Secret": SECRET},
])
def test_every_route_but_health_needs_both_right_headers(anonymous, backend, method, path, headers):
    response = getattr(anonymous, method)(path, headers=headers, **({"json": {}} if method == "post" else {}))
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "unauthorized", "message": response.json()["error"]["message"],
                                         "retryable": False}
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert backend.generate_calls == backend.extract_calls == backend.load_calls == 0


def test_health_is_open(anonymous):
    response = anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["service"] == "trellis2-api" and body["backend"] == "relief"
    assert body["version"] == "0.1.0" and body["request_id"] == response.headers["x-request-id"]


def test_right_headers_pass(anonymous):
    response = anonymous.post("/warmup", headers={"Modal-Key": KEY, "Modal-Secret": SECRET})
    assert response.status_code == 200 and response.json()["ready"] is True


def test_no_auth_mode_lets_requests_through(tmp_path, backend):
    settings = Settings(auth_mode="none", store_dir=tmp_path)
    with TestClient(build_local_app(settings, backend)) as test_client:
        assert test_client.post("/warmup").status_code == 200


def test_proxy_mode_trusts_modal_but_needs_a_key_for_ownership(tmp_path, backend):
    settings = Settings(auth_mode="proxy", store_dir=tmp_path)
    with TestClient(build_local_app(settings, backend)) as test_client:
        assert test_client.post("/warmup", headers={"Modal-Key": "wk-any", "Modal-Secret": "ws-any"}).status_code == 200
        assert test_client.post("/warmup").status_code == 401


def test_credentials_never_reach_the_logs(client, caplog, image_b64):
    import logging

    caplog.set_level(logging.DEBUG, logger="trellis2")
    client.post("/generate", json={"image": image_b64})
    client.post("/generate", headers={"Modal-Secret": "ws-wrong"}, json={"image": image_b64})
    text = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert caplog.records, "the request log is missing"
    assert SECRET not in text and KEY not in text and image_b64[:40] not in text
    assert KEY[:5] in text  # the masked key is there, to tell callers apart
