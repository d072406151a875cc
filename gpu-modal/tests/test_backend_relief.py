"""The relief backend end to end: image -> state + MP4 -> GLB, checked by an independent GLB reader."""

from __future__ import annotations

import io
import json
import struct
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends import create_backend  # noqa: E402
from trellis2_service.backends.base import BackendError, ExtractParams, GenerateParams, GenerationState  # noqa: E402
from trellis2_service.backends.relief import PREVIEW_FPS, PREVIEW_FRAMES, PREVIEW_SIZE_PX  # noqa: E402

COMPONENTS = {5120: ("b", 1), 5121: ("B", 1), 5122: ("h", 2), 5123: ("H", 2), 5125: ("I", 4), 5126: ("f", 4)}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """Parse a GLB by the spec (not with the writer's code): header, JSON chunk, BIN chunk."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    bin_offset = 20 + json_length
    bin_length, bin_type = struct.unpack_from("<II", data, bin_offset)
    assert bin_type == 0x004E4942 and bin_length % 4 == 0
    assert bin_offset + 8 + bin_length == len(data)
    assert document["buffers"] == [{"byteLength": bin_length}]
    return document, data[bin_offset + 8 :]


def accessor_array(document: dict, binary: bytes, index: int) -> np.ndarray:
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    code, size = COMPONENTS[accessor["componentType"]]
    width = WIDTHS[accessor["type"]]
    offset = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    assert offset % size == 0, "accessor data must be aligned to its component size"
    assert accessor["count"] * width * size <= view["byteLength"]
    values = np.frombuffer(binary, dtype=np.dtype(code).newbyteorder("<"), count=accessor["count"] * width, offset=offset)
    return values.reshape(accessor["count"], width)


def embedded_texture(document: dict, binary: bytes) -> Image.Image:
    material = document["materials"][0]
    texture = document["textures"][material["pbrMetallicRoughness"]["baseColorTexture"]["index"]]
    image = document["images"][texture["source"]]
    assert image["mimeType"] == "image/png"
    view = document["bufferViews"][image["bufferView"]]
    start = view.get("byteOffset", 0)
    return Image.open(io.BytesIO(binary[start : start + view["byteLength"]]))


def mesh_of(glb: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    document, binary = read_glb(glb)
    primitive = document["meshes"][0]["primitives"][0]
    attributes = primitive["attributes"]
    positions = accessor_array(document, binary, attributes["POSITION"])
    normals = accessor_array(document, binary, attributes["NORMAL"])
    uvs = accessor_array(document, binary, attributes["TEXCOORD_0"])
    faces = accessor_array(document, binary, primitive["indices"]).reshape(-1, 3)
    return positions, normals, uvs, faces, document


def disc_image(background: tuple[int, int, int, int], size: int = 512) -> Image.Image:
    image = Image.new("RGBA", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((96, 96, 416, 416), fill=(210, 30, 30, 255))
    draw.rectangle((220, 200, 300, 260), fill=(30, 160, 60, 255))  # detail inside, same silhouette
    return image


@pytest.fixture(scope="module")
def backend():
    relief = create_backend("relief")
    info = relief.load()
    assert (info.backend, info.device, info.cold_start) == ("relief", "cpu", True)
    assert relief.load().cold_start is False
    return relief


@pytest.fixture(scope="module")
def disc_state(backend) -> GenerationState:
    return backend.generate(disc_image((255, 255, 255, 255)).convert("RGB"), GenerateParams(render_preview=False)).state


@pytest.mark.parametrize("decimation_target", [1_000, 5_000, 20_000, 100_000])
def test_glb_respects_the_triangle_budget_and_uses_most_of_it(backend, disc_state, decimation_target):
    positions, normals, uvs, faces, document = mesh_of(
        backend.extract_glb(disc_state, ExtractParams(decimation_target=decimation_target, texture_size=512))
    )
    assert len(faces) <= decimation_target
    assert len(faces) >= 0.8 * decimation_target  # the full mesh has more triangles than any of these
    assert faces.max() < len(positions) and len(positions) == len(normals) == len(uvs)


def test_glb_caps_at_the_full_mesh_when_the_budget_is_larger(backend, disc_state):
    _, _, _, small, _ = mesh_of(backend.extract_glb(disc_state, ExtractParams(decimation_target=10_000_000, texture_size=512)))
    _, _, _, default, _ = mesh_of(backend.extract_glb(disc_state, ExtractParams(texture_size=512)))
    assert len(small) == len(default) < 1_000_000


@pytest.mark.parametrize("texture_size", [512, 1024])
def test_texture_is_an_exact_square_png_of_the_requested_size(backend, disc_state, texture_size):
    document, binary = read_glb(backend.extract_glb(disc_state, ExtractParams(decimation_target=2_000, texture_size=texture_size)))
    texture = embedded_texture(document, binary)
    assert texture.format == "PNG" and texture.size == (texture_size, texture_size)
    pixels = np.asarray(texture.convert("RGB"))
    upper_middle, corner = pixels[texture_size // 4, texture_size // 2], pixels[2, 2]
    assert upper_middle[0] > 150 and upper_middle[1] < 80  # the disc's red
    # Outside the disc the texture repeats the nearest object colour instead of the white background,
    # so filtering at the silhouette shows no halo.
    assert corner[1] < 100 and corner[2] < 100


@pytest.fixture(scope="module")
def disc_mesh(backend, disc_state):
    """The disc's GLB as arrays: positions, normals, uvs, faces, and its JSON document."""
    return mesh_of(backend.extract_glb(disc_state, ExtractParams(decimation_target=20_000, texture_size=512)))


