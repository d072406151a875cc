"""The plan of a multi-preset extraction (trellis2_glb.extract_presets), offline: a stand-in for the GPU half
(torch / CuMesh / nvdiffrast, the true edge) records what runs; the plan, the grouping, the order and the
overlap of CPU tails with GPU work are the real code. The CPU tail itself runs in tests_gpu_parity/."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from trellis2_service.backends.base import ExtractParams
from trellis2_service.backends.trellis2_glb import HeadKey, extract_presets, extraction_plan, to_gltf_axes

FAST = ExtractParams(decimation_target=100_000, texture_size=1024)
BALANCED = ExtractParams(decimation_target=500_000, texture_size=2048)
QUALITY = ExtractParams(decimation_target=1_000_000, texture_size=4096)


class RecordingSteps:
    def __init__(self, on_bake=None):
        self.calls = []
        self.on_bake = on_bake or (lambda count: None)

    def upload(self, inputs):
        self.calls.append(("upload",))
        return "state on the GPU"

    def head(self, uploaded, key):
        self.calls.append(("head", key))
        return key

    def bake(self, head, decimation_target, texture_size):
        self.calls.append(("bake", head, decimation_target, texture_size))
        self.on_bake(sum(1 for call in self.calls if call[0] == "bake"))
        return (decimation_target, texture_size)


def test_presets_with_the_same_remesh_settings_share_one_head():
    assert HeadKey.of(FAST) == HeadKey.of(QUALITY) == HeadKey(True, 1.0, 0.0)
    assert HeadKey.of(ExtractParams(remesh=False, remesh_band=3.0)) == HeadKey.of(ExtractParams(remesh=False))
    plan = extraction_plan([FAST, BALANCED, QUALITY, ExtractParams(remesh_band=2.0), ExtractParams(remesh=False)])
    assert plan == [(HeadKey(True, 1.0, 0.0), [2, 1, 0]), (HeadKey(True, 2.0, 0.0), [3]),
                    (HeadKey(False, None, None), [4])]


def test_one_upload_one_head_per_group_and_answers_in_the_order_asked():
    steps = RecordingSteps()
    with ThreadPoolExecutor(2) as pool:
        glbs = extract_presets(steps, inputs=None, params=[FAST, BALANCED, QUALITY, ExtractParams(remesh=False)],
                               finish=lambda baked, webp: b"glb %d %d" % baked, submit=pool.submit)
    assert glbs == [b"glb 100000 1024", b"glb 500000 2048", b"glb 1000000 4096", b"glb 1000000 4096"]
    assert [call[0] for call in steps.calls] == ["upload", "head", "bake", "bake", "bake", "head", "bake"]
    assert [call[3] for call in steps.calls if call[0] == "bake"] == [4096, 2048, 1024, 4096]
    assert extract_presets(steps, None, [], finish=None, submit=None) == []


def test_a_cpu_tail_runs_while_the_gpu_bakes_the_next_preset():
    """The quality tail waits for the balanced bake to start; run one after the other it would wait in vain."""
    second_bake_started = threading.Event()
    overlapped = []

    def finish(baked, webp):
        if baked == (1_000_000, 4096):
            overlapped.append(second_bake_started.wait(timeout=10))
        return b"glb"

    steps = RecordingSteps(on_bake=lambda count: second_bake_started.set() if count == 2 else None)
    with ThreadPoolExecutor(2) as pool:
        extract_presets(steps, None, [FAST, BALANCED, QUALITY], finish=finish, submit=pool.submit)
    assert overlapped == [True]


def test_a_failing_tail_fails_the_call_and_the_extension_flag_reaches_the_tail():
    seen = []

    def finish(baked, webp):
        seen.append((baked[1], webp))
        if baked[1] == 1024:
            raise RuntimeError("inpaint failed")
        return b"glb"

    with ThreadPoolExecutor(1) as pool, pytest.raises(RuntimeError, match="inpaint failed"):
        extract_presets(RecordingSteps(), None, [FAST, ExtractParams(texture_size=2048, extension_webp=True)],
                        finish=finish, submit=pool.submit)
    assert sorted(seen) == [(1024, False), (2048, True)]


def test_a_failing_bake_cancels_the_tails_not_yet_started():
    started = []

    def bake_fails_on_the_second(count):
        if count == 2:
            raise RuntimeError("CUDA error")

    block = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(block.wait, 10)  # the pool is busy, so the first tail is still queued when the bake fails
        with pytest.raises(RuntimeError, match="CUDA error"):
            extract_presets(RecordingSteps(on_bake=bake_fails_on_the_second), None, [QUALITY, FAST],
                            finish=lambda baked, webp: started.append(baked), submit=pool.submit)
        block.set()
    assert started == []


def test_gltf_axes_are_upstreams():
    vertices = np.array([[1.0, 2.0, 3.0]], np.float32)
    normals = np.array([[0.0, 1.0, 0.0]], np.float32)
    uvs = np.array([[0.25, 0.1]], np.float32)
    moved, turned, flipped = to_gltf_axes(vertices, normals, uvs)
    assert moved.tolist() == [[1.0, 3.0, -2.0]] and turned.tolist() == [[0.0, 0.0, -1.0]]
    assert np.allclose(flipped, [[0.25, 0.9]]) and uvs[0, 1] == np.float32(0.1)  # the input is not changed


class Tensor(np.ndarray):
    """Just enough of a torch tensor (numpy underneath) for GpuGlbSteps.upload and .head."""

    def cuda(self):
        return self

    def int(self):
        return self.astype(np.int32).view(Tensor)

    def round(self):
        return np.round(self).view(Tensor)

    def mean(self, dim=None, **kwargs):
        return np.asarray(self).mean(axis=dim).view(Tensor)


class TorchStandIn:
    float32 = np.float32

    @staticmethod
    def from_numpy(array):
        return np.asarray(array).view(Tensor)

    @staticmethod
    def tensor(data, dtype=None, device=None):
        return np.asarray(data, dtype=dtype).view(Tensor)


class CuMeshStandIn:
    """Records what GpuGlbSteps asks of CuMesh (init copies, as the real one does)."""

    calls: list = []

    class CuMesh:
        def init(self, vertices, faces):
            CuMeshStandIn.calls.append(("init", len(vertices), len(faces)))
            self.vertices, self.faces = np.array(vertices), np.array(faces)

        def __getattr__(self, name):
            return lambda *args, **kwargs: CuMeshStandIn.calls.append((name, *args, *sorted(kwargs.items())))

        def read(self):
            return self.vertices.view(Tensor), self.faces.view(Tensor)

    @staticmethod
    def cuBVH(vertices, faces):
        CuMeshStandIn.calls.append(("bvh", len(faces)))
        return "bvh"

    class remeshing:
        @staticmethod
        def remesh_narrow_band_dc(vertices, faces, **kwargs):
            CuMeshStandIn.calls.append(("remesh", {k: v for k, v in kwargs.items() if k != "center"},
                                        np.asarray(kwargs["center"]).tolist()))
            return vertices[:3], faces[:1]


def test_the_head_calls_cumesh_as_upstreams_to_glb_does():
    from trellis2_service.backends.trellis2_glb import GpuGlbSteps, HeadKey
    from trellis2_service.backends.trellis2_state import ExtractInputs

    CuMeshStandIn.calls = []
    inputs = ExtractInputs(vertices=np.zeros((5, 3), np.float32), faces=np.zeros((4, 3), np.int32),
                           attrs=np.zeros((2, 6), np.float32), coords=np.zeros((2, 3), np.int32),
                           layout={"base_color": slice(0, 3)}, voxel_size=1 / 256)
    steps = GpuGlbSteps(TorchStandIn, CuMeshStandIn, None, None)
    uploaded = steps.upload(inputs)
    assert uploaded.grid_size.tolist() == [256, 256, 256]
    head = steps.head(uploaded, HeadKey(True, 2.0, 0.5))
    init, fill, bvh, remesh = CuMeshStandIn.calls
    assert init == ("init", 5, 4) and fill == ("fill_holes", ("max_hole_perimeter", 3e-2)) and bvh == ("bvh", 4)
    # upstream: scale = (resolution + 3 * band) / resolution * extent of the aabb, center = its middle
    assert remesh[1] == {"scale": (256 + 3 * 2.0) / 256 * 1.0, "resolution": 256, "band": 2.0, "project_back": 0.5,
                         "verbose": False, "bvh": "bvh"} and remesh[2] == [0.0, 0.0, 0.0]
    CuMeshStandIn.calls = []
    steps._simplified(head, 1000)
    assert CuMeshStandIn.calls == [("init", 3, 1), ("simplify", 1000, ("verbose", False))]  # a fresh copy each preset
    CuMeshStandIn.calls = []
    plain = steps.head(uploaded, HeadKey(False, None, None))
    assert [call[0] for call in CuMeshStandIn.calls] == ["init", "fill_holes", "bvh"] and plain.surface is None
    CuMeshStandIn.calls = []
    steps._simplified(plain, 1000)
    holes = ("fill_holes", ("max_hole_perimeter", 3e-2))
    assert [call[:2] for call in CuMeshStandIn.calls] == [
        ("init", 5), ("simplify", 3000), ("remove_duplicate_faces",), ("repair_non_manifold_edges",),
        ("remove_small_connected_components", 1e-5), holes, ("simplify", 1000),
        ("remove_duplicate_faces",), ("repair_non_manifold_edges",), ("remove_small_connected_components", 1e-5),
        holes, ("unify_face_orientations",)]
