"""Every request limit and error code of docs/service-api.md, through the real app."""

import re

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, b64, png_bytes
from trellis2_service import images
from trellis2_service.local import build_local_app


def error_of(response, status, code="validation_error"):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["retryable"], bool)
    assert re.fullmatch(r"req_[0-9a-f]{16}", body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]
    return body["error"]


@pytest.mark.parametrize("field, value, fragment", [
    ("seed", -1, "seed"),
    ("seed", 2**31, "seed"),
    ("seed", "many", "seed"),
    ("pipeline_type", "2048", "pipeline_type"),
    ("pipeline_type", 512, "pipeline_type"),
    ("ss_sampling_steps", 0, "ss_sampling_steps"),
    ("ss_sampling_steps", 101, "ss_sampling_steps"),
    ("shape_slat_sampling_steps", 0, "shape_slat_sampling_steps"),
    ("tex_slat_sampling_steps", 101, "tex_slat_sampling_steps"),
    ("ss_guidance_strength", 20.5, "ss_guidance_strength"),
    ("shape_slat_guidance_strength", -0.1, "shape_slat_guidance_strength"),
    ("tex_slat_guidance_strength", 21, "tex_slat_guidance_strength"),
    ("state_mode", "cloud", "state_mode"),
    ("include_video", "perhaps", "include_video"),
])
def test_generate_fields_out_of_range(client, image_b64, field, value, fragment):
    error = error_of(client.post("/generate", json={"image": image_b64, field: value}), 400)
    assert fragment in error["message"] and not error["retryable"]


def test_generate_boundaries_are_accepted(client, image_b64):
    body = {"image": image_b64, "seed": 2**31 - 1, "pipeline_type": "512", "ss_sampling_steps": 1,
            "ss_guidance_strength": 0, "shape_slat_sampling_steps": 100, "tex_slat_guidance_strength": 20}
    assert client.post("/generate", json=body).status_code == 200


def test_image_is_required(client):
    assert "image" in error_of(client.post("/generate", json={"seed": 1}), 400)["message"]


@pytest.mark.parametrize("image, fragment", [
    ("not base64 at all!", "not valid base64"),
    ("QUJ", "not valid base64"),
    (b64(b"just some text, not an image"), "not a PNG, JPEG or WebP"),
    (b64(png_bytes(fmt="GIF", mode="RGB")), "format GIF is not accepted"),
    (b64(png_bytes()[:60]), "could not be decoded"),
    ("", "is empty"),
])
def test_bad_images(client, image, fragment):
    assert fragment in error_of(client.post("/generate", json={"image": image}), 400)["message"]


@pytest.mark.parametrize("size", [(4097, 8), (8, 4097)])
def test_images_over_4096_px_are_refused(client, size):
    image = b64(png_bytes(size=size, mode="L"))
    assert "at most 4096" in error_of(client.post("/generate", json={"image": image}), 400)["message"]


def test_4096_px_is_accepted(client):
    image = b64(png_bytes(size=(4096, 4), mode="RGB"))
    assert client.post("/generate", json={"image": image, "include_video": False}).status_code == 200


def test_images_over_10_mib_are_refused_before_decoding(client, monkeypatch):
    monkeypatch.setattr(images.base64, "b64decode", lambda *a, **k: pytest.fail("decoded an oversized image"))
    oversized = "A" * (((10 * 1024 * 1024) // 3 + 2) * 4)
    assert "more than" in error_of(client.post("/generate", json={"image": oversized}), 400)["message"]


def test_jpeg_webp_and_data_urls_are_accepted(client):
    for data in (png_bytes(mode="RGB", fmt="JPEG"), png_bytes(fmt="WEBP")):
        assert client.post("/generate", json={"image": b64(data)}).status_code == 200
    data_url = "data:image/png;base64," + b64(png_bytes())
    assert client.post("/generate", json={"image": data_url}).status_code == 200


def test_body_must_be_a_json_object(client):
    error_of(client.post("/generate", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    error_of(client.post("/generate", json=[1, 2]), 400)
    error_of(client.post("/generate"), 400)


@pytest.mark.parametrize("body, fragment", [
    ({"state_id": "st_" + "0" * 32, "decimation_target": 999}, "decimation_target"),
    ({"state_id": "st_" + "0" * 32, "decimation_target": 16_777_217}, "decimation_target"),
    ({"state_id": "st_" + "0" * 32, "texture_size": 3000}, "texture_size"),
    ({"state_id": "st_" + "0" * 32, "remesh_band": 0}, "remesh_band"),
    ({"state_id": "st_" + "0" * 32, "remesh_band": 10.5}, "remesh_band"),
    ({"state_id": "st_" + "0" * 32, "remesh_project": 1.5}, "remesh_project"),
    ({}, "exactly one"),
    ({"state": "AAAA", "state_id": "st_" + "0" * 32}, "exactly one"),
])
def test_extract_fields_out_of_range(client, body, fragment):
    assert fragment in error_of(client.post("/extract_glb", json=body), 400)["message"]


def test_extract_with_an_unknown_state_id_is_404(client):
    error = error_of(client.post("/extract_glb", json={"state_id": "st_" + "a" * 32}), 404, "state_not_found")
    assert not error["retryable"]


def test_unknown_fields_are_ignored(client, image_b64):
    assert client.post("/generate", json={"image": image_b64, "future_option": True}).status_code == 200


def test_unknown_routes_have_the_error_shape(client):
    error_of(client.get("/nowhere"), 404, "not_found")
    error_of(client.get("/generate"), 405, "method_not_allowed")


# --- Body size: refused before any reading or decoding ----------------------------------------------------
@pytest.fixture
def small_client(settings, backend):
    from dataclasses import replace

    with TestClient(build_local_app(replace(settings, max_body_bytes=2048, max_state_body_bytes=8192), backend)) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


def test_413_from_content_length_before_decoding(small_client, monkeypatch):
    monkeypatch.setattr(images, "decode_base64_field", lambda *a, **k: pytest.fail("decoded an oversized body"))
    response = small_client.post("/generate", json={"image": "A" * 4096})
    error = error_of(response, 413, "payload_too_large")
    assert "2048" in error["message"] and not error["retryable"]


def test_extract_routes_take_bodies_up_to_the_state_body_limit(small_client):
    # An inline state sent back (the seed's way) may be far bigger than an image: not refused for size,
    # but checked as a state (this one is no state at all).
    for route in ("/extract_glb", "/jobs/extract_glb"):
        error_of(small_client.post(route, json={"state": "A" * 6000}), 400, "validation_error")
        error = error_of(small_client.post(route, json={"state": "A" * 9000}), 413, "payload_too_large")
        assert "8192" in error["message"]


def test_413_while_streaming_a_body_without_length(small_client, monkeypatch):
    monkeypatch.setattr(images, "decode_base64_field", lambda *a, **k: pytest.fail("decoded an oversized body"))

    def chunks():
        yield b'{"image": "'
        for _ in range(10):
            yield b"A" * 512
        yield b'"}'

    response = small_client.post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    error_of(response, 413, "payload_too_large")


def test_a_body_just_under_the_limit_is_read(small_client):
    error = error_of(small_client.post("/generate", json={"image": "A" * 1000, "seed": -5}), 400)
    assert "seed" in error["message"]
