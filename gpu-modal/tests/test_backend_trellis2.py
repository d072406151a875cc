"""The TRELLIS.2 backend as far as it runs without a GPU: imports, state packing, error mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GPU_MODAL = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(GPU_MODAL))

from trellis2_service.backends import create_backend  # noqa: E402
from trellis2_service.backends.base import BackendError, ExtractParams, GenerationState  # noqa: E402
from trellis2_service.backends.trellis2 import classify_failure, is_cuda_oom, short_gpu_name  # noqa: E402
from trellis2_service.backends.trellis2_state import extract_inputs, state_from_mesh  # noqa: E402


class FakeMeshWithVoxel:
    """Test double for the GPU edge only: the attributes of trellis2's MeshWithVoxel, as numpy arrays."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.vertices = rng.uniform(-0.5, 0.5, size=(50, 3)).astype(np.float32)
        self.faces = rng.integers(0, 50, size=(80, 3)).astype(np.int64)  # upstream: int32 tensors
        self.coords = rng.integers(0, 64, size=(30, 3)).astype(np.int64)
        self.attrs = rng.random((30, 6)).astype(np.float16)  # decoders may give half precision
        self.layout = {"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5), "alpha": slice(5, 6)}
        self.voxel_size = 1.0 / 64
        self.voxel_shape = (1, 6, 64, 64, 64)  # a torch.Size upstream
        self.origin = np.array([-0.5, -0.5, -0.5], dtype=np.float32)  # a tensor upstream


def test_module_imports_without_torch():
    script = (
        "import sys; from trellis2_service.backends import create_backend; "
        "import trellis2_service.backends.trellis2 as t; create_backend('trellis2'); "
        "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", script], cwd=GPU_MODAL, check=True)


def test_loading_without_the_gpu_stack_is_not_ready_and_retryable():
    backend = create_backend("trellis2")
    with pytest.raises(BackendError) as caught:
        backend.load()
    assert caught.value.code == "not_ready" and caught.value.retryable
    assert backend.after_call() is None  # nothing loaded, nothing to clean


def test_mesh_packs_into_numeric_arrays_and_json_meta():
    state = state_from_mesh(FakeMeshWithVoxel(), {"seed": 42, "pipeline_type": "512"})
    assert state.backend == "trellis2"
    dtypes = {name: (array.dtype.name, array.shape) for name, array in state.arrays.items()}
    assert dtypes == {
        "vertices": ("float32", (50, 3)),
        "faces": ("int32", (80, 3)),
        "attrs": ("float32", (30, 6)),
        "coords": ("int32", (30, 3)),
    }
    assert json.loads(json.dumps(state.meta)) == state.meta
    assert state.meta["voxel_size"] == 1.0 / 64 and state.meta["voxel_shape"] == [1, 6, 64, 64, 64]
    assert state.meta["origin"] == [-0.5, -0.5, -0.5]
    assert state.meta["layout"] == {"base_color": [0, 3], "metallic": [3, 4], "roughness": [4, 5], "alpha": [5, 6]}
    assert state.meta["seed"] == 42


def test_state_round_trips_into_to_glb_arguments():
    mesh = FakeMeshWithVoxel()
    inputs = extract_inputs(state_from_mesh(mesh))
    assert inputs.layout == mesh.layout and inputs.voxel_size == mesh.voxel_size
    assert np.array_equal(inputs.faces, mesh.faces) and np.array_equal(inputs.coords, mesh.coords)
    assert np.allclose(inputs.attrs, mesh.attrs.astype(np.float32))
    frozen = state_from_mesh(mesh)
    for array in frozen.arrays.values():
        array.setflags(write=False)  # as the state codec decodes them
    assert all(array.flags.writeable for array in vars(extract_inputs(frozen)).values() if isinstance(array, np.ndarray))


def damaged(**changes) -> GenerationState:
    state = state_from_mesh(FakeMeshWithVoxel())
    arrays, meta = dict(state.arrays), dict(state.meta)
    for key, value in changes.items():
        (arrays if key in arrays else meta)[key] = value
    return GenerationState(backend=state.backend, arrays=arrays, meta=meta)


@pytest.mark.parametrize(
    "state",
    [
        damaged(faces=np.array([[0, 1, 50]], dtype=np.int32)),  # index past the last vertex
        damaged(faces=np.array([[0, 1, -1]], dtype=np.int32)),
        damaged(coords=np.full((30, 3), 64, dtype=np.int32)),  # outside the 64^3 grid
        damaged(vertices=np.zeros((50, 3), dtype=np.float64)),
        damaged(layout={"base_color": [0, 7]}),
        damaged(voxel_size=0.0),
        damaged(format="trellis2/0"),
        GenerationState(backend="relief", arrays={}, meta={}),
    ],
)
def test_unsound_states_are_refused_before_the_gpu(state):
    with pytest.raises(BackendError) as caught:
        create_backend("trellis2").extract_glb(state, ExtractParams())
    assert caught.value.code == "validation_error" and not caught.value.retryable


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which is what the check goes by."""


def test_cuda_oom_is_recognised_by_class_name_message_or_cause():
    assert is_cuda_oom(OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_cuda_oom(RuntimeError("CUDA error: out of memory"))
    try:
        try:
            raise OutOfMemoryError("inner")
        except OutOfMemoryError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert is_cuda_oom(outer)
    assert not is_cuda_oom(RuntimeError("shape mismatch"))
    assert not is_cuda_oom(MemoryError("host RAM"))


def test_failures_map_to_api_codes():
    oom = classify_failure(OutOfMemoryError("CUDA out of memory"), "generation_error", "generation")
    assert (oom.code, oom.retryable) == ("cuda_oom", True)
    other = classify_failure(ValueError("bad"), "extraction_error", "GLB extraction")
    assert (other.code, other.retryable) == ("extraction_error", True) and "ValueError" in other.message


def test_gpu_names_are_shortened_as_modal_names_them():
    gib = 1024**3
    assert short_gpu_name("NVIDIA A100-SXM4-80GB", 80 * gib) == "A100-80GB"
    assert short_gpu_name("NVIDIA A100-PCIE-40GB", 40 * gib) == "A100-40GB"
    assert short_gpu_name("NVIDIA H100 80GB HBM3", 80 * gib) == "H100"
    assert short_gpu_name("NVIDIA L40S", 45 * gib) == "L40S"
    assert short_gpu_name("NVIDIA L4", 23 * gib) == "L4"
    assert short_gpu_name("Quadro RTX 8000", 48 * gib) == "Quadro RTX 8000"
