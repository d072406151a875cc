"""A client written for the seed's API works unchanged."""

import base64
import hashlib
import re

from fake_backend import FAKE_MP4

SEED_GENERATE_FIELDS = {
    "seed": 42, "pipeline_type": "1024_cascade", "ss_sampling_steps": 12, "ss_guidance_strength": 7.5,
    "shape_slat_sampling_steps": 12, "shape_slat_guidance_strength": 7.5, "tex_slat_sampling_steps": 12,
    "tex_slat_guidance_strength": 1.0,
}
SEED_EXTRACT_FIELDS = {"decimation_target": 500000, "texture_size": 2048, "remesh": True, "remesh_band": 1.0,
                       "remesh_project": 0.0}


def test_seed_requests_get_seed_answers(client, image_b64):
    generated = client.post("/generate", json={"image": image_b64, **SEED_GENERATE_FIELDS})
    assert generated.status_code == 200
    body = generated.json()
    assert {"state", "video", "request_id"} <= set(body)
    assert re.fullmatch(r"req_[0-9a-f]{16}", body["request_id"])
    assert base64.b64decode(body["video"]) == FAKE_MP4

    extracted = client.post("/extract_glb", json={"state": body["state"], **SEED_EXTRACT_FIELDS})
    assert extracted.status_code == 200
    glb = base64.b64decode(extracted.json()["glb"])
    assert glb[:4] == b"glTF" and extracted.json()["glb_sha256"] == hashlib.sha256(glb).hexdigest()
    assert extracted.json()["glb_bytes"] == len(glb)


def test_only_the_image_is_needed(client, backend, image_b64):
    body = client.post("/generate", json={"image": image_b64}).json()
    assert body["state"] and body["video"] and body["state_id"] is None and body["state_expires_at"] is None
    glb = client.post("/extract_glb", json={"state": body["state"]}).json()
    assert glb["glb"] and glb["server_timing"]["backend"] == "relief"


def test_reference_mode_and_preview(client, image_b64):
    body = client.post("/generate", json={"image": image_b64, "state_mode": "reference", "include_video": False}).json()
    assert body["state"] is None and body["video"] is None and body["video_bytes"] == len(FAKE_MP4)
    assert re.fullmatch(r"st_[0-9a-f]{32}", body["state_id"]) and body["state_expires_at"].endswith("Z")
    preview = client.get(f"/states/{body['state_id']}/preview.mp4")
    assert preview.status_code == 200 and preview.content == FAKE_MP4
    assert preview.headers["content-type"] == "video/mp4" and preview.headers["x-request-id"].startswith("req_")
    assert '"compute_seconds"' in preview.headers["x-server-timing"]
    raw = client.post("/extract_glb", json={"state_id": body["state_id"]}, headers={"Accept": "model/gltf-binary"})
    assert raw.content[:4] == b"glTF" and raw.headers["x-glb-sha256"] == hashlib.sha256(raw.content).hexdigest()
    assert '"backend":"relief"' in raw.headers["x-server-timing"]


def test_inline_without_video_skips_the_preview(client, backend, image_b64):
    body = client.post("/generate", json={"image": image_b64, "include_video": False}).json()
    assert body["video"] is None and body["video_bytes"] == 0 and body["state"]


def test_unknown_preview_is_404(client):
    response = client.get("/states/st_" + "9" * 32 + "/preview.mp4")
    assert response.status_code == 404 and response.json()["error"]["code"] == "state_not_found"
