"""TRELLIS.2's MeshWithVoxel <-> GenerationState, without torch.

The state carries exactly what `o_voxel.postprocess.to_glb` needs: the decoded mesh (vertices, faces)
and the sparse attribute volume (attrs at voxel coords, with the channel layout and voxel size). The seed
pickled the whole object; here it is numeric arrays plus JSON, and every field is checked on the way
back, because a state comes back from clients and bad indices would fault CUDA kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import BackendError, GenerationState

BACKEND_NAME = "trellis2"
STATE_FORMAT = "trellis2/1"
AABB_EXTENT = 1.0  # to_glb is called with aabb [-0.5, 0.5]^3, so the grid has 1 / voxel_size cells a side


@dataclass(frozen=True)
class ExtractInputs:
    vertices: np.ndarray  # float32 [V, 3]
    faces: np.ndarray  # int32 [F, 3]
    attrs: np.ndarray  # float32 [N, C]
    coords: np.ndarray  # int32 [N, 3]
    layout: dict[str, slice]
    voxel_size: float


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (on any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach()
        if value.dtype.is_floating_point and value.dtype.itemsize < 4:
            value = value.float()  # numpy has no bfloat16; half precision widens losslessly
        value = value.cpu().numpy()
    return np.asarray(value)


def state_from_mesh(mesh: Any, meta: dict[str, Any] | None = None) -> GenerationState:
    """Pack a MeshWithVoxel (or anything with its attributes) into a state; `meta` is added as is."""
    attrs = np.ascontiguousarray(to_numpy(mesh.attrs), dtype=np.float32)
    arrays = {
        "vertices": np.ascontiguousarray(to_numpy(mesh.vertices), dtype=np.float32),
        "faces": np.ascontiguousarray(to_numpy(mesh.faces), dtype=np.int32),
        "attrs": attrs,
        "coords": np.ascontiguousarray(to_numpy(mesh.coords), dtype=np.int32),
    }
    layout = {}
    for name, channels in dict(mesh.layout).items():
        start, stop, step = channels.indices(attrs.shape[1]) if isinstance(channels, slice) else (*channels, 1)
        if step != 1:
            raise ValueError(f"layout {name!r} has step {step}; only contiguous channel ranges are supported")
        layout[str(name)] = [int(start), int(stop)]
    voxel_size = to_numpy(mesh.voxel_size).astype(np.float64).ravel()
    state_meta = {
        "format": STATE_FORMAT,
        "voxel_size": float(voxel_size[0]),
        "voxel_shape": [int(size) for size in mesh.voxel_shape],
        "origin": [float(value) for value in to_numpy(mesh.origin).ravel()],
        "layout": layout,
        **(meta or {}),
    }
    state = GenerationState(backend=BACKEND_NAME, arrays=arrays, meta=state_meta)
    extract_inputs(state)  # never hand out a state that extraction would refuse
    return state


def extract_inputs(state: GenerationState) -> ExtractInputs:
    """The to_glb arguments held by a state, or BackendError(validation_error) if it is not a sound one."""

    def invalid(reason: str) -> BackendError:
        return BackendError("validation_error", f"not a usable trellis2 state: {reason}", retryable=False)

    if state.backend != BACKEND_NAME:
        raise invalid(f"it was made by the {state.backend!r} backend")
    if state.meta.get("format") != STATE_FORMAT:
        raise invalid(f"format {state.meta.get('format')!r}, expected {STATE_FORMAT!r}")
    expected = {"vertices": (np.float32, 3), "faces": (np.int32, 3), "attrs": (np.float32, None), "coords": (np.int32, 3)}
    arrays = {}
    for name, (dtype, columns) in expected.items():
        array = state.arrays.get(name)
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 2:
            raise invalid(f"{name} must be a 2-D {np.dtype(dtype).name} array")
        if columns is not None and array.shape[1] != columns:
            raise invalid(f"{name} must have {columns} columns")
        # torch.from_numpy needs writable, contiguous memory; decoded states may be read-only views.
        arrays[name] = array if array.flags.writeable and array.flags.c_contiguous else np.array(array)
    vertices, faces, attrs, coords = arrays["vertices"], arrays["faces"], arrays["attrs"], arrays["coords"]
    if vertices.shape[0] == 0 or faces.shape[0] == 0 or attrs.shape[0] == 0:
        raise invalid("empty mesh or volume")
    if attrs.shape[0] != coords.shape[0]:
        raise invalid("attrs and coords differ in length")
    if faces.min() < 0 or faces.max() >= vertices.shape[0]:
        raise invalid("face indices out of range")
    if not np.isfinite(vertices).all():
        raise invalid("non-finite vertex positions")

    try:
        voxel_size = float(state.meta["voxel_size"])
        layout_meta = dict(state.meta["layout"])
    except (KeyError, TypeError, ValueError) as error:
        raise invalid(f"metadata: {error}") from error
    if not (math.isfinite(voxel_size) and 0.0 < voxel_size <= AABB_EXTENT):
        raise invalid("voxel_size must lie in (0, 1]")
    grid_cells = round(AABB_EXTENT / voxel_size)
    if coords.min() < 0 or coords.max() >= grid_cells:
        raise invalid(f"voxel coords outside the {grid_cells}^3 grid")
    layout = {}
    for name, channels in layout_meta.items():
        if not (isinstance(channels, list) and len(channels) == 2 and all(type(c) is int for c in channels)):
            raise invalid(f"layout {name!r} must be [start, stop]")
        start, stop = channels
        if not 0 <= start < stop <= attrs.shape[1]:
            raise invalid(f"layout {name!r} outside the {attrs.shape[1]} attribute channels")
        layout[str(name)] = slice(start, stop)
    if not layout:
        raise invalid("empty attribute layout")
    return ExtractInputs(vertices=vertices, faces=faces, attrs=attrs, coords=coords, layout=layout, voxel_size=voxel_size)
