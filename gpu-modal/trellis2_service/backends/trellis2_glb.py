"""GLB extraction for several presets of one state in one GPU call: `o_voxel.postprocess.to_glb` (pinned
TRELLIS.2 commit 1762f49), taken apart where its inputs say it can be.

Reading upstream's to_glb, in order:
  head  (GPU)  input to CUDA; CuMesh hole filling; a BVH of the filled mesh; with remesh=True the narrow-band
               dual-contouring remesh. Depends on the state and on remesh / remesh_band / remesh_project only.
  bake  (GPU)  simplification to `decimation_target` (the remesh branch: one simplify; the other: simplify
               to 3x, clean-up, simplify, clean-up, unify orientations), UV unwrap (CuMesh charts + xatlas
               packing), normals, UV-space rasterisation at `texture_size` (nvdiffrast), texel positions
               mapped back onto the filled mesh through the BVH, trilinear sampling of the attribute volume
               (FlexGEMM grid_sample_3d).
  tail  (CPU)  cv2.inpaint of the four maps (TELEA; radius 3 for base colour, 1 for the others), the PBR
               material, the trimesh, and (in export) PNG or WebP encoding of the two textures.
So: the state is uploaded once, the head runs once per distinct (remesh, remesh_band, remesh_project), each
preset bakes on the GPU, and each preset's CPU tail runs on a worker thread while the GPU bakes the next
preset (cv2 and Pillow release the GIL in their C code). CuMesh.init copies its input (cudaMemcpy device
to device), so the head's meshes stay untouched while each preset simplifies its own copy.

`extract_presets` (the plan: grouping, order, overlap) and `finish_glb` (the CPU tail) are plain code,
tested offline and, with the GPU image's cv2/trimesh/Pillow versions, in tests_gpu_parity/. `GpuGlbSteps`
holds the torch / CuMesh / nvdiffrast calls and runs only where they exist (verify compares its output
with upstream's to_glb on the GPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .base import ExtractParams
from .trellis2_io import export_glb_bytes
from .trellis2_state import ExtractInputs

GLB_AABB = ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))
HOLE_PERIMETER = 3e-2  # upstream's max_hole_perimeter, every fill_holes call
SMALL_COMPONENT_AREA = 1e-5
RASTER_CHUNK_FACES = 100_000
# upstream's to_glb defaults for the UV charts (mesh_cluster_*)
CHART_OPTIONS = {"threshold_cone_half_angle_rad": math.radians(90.0), "refine_iterations": 0,
                 "global_iterations": 1, "smooth_strength": 1}
INPAINT_RADII = {"base_color": 3, "metallic": 1, "roughness": 1, "alpha": 1}


@dataclass(frozen=True)
class HeadKey:
    """What the preset-independent head of to_glb depends on besides the state."""

    remesh: bool
    remesh_band: float | None
    remesh_project: float | None

    @classmethod
    def of(cls, params: ExtractParams) -> "HeadKey":
        if not params.remesh:
            return cls(False, None, None)  # band and project are unused without remeshing
        return cls(True, float(params.remesh_band), float(params.remesh_project))


@dataclass
class BakedSurface:
    """One preset after the GPU: the mesh in glTF axes and the raw texture maps, all numpy, for the CPU tail."""

    vertices: np.ndarray  # float32 [V, 3]
    faces: np.ndarray  # int [F, 3]
    uvs: np.ndarray  # float32 [V, 2], V already flipped
    normals: np.ndarray  # float32 [V, 3]
    maps: dict[str, np.ndarray]  # base_color [T, T, 3], metallic/roughness/alpha [T, T, 1], uint8
    covered: np.ndarray  # bool [T, T]: texels some face covers (the rest is inpainted)
    double_sided: bool


class GlbSteps(Protocol):
    def upload(self, inputs: ExtractInputs) -> Any: ...

    def head(self, uploaded: Any, key: HeadKey) -> Any: ...

    def bake(self, head: Any, decimation_target: int, texture_size: int) -> BakedSurface: ...


def extraction_plan(params: Sequence[ExtractParams]) -> list[tuple[HeadKey, list[int]]]:
    """Presets grouped by head (first appearance first); in a group the largest texture (the longest CPU
    tail) bakes first, so the most CPU work overlaps later GPU work and the last, exposed tail is short."""
    groups: dict[HeadKey, list[int]] = {}
    for index, preset in enumerate(params):
        groups.setdefault(HeadKey.of(preset), []).append(index)
    return [(key, sorted(indices, key=lambda i: (-params[i].texture_size, -params[i].decimation_target)))
            for key, indices in groups.items()]


def extract_presets(steps: GlbSteps, inputs: ExtractInputs, params: Sequence[ExtractParams], *,
                    finish: Callable[[BakedSurface, bool], bytes],
                    submit: Callable[..., Future]) -> list[bytes]:
    """GLB bytes for each preset, in the order given: one upload, one head per HeadKey, one bake per preset,
    each CPU tail submitted (to run beside the next bake) as soon as its bake is done."""
    if not params:
        return []
    pending: dict[int, Future] = {}
    try:
        uploaded = steps.upload(inputs)
        for key, indices in extraction_plan(params):
            head = steps.head(uploaded, key)
            for index in indices:
                baked = steps.bake(head, params[index].decimation_target, params[index].texture_size)
                pending[index] = submit(finish, baked, params[index].extension_webp)
                del baked
            del head  # its GPU memory goes before the next group's head is built
        del uploaded
        return [pending[index].result() for index in range(len(params))]
    finally:
        for future in pending.values():
            future.cancel()  # after a failure: tails not yet started are not run


def finish_glb(baked: BakedSurface, extension_webp: bool, *, threads: int = 4) -> bytes:
    """The CPU tail of to_glb: inpaint the uncovered texels, build the PBR material and the mesh, export."""
    import cv2
    import trimesh
    import trimesh.visual
    from PIL import Image

    uncovered = (~baked.covered).astype(np.uint8)

    def inpaint(name: str) -> np.ndarray:
        filled = cv2.inpaint(baked.maps[name], uncovered, INPAINT_RADII[name], cv2.INPAINT_TELEA)
        return filled if filled.ndim == 3 else filled[..., None]

    names = tuple(INPAINT_RADII)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(names))), thread_name_prefix="inpaint") as pool:
        maps = dict(zip(names, pool.map(inpaint, names)))
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(np.concatenate([maps["base_color"], maps["alpha"]], axis=-1)),
        baseColorFactor=np.array([255, 255, 255, 255], dtype=np.uint8),
        metallicRoughnessTexture=Image.fromarray(
            np.concatenate([np.zeros_like(maps["metallic"]), maps["roughness"], maps["metallic"]], axis=-1)),
        metallicFactor=1.0,
        roughnessFactor=1.0,
        alphaMode="OPAQUE",
        doubleSided=baked.double_sided,
    )
    mesh = trimesh.Trimesh(vertices=baked.vertices, faces=baked.faces, vertex_normals=baked.normals, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=baked.uvs, material=material))
    return export_glb_bytes(mesh, extension_webp=extension_webp)


def to_gltf_axes(vertices: np.ndarray, normals: np.ndarray, uvs: np.ndarray) -> tuple[np.ndarray, ...]:
    """upstream's conversion: (x, y, z) -> (x, z, -y) for positions and normals; V flipped."""
    def swap(points: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1))

    flipped = np.array(uvs, copy=True)
    flipped[:, 1] = 1 - flipped[:, 1]
    return swap(vertices), swap(normals), flipped


