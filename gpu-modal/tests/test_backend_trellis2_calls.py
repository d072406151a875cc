"""How the TRELLIS.2 backend drives the upstream API, with stand-ins for torch, trellis2, CuMesh, nvdiffrast,
FlexGEMM and the GPU half of the GLB extraction at the GPU edge: low_vram is switched off before .cuda(), the
preview renders at 512 px (passed explicitly) on the reserved cores, the chosen background-removal weights
replace pipeline.json's, several presets share one upload and one head, the export passes extension_webp.
The stand-ins record calls; the encoding, state and plan code are real (the CPU tail is replaced here because
this venv has no OpenCV; tests_gpu_parity runs it for real)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from trellis2_service.backends import trellis2 as backend_module
from trellis2_service.backends.base import ExtractParams, GenerateParams
from trellis2_service.backends.trellis2 import Trellis2Backend
from test_backend_trellis2 import FakeMeshWithVoxel

CALLS: list[tuple] = []


class FakePipeline:
    low_vram = True  # upstream's from_pretrained default

    @staticmethod
    def from_pretrained(model_id):
        CALLS.append(("from_pretrained", model_id))
        pipeline = FakePipeline()
        # as upstream: getattr(rembg, args['rembg_model']['name'])(**args['rembg_model']['args'])
        pipeline.rembg_model = getattr(PIPELINE_MODULE.rembg, "BiRefNet")(model_name="briaai/RMBG-2.0")
        return pipeline

    def cuda(self):
        CALLS.append(("cuda", self.low_vram))

    def run(self, image, **kwargs):
        CALLS.append(("run", kwargs["pipeline_type"], kwargs["seed"]))
        mesh = FakeMeshWithVoxel()
        mesh.simplify = lambda limit: CALLS.append(("simplify", limit))
        return [mesh]


def render_video(mesh, resolution=1024, num_frames=120, envmap=None, **kwargs):
    CALLS.append(("render_video", resolution, num_frames))
    return {"frames": num_frames, "resolution": resolution}


def make_pbr_vis_frames(result, resolution=1024):
    CALLS.append(("make_pbr_vis_frames", resolution))
    return [np.full((resolution * 3 // 2, resolution * 2, 3), 7 * i, np.uint8) for i in range(result["frames"])]


class FakeScene:
    def export(self, buffer, file_type, extension_webp=False):
        CALLS.append(("export", file_type, extension_webp))
        buffer.write(b"glTF fake")


class FakeBiRefNet:
    def __init__(self, model_name="ZhengPeng7/BiRefNet"):
        CALLS.append(("rembg", model_name))
        self.model_name = model_name


PIPELINE_MODULE = types.ModuleType("trellis2.pipelines.trellis2_image_to_3d")
PIPELINE_MODULE.rembg = types.SimpleNamespace(BiRefNet=FakeBiRefNet)
UPSTREAM_REMBG = PIPELINE_MODULE.rembg


class FakeGlbSteps:
    """The GPU half of the extraction (torch, CuMesh, nvdiffrast, FlexGEMM): records what runs on the GPU."""

    def __init__(self, torch, cumesh, nvdiffrast, grid_sample_3d):
        CALLS.append(("glb steps", cumesh.name, nvdiffrast.name, grid_sample_3d.__name__))

    def upload(self, inputs):
        CALLS.append(("upload", inputs.faces.shape[0]))
        return "uploaded"

    def head(self, uploaded, key):
        CALLS.append(("head", uploaded, key.remesh))
        return "head"

    def bake(self, head, decimation_target, texture_size):
        CALLS.append(("bake", head, decimation_target, texture_size))
        return (decimation_target, texture_size)


def fake_finish_glb(baked, extension_webp, *, threads):
    CALLS.append(("finish", baked, extension_webp, threads))
    return b"glTF %d %d" % baked


class FakeTensor:
    def __init__(self, array):
        self.array = array

    def to(self, device):
        return self


@pytest.fixture
def gpu_edge(monkeypatch):
    CALLS.clear()
    cuda = types.SimpleNamespace(
        is_available=lambda: True, empty_cache=lambda: None, memory_allocated=lambda: 1, memory_reserved=lambda: 2,
        get_device_properties=lambda index: types.SimpleNamespace(name="NVIDIA A100-SXM4-80GB", total_memory=80 * 1024**3))
    torch = types.SimpleNamespace(cuda=cuda, float32="float32", tensor=lambda data, **kw: FakeTensor(data),
                                  from_numpy=FakeTensor)
    modules = {
        "torch": torch,
        "trellis2": types.ModuleType("trellis2"),
        "trellis2.pipelines": types.SimpleNamespace(Trellis2ImageTo3DPipeline=FakePipeline),
        "trellis2.renderers": types.SimpleNamespace(EnvMap=lambda tensor: ("envmap", tensor)),
        "trellis2.utils": types.SimpleNamespace(render_utils=types.SimpleNamespace(
            render_video=render_video, make_pbr_vis_frames=make_pbr_vis_frames)),
        "o_voxel": types.ModuleType("o_voxel"),
        "trellis2.pipelines.trellis2_image_to_3d": PIPELINE_MODULE,
        "o_voxel.postprocess": types.SimpleNamespace(),
        "cumesh": types.SimpleNamespace(name="cumesh"),
        "nvdiffrast": types.ModuleType("nvdiffrast"),
        "nvdiffrast.torch": types.SimpleNamespace(name="nvdiffrast.torch"),
        "flex_gemm": types.ModuleType("flex_gemm"),
        "flex_gemm.ops": types.ModuleType("flex_gemm.ops"),
        "flex_gemm.ops.grid_sample": types.SimpleNamespace(grid_sample_3d=lambda *a, **k: None),
    }
    modules["trellis2"].pipelines = modules["trellis2.pipelines"]
    modules["trellis2.pipelines"].trellis2_image_to_3d = PIPELINE_MODULE
    modules["nvdiffrast"].torch = modules["nvdiffrast.torch"]
    modules["o_voxel"].postprocess = modules["o_voxel.postprocess"]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backend_module, "read_hdri_rgb", lambda path: np.ones((4, 8, 3), np.float32))
    monkeypatch.setattr(backend_module, "GpuGlbSteps", FakeGlbSteps)
    monkeypatch.setattr(backend_module, "finish_glb", fake_finish_glb)
    monkeypatch.setattr(backend_module, "encode_preview_mp4", recording_encoder)
    for name in ("TRELLIS2_REMBG_MODEL", "TRELLIS2_GPU_CPU"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRELLIS2_LOW_VRAM", raising=False)
    monkeypatch.delenv("TRELLIS2_PREVIEW_RESOLUTION", raising=False)


def recording_encoder(frames, *, threads):
    from trellis2_service.backends.trellis2_io import encode_preview_mp4

    CALLS.append(("encode", threads))
    return encode_preview_mp4(frames, threads=threads)


def test_models_stay_resident_and_the_preview_renders_at_512(gpu_edge):
    from PIL import Image

    backend = Trellis2Backend(preview_frames=6)
    info = backend.load()
    assert info.device == "A100-80GB"
    assert [call for call in CALLS if call[0] in ("from_pretrained", "cuda")] == [
        ("from_pretrained", "microsoft/TRELLIS.2-4B"), ("cuda", False)]  # low_vram off first
    output = backend.generate(Image.new("RGBA", (32, 32)), GenerateParams(pipeline_type="512", seed=3))
    assert ("render_video", 512, 6) in CALLS and ("make_pbr_vis_frames", 512) in CALLS
    assert ("encode", 4) in CALLS  # the MP4 encoder on the 4 reserved cores, not 1 thread
    assert output.preview_mp4[4:8] == b"ftyp" and output.state.backend == "trellis2"
    glb = backend.extract_glb(output.state, ExtractParams(texture_size=1024, decimation_target=5000, extension_webp=True))
    assert glb == b"glTF 5000 1024" and CALLS[-1] == ("finish", (5000, 1024), True, 4)
    backend.extract_glb(output.state, ExtractParams(texture_size=512))
    assert CALLS[-1][2] is False  # PNG unless asked


def test_all_presets_of_a_state_share_one_upload_and_one_head(gpu_edge):
    from PIL import Image

    backend = Trellis2Backend(preview_frames=2)
    state = backend.generate(Image.new("RGBA", (32, 32)), GenerateParams(render_preview=False)).state
    CALLS.clear()
    presets = [ExtractParams(decimation_target=100_000, texture_size=1024),
               ExtractParams(decimation_target=500_000, texture_size=2048),
               ExtractParams(decimation_target=1_000_000, texture_size=4096, extension_webp=True),
               ExtractParams(decimation_target=200_000, texture_size=1024, remesh=False)]
    glbs = backend.extract_glbs(state, presets)
    assert glbs == [b"glTF 100000 1024", b"glTF 500000 2048", b"glTF 1000000 4096", b"glTF 200000 1024"]
    gpu = [call for call in CALLS if call[0] in ("upload", "head", "bake")]
    assert gpu == [("upload", 80), ("head", "uploaded", True), ("bake", "head", 1_000_000, 4096),
                   ("bake", "head", 500_000, 2048), ("bake", "head", 100_000, 1024),
                   ("head", "uploaded", False), ("bake", "head", 200_000, 1024)]


def test_the_chosen_background_removal_weights_replace_pipeline_json(gpu_edge, monkeypatch):
    monkeypatch.setenv("TRELLIS2_REMBG_MODEL", "ZhengPeng7/BiRefNet")
    backend = Trellis2Backend()
    backend.load()
    assert ("rembg", "ZhengPeng7/BiRefNet") in CALLS and ("rembg", "briaai/RMBG-2.0") not in CALLS
    assert backend._pipeline.rembg_model.model_name == "ZhengPeng7/BiRefNet"
    assert backend.rembg_model == "ZhengPeng7/BiRefNet" and backend.rembg_model_configured == "briaai/RMBG-2.0"
    assert PIPELINE_MODULE.rembg is UPSTREAM_REMBG  # upstream's module is put back after loading


def test_the_default_background_removal_is_upstreams(gpu_edge):
    backend = Trellis2Backend()
    backend.load()
    assert ("rembg", "briaai/RMBG-2.0") in CALLS and backend.rembg_model == "briaai/RMBG-2.0"


def test_low_vram_and_preview_size_come_from_the_environment(gpu_edge, monkeypatch):
    monkeypatch.setenv("TRELLIS2_LOW_VRAM", "1")
    monkeypatch.setenv("TRELLIS2_PREVIEW_RESOLUTION", "1024")
    backend = Trellis2Backend()
    backend.load()
    assert ("cuda", True) in CALLS and backend.preview_resolution == 1024 and backend.preview_frames == 120
