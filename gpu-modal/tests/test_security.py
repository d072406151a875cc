"""Hostile states and ids: nothing a client sends is unpickled, forged states are refused, ids are not paths."""

import base64
import os
import pickle  # only to build the attack payload; the service never imports pickle

import lz4.frame
import numpy as np
import pytest

from trellis2_service.backends.base import GenerationState
from trellis2_service.state_codec import encode_state


class _CreatesMarker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))  # unpickling this would create the marker file


def _generated_state(client, image_b64):
    return client.post("/generate", json={"image": image_b64}).json()["state"]


@pytest.mark.parametrize("wrap", ["raw", "lz4"])
@pytest.mark.parametrize("encode", ["base64", "raw-text"])
def test_pickle_payload_is_refused_and_never_runs(client, backend, tmp_path, wrap, encode):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesMarker(str(marker)))
    if wrap == "lz4":
        payload = lz4.frame.compress(payload)  # the upstream's wire format
    state = base64.b64encode(payload).decode() if encode == "base64" else payload.decode("latin-1")
    for path in ("/extract_glb", "/jobs/extract_glb"):
        response = client.post(path, json={"state": state})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "validation_error"
    assert not marker.exists()
    assert backend.extract_calls == 0


def test_pickle_message_tells_what_happened(client, tmp_path):
    payload = base64.b64encode(pickle.dumps(_CreatesMarker(str(tmp_path / "x")))).decode()
    message = client.post("/extract_glb", json={"state": payload}).json()["error"]["message"]
    assert "pickled" in message


def test_tampered_state_is_refused(client, backend, image_b64):
    blob = bytearray(base64.b64decode(_generated_state(client, image_b64)))
    blob[len(blob) // 2] ^= 0x40
    response = client.post("/extract_glb", json={"state": base64.b64encode(bytes(blob)).decode()})
    assert response.status_code == 400 and "signature" in response.json()["error"]["message"]
    assert backend.extract_calls == 0


def test_state_signed_with_another_secret_is_refused(client, backend):
    forged = GenerationState(backend="relief", arrays={"faces": np.zeros((4, 3), np.int32)}, meta={})
    blob = encode_state(forged, b"not-the-service-secret-at-all")
    response = client.post("/extract_glb", json={"state": base64.b64encode(blob).decode()})
    assert response.status_code == 400 and "signature" in response.json()["error"]["message"]
    assert backend.extract_calls == 0


def test_state_of_another_backend_is_refused(client, settings):
    other = GenerationState(backend="trellis2", arrays={"faces": np.zeros((4, 3), np.int32)}, meta={})
    blob = encode_state(other, settings.state_secret)
    response = client.post("/extract_glb", json={"state": base64.b64encode(blob).decode()})
    assert response.status_code == 400 and "trellis2 backend" in response.json()["error"]["message"]


def test_oversized_inline_state_is_refused(settings, backend):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from conftest import AUTH
    from trellis2_service.local import build_local_app

    big = GenerationState(backend="relief", arrays={"attrs": np.zeros(100_000, np.float32)}, meta={})
    blob = base64.b64encode(encode_state(big, settings.state_secret)).decode()
    with TestClient(build_local_app(replace(settings, max_state_bytes=65536), backend)) as client:
        response = client.post("/extract_glb", json={"state": blob}, headers=AUTH)
    assert response.status_code == 400 and "over the limit" in response.json()["error"]["message"]
    assert backend.extract_calls == 0


BAD_IDS = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "st_" + "g" * 32, "st_" + "A" * 32, "st_" + "0" * 31,
           "st_" + "0" * 33, "st_" + "0" * 32 + "\n", "st_" + "0" * 32 + "/..", "/etc/passwd", "st_..", ""]


@pytest.mark.parametrize("state_id", BAD_IDS)
def test_bad_state_ids_are_refused_in_bodies(client, state_id):
    response = client.post("/extract_glb", json={"state_id": state_id})
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("state_id", ["st_" + "g" * 32, "st_" + "0" * 31, "..", "%2e%2e", "st_%2e%2e%2fetc"])
def test_bad_state_ids_are_refused_in_paths(client, state_id):
    response = client.get(f"/states/{state_id}/preview.mp4")
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] in ("validation_error", "not_found")


@pytest.mark.parametrize("job_id", ["job_" + "0" * 31, "job_" + "Z" * 32, "..", "job_%2e%2e"])
def test_bad_job_ids_are_refused(client, job_id):
    for suffix in ("", "/result"):
        response = client.get(f"/jobs/{job_id}{suffix}")
        assert response.status_code in (400, 404)
        assert response.json()["error"]["code"] in ("validation_error", "not_found")


def test_store_never_reads_outside_its_root(settings, tmp_path):
    from trellis2_service.errors import ServiceError
    from trellis2_service.store import Store

    secret_file = tmp_path / "secret.bin"
    secret_file.write_bytes(b"do not read")
    store = Store(settings.store_dir, ttl_seconds=3600)
    for state_id in ("../../secret", str(secret_file), "st_../../x"):
        with pytest.raises(ServiceError) as caught:
            store.get_state_blob(state_id)
        assert caught.value.code == "validation_error"
    assert os.listdir(settings.store_dir / "states") == []

