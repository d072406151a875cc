"""An oversized upload gets its 413 and the error body, not a connection reset (real HTTP, real server)."""

import http.client
from dataclasses import replace

import httpx
import pytest

from conftest import AUTH
from live_server import serve
from trellis2_service.local import build_local_app

MiB = 1024 * 1024


@pytest.fixture
def live_url(settings, backend):
    with serve(build_local_app(replace(settings, max_body_bytes=1 * MiB), backend)) as url:
        yield url


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413
    body = response.json()
    assert body["error"]["code"] == "payload_too_large" and body["error"]["retryable"] is False
    assert body["request_id"].startswith("req_") and response.headers["x-request-id"] == body["request_id"]


def test_a_15_mib_upload_with_content_length_gets_the_413_body(live_url, backend):
    """http.client, like Node's fetch, sends the whole body before it reads: if the server closed with the
    body unread, the send fails with a reset (httpx would hide that by reading the early answer)."""
    upload = b'{"image": "' + b"A" * (15 * MiB) + b'"}'
    host, port = live_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/jobs/generate", body=upload, headers={**AUTH, "Content-Type": "application/json"})
        answer = connection.getresponse()
        status, headers, body = answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()
    _assert_413(httpx.Response(status, headers=headers, content=body))
    assert backend.generate_calls == 0


def test_a_15_mib_chunked_upload_gets_the_413_body(live_url):
    def chunks():
        for _ in range(15):
            yield b"A" * MiB

    response = httpx.post(f"{live_url}/generate", content=chunks(), timeout=30,
                          headers={**AUTH, "Content-Type": "application/json"})
    assert "content-length" not in response.request.headers  # it really streamed
    _assert_413(response)


def test_the_server_keeps_serving_after_refusing(live_url, image_b64):
    _assert_413(httpx.post(f"{live_url}/generate", content=b"x" * (2 * MiB), headers=AUTH, timeout=30))
    assert httpx.post(f"{live_url}/generate", json={"image": image_b64}, headers=AUTH, timeout=30).status_code == 200
