"""The wait backend: real files made once, states that round-trip (inline and by reference), the latency
profile's timings, and N containers side by side."""

import base64
import hashlib
import io
import time

import av
import pytest
import trimesh
from fastapi.testclient import TestClient

from conftest import AUTH, b64, png_bytes
from trellis2_service.backends import create_backend
from trellis2_service.backends.base import ExtractParams, GenerateParams, GenerationState
from trellis2_service.backends.latency import LatencyProfileBackend, extract_seconds, generate_seconds
from trellis2_service.backends.relief import ReliefBackend
from trellis2_service.backends.wait import WaitBackend
from trellis2_service.local import build_local_app

SCALE = 0.004  # generate 1024_cascade + preview = 37.5 s -> 0.15 s


@pytest.fixture(scope="module")
def wait_backend() -> WaitBackend:
    return WaitBackend()  # made once: building the start-up model takes about a second


def test_the_start_up_files_are_a_real_glb_and_mp4(wait_backend):
    scene = trimesh.load(io.BytesIO(wait_backend.glb), file_type="glb")
    assert len(scene.geometry) >= 1
    assert any(getattr(geometry.visual, "material", None) is not None for geometry in scene.geometry.values())
    with av.open(io.BytesIO(wait_backend.preview_mp4)) as container:
        assert sum(1 for _ in container.decode(container.streams.video[0])) > 10


def test_every_call_returns_the_same_bytes_without_recomputing(wait_backend):
    output = wait_backend.generate(None, GenerateParams(seed=7, pipeline_type="512"))  # the image is not read
    assert output.preview_mp4 is wait_backend.preview_mp4
    assert output.state.meta == {"format": "wait/1", "seed": 7, "pipeline_type": "512"}
    assert wait_backend.generate(None, GenerateParams(render_preview=False)).preview_mp4 is None
    assert wait_backend.extract_glb(output.state, ExtractParams(texture_size=1024)) is wait_backend.glb


def test_states_of_other_backends_are_refused(wait_backend):
    from trellis2_service.backends.base import BackendError

    relief_state = GenerationState(backend="relief", arrays={}, meta={"format": "relief/1"})
    with pytest.raises(BackendError) as refused:
        wait_backend.extract_glb(relief_state, ExtractParams())
    assert refused.value.code == "validation_error"
    assert ReliefBackend.name != wait_backend.name


def test_the_factory_wraps_it_in_the_latency_profile():
    backend = create_backend("wait", latency_scale=SCALE)
    assert isinstance(backend, LatencyProfileBackend) and isinstance(backend.inner, WaitBackend)
    assert backend.name == "wait"


@pytest.fixture
def wait_app(settings):
    def make(gpu_workers: int):
        return TestClient(build_local_app(settings, create_backend("wait", latency_scale=SCALE),
                                          gpu_workers=gpu_workers), raise_server_exceptions=False)
    return make


def poll(client, job_id):
    for _ in range(1000):
        status = client.get(f"/jobs/{job_id}").json()
        if status["status"] in ("succeeded", "failed"):
            return status
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never finished")


def test_inline_state_round_trips_and_calls_take_the_scaled_a100_time(wait_app):
    with wait_app(1) as client:
        client.headers.update(AUTH)
        assert client.post("/warmup").status_code == 200  # the scaled cold start, paid once
        started = time.monotonic()
        generated = client.post("/generate", json={"image": b64(png_bytes()), "seed": 3})
        generate_took = time.monotonic() - started
        assert generated.status_code == 200, generated.text
        body = generated.json()
        assert base64.b64decode(body["video"])[4:8] == b"ftyp"
        assert body["server_timing"]["backend"] == "wait"
        assert generate_took >= generate_seconds(GenerateParams()) * SCALE

        params = {"decimation_target": 100_000, "texture_size": 1024}
        started = time.monotonic()
        extracted = client.post("/extract_glb", json={"state": body["state"], **params},
                                headers={"Accept": "model/gltf-binary"})
        assert extracted.status_code == 200, extracted.text
        assert time.monotonic() - started >= extract_seconds(ExtractParams(**params)) * SCALE
        assert extracted.content[:4] == b"glTF"
        assert extracted.headers["x-glb-sha256"] == hashlib.sha256(extracted.content).hexdigest()


def test_reference_jobs_run_on_n_containers_side_by_side(wait_app):
    with wait_app(4) as client:
        client.headers.update(AUTH)
        client.post("/warmup")
        generated = poll(client, client.post("/jobs/generate", json={
            "image": b64(png_bytes()), "state_mode": "reference"}).json()["job_id"])
        state_id = generated["result"]["state_id"]
        assert client.get(f"/states/{state_id}/preview.mp4").content[4:8] == b"ftyp"

        quality = {"decimation_target": 1_000_000, "texture_size": 4096}  # 45 s on an A100
        one_call = extract_seconds(ExtractParams(**quality)) * SCALE
        started = time.monotonic()
        jobs = [client.post("/jobs/extract_glb", json={"state_id": state_id, **quality}).json()["job_id"]
                for _ in range(4)]
        statuses = [poll(client, job_id) for job_id in jobs]
        took = time.monotonic() - started
        assert all(status["status"] == "succeeded" for status in statuses), statuses
        assert took < 3 * one_call  # four calls on four containers: about one call's time, not four
        glb = client.get(f"/jobs/{jobs[0]}/result", headers={"Accept": "model/gltf-binary"})
        assert glb.content[:4] == b"glTF"