def test_glb_position_accessor_bounds_match_the_positions(disc_mesh):
    positions, _normals, _uvs, _faces, document = disc_mesh
    position_accessor = document["accessors"][document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert position_accessor["min"] == positions.min(axis=0).tolist()
    assert position_accessor["max"] == positions.max(axis=0).tolist()


def test_glb_normals_are_unit_length(disc_mesh):
    _positions, normals, *_ = disc_mesh
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)


def test_glb_fits_the_unit_cube_centred(disc_mesh):
    positions = disc_mesh[0]
    assert positions.min() >= -0.5 and positions.max() <= 0.5
    assert np.allclose((positions.min(axis=0) + positions.max(axis=0)) / 2, 0.0, atol=0.02)


def test_glb_is_a_relief_thinner_than_it_is_wide(disc_mesh):
    positions = disc_mesh[0]
    assert np.ptp(positions[:, 2]) < np.ptp(positions[:, 0])


def test_glb_uvs_stay_in_the_texture(disc_mesh):
    uvs = disc_mesh[2]
    assert uvs.min() >= 0.0 and uvs.max() <= 1.0


def test_glb_buffer_views_are_4_byte_aligned(disc_mesh):
    document = disc_mesh[4]
    assert [view.get("byteOffset", 0) % 4 for view in document["bufferViews"]] == [0] * len(document["bufferViews"])


def test_glb_is_closed_and_consistently_wound(disc_mesh):
    # Every directed edge occurs once and its reverse once, so each edge joins exactly two triangles that
    # agree on which side is outside (no cracks between caps and walls).
    positions, _normals, _uvs, faces, _document = disc_mesh
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    keys = directed[:, 0] * len(positions) + directed[:, 1]
    reverse = directed[:, 1] * len(positions) + directed[:, 0]
    assert len(np.unique(keys)) == len(keys) and np.isin(reverse, keys).all()


def test_glb_faces_wind_counter_clockwise_seen_from_outside(disc_mesh):
    # The enclosed volume (divergence theorem) is positive.
    positions, _normals, _uvs, faces, _document = disc_mesh
    corners = positions[faces.astype(np.int64)].astype(np.float64)
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0
    assert volume > 0


def test_glb_uses_everything_it_declares(disc_mesh):
    # Every material, texture, sampler, image, accessor and buffer view is used (the validator warns otherwise).
    document = disc_mesh[4]
    assert len(document["accessors"]) == 4 and len(document["bufferViews"]) == 5
    assert len(document["materials"]) == len(document["textures"]) == len(document["images"]) == len(document["samplers"]) == 1


def footprint(backend, image: Image.Image) -> np.ndarray:
    state = backend.generate(image, GenerateParams(render_preview=False)).state
    positions, _, _, _, _ = mesh_of(backend.extract_glb(state, ExtractParams(decimation_target=50_000, texture_size=512)))
    return positions[:, :2]


def assert_round(points: np.ndarray) -> None:
    half_extent = np.ptp(points, axis=0) / 2
    assert abs(half_extent[0] - half_extent[1]) < 0.01
    radius = np.linalg.norm(points - (points.min(axis=0) + points.max(axis=0)) / 2, axis=1)
    # A square footprint reaches sqrt(2) times its half-extent at the corners; a disc never passes it.
    assert radius.max() < 1.02 * half_extent.max(), "a disc must give a round footprint, not a square one"


def test_foreground_from_the_border_colour_is_the_disc(backend):
    assert_round(footprint(backend, disc_image((255, 255, 255, 255)).convert("RGB")))


def test_foreground_from_alpha_is_the_disc_even_when_the_colour_matches_the_background(backend):
    image = disc_image((0, 0, 0, 0))
    pixels = np.asarray(image).copy()
    pixels[..., :3] = np.where(pixels[..., 3:] == 0, (210, 30, 30), pixels[..., :3])  # red under the transparency too
    points = footprint(backend, Image.fromarray(pixels, "RGBA"))
    assert_round(points)
    assert np.allclose(points.min(axis=0), footprint(backend, disc_image((255, 255, 255, 255))).min(axis=0), atol=0.02)


