"""Requests that cannot succeed on the GPU are refused with 400 before any GPU work (issue 15, item 5):
blank or fully transparent images (upstream's preprocess_image fails on them) and sampler steps over the
per-pipeline cap (they would outrun the 600 s GPU timeout)."""

import io

import pytest
from PIL import Image, ImageDraw

from conftest import b64
from test_api_validation import error_of
from trellis2_service import config, images


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def with_block(mode: str, background, block) -> Image.Image:
    image = Image.new(mode, (64, 48), background)
    ImageDraw.Draw(image).rectangle((16, 12, 40, 30), fill=block)
    return image


@pytest.mark.parametrize("image, fragment", [
    (Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "transparent throughout"),
    (Image.new("RGBA", (64, 48), (255, 255, 255, 0)), "transparent throughout"),
    # some alpha, but no pixel above upstream's 0.8 * 255 crop threshold: its bounding box would be empty
    (with_block("RGBA", (10, 10, 10, 0), (200, 30, 30, 200)), "no pixel of the 64x48 is more than 80 % opaque"),
    (with_block("LA", (0, 0), (255, 150)), "transparent throughout"),
    (Image.new("RGB", (64, 48), (255, 255, 255)), "one colour throughout (64x48 px of #ffffff)"),
    (Image.new("RGBA", (64, 48), (12, 34, 56, 255)), "one colour throughout (64x48 px of #0c2238)"),
    (Image.new("L", (64, 48), 0), "one colour throughout"),
    (Image.new("P", (64, 48), 3), "one colour throughout"),
])
def test_blank_and_fully_transparent_images_are_validation_errors(image, fragment):
    with pytest.raises(Exception) as caught:
        images.open_image(encoded(image))
    assert caught.value.code == "validation_error" and fragment in caught.value.message


@pytest.mark.parametrize("image", [
    with_block("RGB", (255, 255, 255), (40, 90, 200)),  # a product on a white background
    with_block("RGBA", (0, 0, 0, 0), (40, 90, 200, 255)),  # a one-colour cut-out: its alpha gives the shape
    with_block("RGBA", (0, 0, 0, 0), (40, 90, 200, 205)),  # just above the 80 % threshold
])
def test_images_with_something_in_them_pass(image):
    assert images.open_image(encoded(image)).size == (64, 48)


def test_a_uniform_jpeg_is_refused_through_the_api_before_the_backend_runs(client, backend):
    body = {"image": b64(encoded(Image.new("RGB", (64, 48), (128, 128, 128)), "JPEG"))}
    error = error_of(client.post("/generate", json=body), 400)
    assert "one colour throughout" in error["message"] and not error["retryable"]
    transparent = {"image": b64(encoded(Image.new("RGBA", (64, 48), (0, 0, 0, 0))))}
    assert "transparent" in error_of(client.post("/generate", json=transparent), 400)["message"]
    assert backend.generate_calls == 0


def test_the_steps_caps_keep_every_pipeline_under_half_the_timeout():
    """The caps against the seed's timings (upper ends at 12 steps per stage, all time charged to steps)."""
    seconds_at_defaults = {"512": 12, "1024": 30, "1024_cascade": 35, "1536_cascade": 100}
    default_steps = config.DEFAULT_SS_STEPS + config.DEFAULT_SHAPE_STEPS + config.DEFAULT_TEX_STEPS
    assert set(config.MAX_STEPS_BY_PIPELINE) == set(config.PIPELINE_TYPES)
    for pipeline, cap in config.MAX_STEPS_BY_PIPELINE.items():
        assert cap <= config.MAX_STEPS
        estimate = seconds_at_defaults[pipeline] * 3 * cap / default_steps
        assert estimate <= config.GPU_TIMEOUT_SECONDS / 2, (pipeline, estimate)
        assert seconds_at_defaults[pipeline] * 3 * (cap + 1) / default_steps > config.GPU_TIMEOUT_SECONDS / 2 \
            or cap == config.MAX_STEPS  # each cap is as high as the margin allows


@pytest.mark.parametrize("field", ["ss_sampling_steps", "shape_slat_sampling_steps", "tex_slat_sampling_steps"])
def test_steps_over_the_pipeline_cap_are_refused_naming_field_and_cap(client, backend, image_b64, field):
    cap = config.MAX_STEPS_BY_PIPELINE["1536_cascade"]
    body = {"image": image_b64, "pipeline_type": "1536_cascade", field: cap + 1}
    error = error_of(client.post("/generate", json=body), 400)
    assert f"{field}: at most {cap} with pipeline_type 1536_cascade" in error["message"]
    assert backend.generate_calls == 0
    body[field] = cap
    assert client.post("/generate", json={**body, "include_video": False}).status_code == 200


def test_the_uncapped_pipelines_keep_the_full_range(client, image_b64):
    body = {"image": image_b64, "pipeline_type": "1024_cascade", "ss_sampling_steps": 100,
            "shape_slat_sampling_steps": 100, "tex_slat_sampling_steps": 100, "include_video": False}
    assert client.post("/generate", json=body).status_code == 200
