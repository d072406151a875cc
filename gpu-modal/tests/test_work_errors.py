"""Backend failures become the API errors of the contract's table; after_call runs after every call."""

import pytest

from fake_backend import backend_error, oom_error
from trellis2_service.errors import error_from_exception, looks_like_cuda_oom
from trellis2_service.work import GpuContainer


@pytest.mark.parametrize("exc, status, code, retryable", [
    (backend_error("generation_error"), 500, "generation_error", True),
    (backend_error("rendering_error"), 500, "rendering_error", True),
    (backend_error("cuda_oom"), 503, "cuda_oom", True),
    (backend_error("not_ready"), 503, "not_ready", True),
    (backend_error("validation_error"), 400, "validation_error", False),
    (oom_error(), 503, "cuda_oom", True),
    (RuntimeError("CUDA error: out of memory"), 503, "cuda_oom", True),
    (KeyError("secret internals"), 500, "generation_error", True),
])
def test_generate_failures_map_to_statuses(client, backend, image_b64, exc, status, code, retryable):
    backend.fail_next = exc
    response = client.post("/generate", json={"image": image_b64})
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["retryable"]) == (code, retryable)
    assert "secret internals" not in error["message"] and "Traceback" not in error["message"]
    assert backend.after_calls == 1  # memory is freed even when the work failed


@pytest.mark.parametrize("exc, status, code", [
    (backend_error("extraction_error"), 500, "extraction_error"),
    (ValueError("boom"), 500, "extraction_error"),
    (oom_error(), 503, "cuda_oom"),
])
def test_extract_failures_map_to_statuses(client, backend, image_b64, exc, status, code):
    state = client.post("/generate", json={"image": image_b64}).json()["state"]
    backend.fail_next = exc
    response = client.post("/extract_glb", json={"state": state})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_backend_that_cannot_load_is_not_ready(client, backend, image_b64, monkeypatch):
    def broken_load():
        raise OSError("weights missing")

    monkeypatch.setattr(backend, "load", broken_load)
    response = client.post("/warmup")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready" and response.json()["error"]["retryable"] is True


def test_retire_reason_reaches_the_caller(settings, backend, image_b64):
    from trellis2_service.store import Store

    backend.retire_reason = "fragmented GPU memory"
    worker = GpuContainer(backend, Store(settings.store_dir, ttl_seconds=3600), settings)
    import base64

    from trellis2_service.work import generate_request

    request = generate_request(base64.b64decode(image_b64), {"seed": 1}, state_mode="inline", render_preview=False)
    result = worker.generate(request, submitted_at=0)
    assert result.ok and result.retire_reason == "fragmented GPU memory"
    backend.fail_next = RuntimeError("x")
    assert worker.generate(request, submitted_at=0).retire_reason == "fragmented GPU memory"


def test_oom_detection_needs_no_torch():
    assert looks_like_cuda_oom(oom_error())
    assert not looks_like_cuda_oom(MemoryError("host RAM"))
    assert error_from_exception(oom_error(), failure_code="extraction_error").status == 503


def test_the_first_warmup_is_a_cold_start_and_says_where_it_ran(client):
    warm = client.post("/warmup").json()
    assert warm["ready"] and warm["cold_start"] is True and warm["load_seconds"] == 0.25
    assert warm["backend"] == "relief" and warm["device"] == "cpu" and warm["container_id"]
    assert warm["server_timing"]["cold_start"] is True


def test_a_call_after_the_warmup_reports_its_timing_and_no_cold_start(client, image_b64):
    client.post("/warmup")
    timing = client.post("/generate", json={"image": image_b64}).json()["server_timing"]
    assert set(timing) == {"compute_seconds", "codec_seconds", "store_seconds", "queue_seconds", "cold_start",
                           "load_seconds", "backend", "device"}
    assert timing["cold_start"] is False and timing["load_seconds"] is None
    assert timing["compute_seconds"] >= 0 and timing["queue_seconds"] >= 0


def test_the_model_is_loaded_once_however_often_it_is_warmed(client, backend):
    assert [client.post("/warmup").json()["cold_start"] for _ in range(2)] == [True, False]
    assert backend.load_calls == 1


def test_modal_reports_the_gpu_by_its_modal_name(settings, backend, image_b64):
    import base64

    from trellis2_service.store import Store
    from trellis2_service.work import generate_request

    worker = GpuContainer(backend, Store(settings.store_dir, ttl_seconds=3600), settings, device_name="A100-80GB")
    assert worker.warmup(submitted_at=0).fields["device"] == "A100-80GB"
    request = generate_request(base64.b64decode(image_b64), {}, state_mode="inline", render_preview=False)
    assert worker.generate(request, submitted_at=0).server_timing["device"] == "A100-80GB"