def test_colour_hidden_under_transparency_does_not_darken_the_edge(backend):
    image = Image.new("RGBA", (1024, 1024), (0, 0, 0, 0))  # transparent black around the object
    ImageDraw.Draw(image).ellipse((80, 80, 940, 940), fill=(210, 30, 30, 255))
    # Pipeline 512 caps the texture at 512 px, so edge texels blend object and transparent pixels.
    texture = backend.generate(image, GenerateParams(pipeline_type="512", render_preview=False)).state.arrays["texture"]
    assert max(texture.shape[:2]) == 512
    assert texture[..., 0].min() > 190  # every texel, edge and filled background alike, stays red


def test_state_holds_only_numeric_arrays_and_json_meta(disc_state):
    assert disc_state.backend == "relief"
    assert set(disc_state.arrays) == {"mask", "texture"}
    for array in disc_state.arrays.values():
        assert isinstance(array, np.ndarray) and array.dtype.kind in "uif"
    assert disc_state.arrays["texture"].shape[2] == 3
    assert json.loads(json.dumps(disc_state.meta)) == disc_state.meta
    assert disc_state.meta["mask_source"] == "border_colour"


def test_same_seed_gives_identical_state_and_glb_and_other_seeds_differ(backend):
    image = disc_image((255, 255, 255, 255))
    params = ExtractParams(decimation_target=10_000, texture_size=512)

    def run(seed: int):
        state = backend.generate(image, GenerateParams(seed=seed, render_preview=False)).state
        return state, backend.extract_glb(state, params)

    (first, first_glb), (again, again_glb), (other, other_glb) = run(7), run(7), run(8)
    assert first.meta == again.meta
    assert all(np.array_equal(first.arrays[name], again.arrays[name]) for name in first.arrays)
    assert first_glb == again_glb
    assert other_glb != first_glb and other.meta["half_thickness"] != first.meta["half_thickness"]


def test_extract_accepts_read_only_arrays_as_decoded_states_are(backend, disc_state):
    frozen = {name: array.copy() for name, array in disc_state.arrays.items()}
    for array in frozen.values():
        array.setflags(write=False)
    copy = GenerationState(backend=disc_state.backend, arrays=frozen, meta=dict(disc_state.meta))
    params = ExtractParams(decimation_target=3_000, texture_size=512)
    assert backend.extract_glb(copy, params) == backend.extract_glb(disc_state, params)


def test_preview_is_an_h264_mp4_of_the_stated_frames(backend):
    output = backend.generate(disc_image((255, 255, 255, 255)), GenerateParams(pipeline_type="512"))
    assert output.preview_mp4[4:8] == b"ftyp"
    with av.open(io.BytesIO(output.preview_mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == PREVIEW_FPS
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(frames) == PREVIEW_FRAMES
    assert all(frame.shape == (PREVIEW_SIZE_PX, PREVIEW_SIZE_PX, 3) for frame in frames)
    first, quarter = frames[0], frames[PREVIEW_FRAMES // 4]
    centre = first[PREVIEW_SIZE_PX // 2 - 40, PREVIEW_SIZE_PX // 2]
    assert centre[0] > 100 and centre[0] > 2 * centre[2]  # the red disc faces the camera in frame 0
    red = lambda frame: np.count_nonzero((frame[..., 0] > 90) & (frame[..., 0] > 2 * frame[..., 2]))  # noqa: E731
    assert red(quarter) < 0.4 * red(first)  # a quarter turn later it is seen edge on


def test_no_preview_when_not_asked(backend):
    assert backend.generate(disc_image((255, 255, 255, 255)), GenerateParams(render_preview=False)).preview_mp4 is None


def test_uniform_image_becomes_a_whole_picture_tile(backend):
    state = backend.generate(Image.new("RGB", (300, 200), (40, 90, 200)), GenerateParams(render_preview=False)).state
    assert state.meta["mask_source"] == "whole_image" and state.arrays["mask"].all()
    positions, *_ = mesh_of(backend.extract_glb(state, ExtractParams(decimation_target=1_000, texture_size=512)))
    assert np.ptp(positions[:, 0]) == pytest.approx(0.9, abs=0.01) and np.ptp(positions[:, 1]) == pytest.approx(0.6, abs=0.01)


def test_foreign_or_damaged_states_are_validation_errors(backend, disc_state):
    params = ExtractParams(decimation_target=1_000, texture_size=512)
    foreign = GenerationState(backend="trellis2", arrays=disc_state.arrays, meta=disc_state.meta)
    no_mask = GenerationState(backend="relief", arrays={"texture": disc_state.arrays["texture"]}, meta=disc_state.meta)
    huge = GenerationState(backend="relief", arrays=disc_state.arrays, meta={**disc_state.meta, "width": 50.0})
    for state in (foreign, no_mask, huge):
        with pytest.raises(BackendError) as caught:
            backend.extract_glb(state, params)
        assert caught.value.code == "validation_error" and caught.value.retryable is False


def test_unknown_pipeline_type_is_refused(backend):
    with pytest.raises(BackendError) as caught:
        backend.generate(disc_image((255, 255, 255, 255)), GenerateParams(pipeline_type="2048"))
    assert caught.value.code == "validation_error"