@dataclass
class _Uploaded:
    vertices: Any
    faces: Any
    attr_volume: Any
    coords: Any
    layout: dict[str, slice]
    aabb: Any
    voxel_size: Any
    grid_size: Any


@dataclass
class _Head:
    uploaded: _Uploaded
    vertices: Any  # the filled mesh, which the bake maps texels back onto
    faces: Any
    bvh: Any
    surface: tuple[Any, Any] | None  # the remeshed mesh (remesh=True)
    key: HeadKey


class GpuGlbSteps:
    """upload / head / bake on CUDA with torch, CuMesh, nvdiffrast and FlexGEMM (imported by the caller)."""

    def __init__(self, torch: Any, cumesh: Any, nvdiffrast: Any, grid_sample_3d: Callable[..., Any]) -> None:
        self.torch, self.cumesh, self.dr, self.grid_sample_3d = torch, cumesh, nvdiffrast, grid_sample_3d

    def upload(self, inputs: ExtractInputs) -> _Uploaded:
        torch = self.torch
        coords = torch.from_numpy(inputs.coords).cuda()
        aabb = torch.tensor(np.array(GLB_AABB), dtype=torch.float32, device=coords.device)
        voxel_size = torch.tensor(np.array([inputs.voxel_size] * 3), dtype=torch.float32, device=coords.device)
        return _Uploaded(
            vertices=torch.from_numpy(inputs.vertices).cuda(), faces=torch.from_numpy(inputs.faces).cuda(),
            attr_volume=torch.from_numpy(inputs.attrs).cuda(), coords=coords, layout=inputs.layout, aabb=aabb,
            voxel_size=voxel_size, grid_size=((aabb[1] - aabb[0]) / voxel_size).round().int())

    def head(self, uploaded: _Uploaded, key: HeadKey) -> _Head:
        mesh = self.cumesh.CuMesh()
        mesh.init(uploaded.vertices, uploaded.faces)
        mesh.fill_holes(max_hole_perimeter=HOLE_PERIMETER)
        vertices, faces = mesh.read()
        bvh = self.cumesh.cuBVH(vertices, faces)
        surface = None
        if key.remesh:
            aabb = uploaded.aabb
            scale = (aabb[1] - aabb[0]).max().item()
            resolution = uploaded.grid_size.max().item()
            surface = self.cumesh.remeshing.remesh_narrow_band_dc(
                vertices, faces, center=aabb.mean(dim=0),
                scale=(resolution + 3 * key.remesh_band) / resolution * scale, resolution=resolution,
                band=key.remesh_band, project_back=key.remesh_project, verbose=False, bvh=bvh)
        return _Head(uploaded, vertices, faces, bvh, surface, key)

    def _simplified(self, head: _Head, decimation_target: int) -> Any:
        mesh = self.cumesh.CuMesh()
        if head.surface is not None:
            mesh.init(*head.surface)
            mesh.simplify(decimation_target, verbose=False)
            return mesh
        mesh.init(head.vertices, head.faces)
        for target in (decimation_target * 3, decimation_target):  # upstream: coarse first, then the target
            mesh.simplify(target, verbose=False)
            mesh.remove_duplicate_faces()
            mesh.repair_non_manifold_edges()
            mesh.remove_small_connected_components(SMALL_COMPONENT_AREA)
            mesh.fill_holes(max_hole_perimeter=HOLE_PERIMETER)
        mesh.unify_face_orientations()
        return mesh

    def bake(self, head: _Head, decimation_target: int, texture_size: int) -> BakedSurface:
        torch, dr, up = self.torch, self.dr, head.uploaded
        mesh = self._simplified(head, decimation_target)
        out_vertices, out_faces, out_uvs, out_vmaps = (
            tensor.cuda() for tensor in mesh.uv_unwrap(compute_charts_kwargs=dict(CHART_OPTIONS),
                                                       return_vmaps=True, verbose=False))
        mesh.compute_vertex_normals()
        out_normals = mesh.read_vertex_normals()[out_vmaps]
        del mesh

        context = dr.RasterizeCudaContext()  # one per bake, as upstream: cheap, and never shared across threads
        uvs_clip = torch.cat([out_uvs * 2 - 1, torch.zeros_like(out_uvs[:, :1]), torch.ones_like(out_uvs[:, :1])],
                             dim=-1).unsqueeze(0)
        raster = torch.zeros((1, texture_size, texture_size, 4), device="cuda", dtype=torch.float32)
        for first in range(0, out_faces.shape[0], RASTER_CHUNK_FACES):
            chunk, _ = dr.rasterize(context, uvs_clip, out_faces[first:first + RASTER_CHUNK_FACES],
                                    resolution=[texture_size, texture_size])
            hit = chunk[..., 3:4] > 0
            chunk[..., 3:4] += first  # the face id, offset by the chunk's first face
            raster = torch.where(hit, chunk, raster)
        covered = raster[0, ..., 3] > 0

        positions = dr.interpolate(out_vertices.unsqueeze(0), raster, out_faces)[0][0][covered]
        _, face_id, uvw = head.bvh.unsigned_distance(positions, return_uvw=True)
        positions = (head.vertices[head.faces[face_id.long()]] * uvw.unsqueeze(-1)).sum(dim=1)
        channels = up.attr_volume.shape[1]
        attrs = torch.zeros(texture_size, texture_size, channels, device="cuda")
        attrs[covered] = self.grid_sample_3d(
            up.attr_volume, torch.cat([torch.zeros_like(up.coords[:, :1]), up.coords], dim=-1),
            shape=torch.Size([1, channels, *up.grid_size.tolist()]),
            grid=((positions - up.aabb[0]) / up.voxel_size).reshape(1, -1, 3), mode="trilinear")

        # numpy's clip(x * 255, 0, 255).astype(uint8), done on the GPU: a quarter of the bytes cross to the host
        maps = {name: (attrs[..., up.layout[name]] * 255).clamp(0, 255).to(torch.uint8).cpu().numpy()
                for name in INPAINT_RADII}
        vertices, normals, uvs = to_gltf_axes(out_vertices.cpu().numpy(), out_normals.cpu().numpy(),
                                              out_uvs.cpu().numpy())
        return BakedSurface(vertices=vertices, faces=out_faces.cpu().numpy(), uvs=uvs, normals=normals, maps=maps,
                            covered=covered.cpu().numpy(), double_sided=not head.key.remesh)
