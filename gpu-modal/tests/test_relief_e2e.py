"""End to end with the real relief backend: through the app in-process, and through the real local server."""

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trimesh
from fastapi.testclient import TestClient

from conftest import AUTH, KEY, SECRET, b64, png_bytes
from trellis2_service.backends import create_backend
from trellis2_service.local import build_local_app

GPU_MODAL = Path(__file__).resolve().parent.parent


@pytest.fixture
def relief_client(settings):
    with TestClient(build_local_app(settings, create_backend("relief"))) as client:
        client.headers.update(AUTH)
        yield client


def test_generate_then_extract_with_the_relief_backend(relief_client):
    image = b64(png_bytes(size=(96, 64)))
    generated = relief_client.post("/generate", json={"image": image, "seed": 3})
    assert generated.status_code == 200, generated.text
    body = generated.json()
    video = base64.b64decode(body["video"])
    assert video[4:8] == b"ftyp" and body["video_bytes"] == len(video)
    assert body["server_timing"]["backend"] == "relief" and body["server_timing"]["device"] == "cpu"

    extracted = relief_client.post("/extract_glb", json={"state": body["state"], "texture_size": 512,
                                                         "decimation_target": 5000},
                                   headers={"Accept": "model/gltf-binary"})
    assert extracted.status_code == 200, extracted.text
    scene = trimesh.load(io.BytesIO(extracted.content), file_type="glb")
    assert len(scene.geometry) >= 1


def test_reference_job_with_the_relief_backend(relief_client):
    image = b64(png_bytes(size=(64, 64)))
    job = relief_client.post("/jobs/generate", json={"image": image, "state_mode": "reference"}).json()
    for _ in range(600):
        status = relief_client.get(f"/jobs/{job['job_id']}").json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.02)
    assert status["status"] == "succeeded", status
    state_id = status["result"]["state_id"]
    assert relief_client.get(f"/states/{state_id}/preview.mp4").content[4:8] == b"ftyp"
    assert relief_client.post("/extract_glb", json={"state_id": state_id, "texture_size": 512}).status_code == 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_local_server_serves_the_contract(tmp_path):
    port = _free_port()
    env = {**os.environ, "TRELLIS2_MODAL_KEY": KEY, "TRELLIS2_MODAL_SECRET": SECRET, "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "trellis2_service", "--port", str(port), "--store-dir", str(tmp_path / "store")],
        cwd=GPU_MODAL, env=env, stdout=subprocess.PIPE, stderr=open(tmp_path / "server.log", "w"), text=True,
    )
    try:
        banner = server.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        assert httpx.post(f"{base}/warmup", timeout=5).status_code == 401
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as http:
            generated = http.post("/generate", json={"image": b64(png_bytes(size=(48, 48)))})
            assert generated.status_code == 200, generated.text
            glb = http.post("/extract_glb", json={"state": generated.json()["state"], "texture_size": 512})
            assert glb.status_code == 200 and base64.b64decode(glb.json()["glb"])[:4] == b"glTF"
            assert glb.headers["x-request-id"] == glb.json()["request_id"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert (tmp_path / "store" / "states").is_dir()
