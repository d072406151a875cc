"""How the TRELLIS.2 backend drives the upstream API, with stand-ins for torch, trellis2 and o_voxel at the
GPU edge: low_vram is switched off before .cuda(), the preview renders at 512 px (passed explicitly), the
export passes extension_webp. The stand-ins record calls; the encoding and state code are real."""

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
        return FakePipeline()

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


def to_glb(**kwargs):
    CALLS.append(("to_glb", kwargs["texture_size"], kwargs["decimation_target"]))
    return FakeScene()


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
        "o_voxel.postprocess": types.SimpleNamespace(to_glb=to_glb),
    }
    modules["o_voxel"].postprocess = modules["o_voxel.postprocess"]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backend_module, "read_hdri_rgb", lambda path: np.ones((4, 8, 3), np.float32))
    monkeypatch.delenv("TRELLIS2_LOW_VRAM", raising=False)
    monkeypatch.delenv("TRELLIS2_PREVIEW_RESOLUTION", raising=False)


def test_models_stay_resident_and_the_preview_renders_at_512(gpu_edge):
    from PIL import Image

    backend = Trellis2Backend(preview_frames=6)
    info = backend.load()
    assert info.device == "A100-80GB"
    assert CALLS[:2] == [("from_pretrained", "microsoft/TRELLIS.2-4B"), ("cuda", False)]  # low_vram off first
    output = backend.generate(Image.new("RGBA", (32, 32)), GenerateParams(pipeline_type="512", seed=3))
    assert ("render_video", 512, 6) in CALLS and ("make_pbr_vis_frames", 512) in CALLS
    assert output.preview_mp4[4:8] == b"ftyp" and output.state.backend == "trellis2"
    glb = backend.extract_glb(output.state, ExtractParams(texture_size=1024, decimation_target=5000, extension_webp=True))
    assert glb == b"glTF fake" and CALLS[-2:] == [("to_glb", 1024, 5000), ("export", "glb", True)]
    backend.extract_glb(output.state, ExtractParams(texture_size=512))
    assert CALLS[-1] == ("export", "glb", False)  # PNG unless asked


def test_low_vram_and_preview_size_come_from_the_environment(gpu_edge, monkeypatch):
    monkeypatch.setenv("TRELLIS2_LOW_VRAM", "1")
    monkeypatch.setenv("TRELLIS2_PREVIEW_RESOLUTION", "1024")
    backend = Trellis2Backend()
    backend.load()
    assert ("cuda", True) in CALLS and backend.preview_resolution == 1024 and backend.preview_frames == 120
