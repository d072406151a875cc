"""GpuGlbSteps.bake's data flow, offline, on numpy stand-ins for the GPU edge (torch tensors, nvdiffrast's
rasteriser, CuMesh's BVH and UV unwrap, FlexGEMM's grid_sample_3d), each with a rule simple enough to predict
the result: every texel a face covers must end up holding the attribute of the voxel under that face's
position (mapped back through the BVH), in the layout's channels, scaled to 0..255, and the mesh must come
out in glTF axes with V flipped. The chunked rasterisation is exercised with chunks of 2 faces."""

import numpy as np

from trellis2_service.backends import trellis2_glb
from trellis2_service.backends.trellis2_glb import GpuGlbSteps, HeadKey
from trellis2_service.backends.trellis2_state import ExtractInputs

TEXTURE = 8
GRID = 4  # voxel_size 1/4: a 4^3 grid over [-0.5, 0.5]^3


class T(np.ndarray):
    """A torch tensor, as far as bake uses one."""

    def cuda(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return np.asarray(self)

    def int(self):
        return self.astype(np.int32).view(T)

    def long(self):
        return self.astype(np.int64).view(T)

    def round(self):
        return np.round(self).view(T)

    def unsqueeze(self, dim):
        return np.expand_dims(self, dim).view(T)

    def mean(self, dim=None, **kwargs):
        return np.asarray(self).mean(axis=dim).view(T)

    def sum(self, dim=None, **kwargs):
        return np.asarray(self).sum(axis=dim).view(T)

    def clamp(self, low, high):
        return np.clip(self, low, high).view(T)

    def to(self, dtype):
        return self.astype(dtype).view(T)


def t(array):
    return np.asarray(array).view(T)


class Torch:
    float32, uint8 = np.float32, np.uint8
    Size = tuple

    @staticmethod
    def from_numpy(array):
        return t(array)

    @staticmethod
    def tensor(data, dtype=None, device=None):
        return t(np.asarray(data, dtype=dtype))

    @staticmethod
    def cat(parts, dim):
        return t(np.concatenate([np.asarray(part) for part in parts], axis=dim))

    @staticmethod
    def zeros_like(array):
        return t(np.zeros_like(array))

    @staticmethod
    def ones_like(array):
        return t(np.ones_like(array))

    @staticmethod
    def zeros(*shape, device=None, dtype=np.float32):
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        return t(np.zeros(shape, dtype=dtype))

    @staticmethod
    def where(condition, a, b):
        return t(np.where(condition, a, b))


# The simplified mesh: 5 faces; face f covers texel f of the 8x8 texture (row-major), its centroid is known.
VERTICES = t(np.array([[-0.4, -0.4, -0.4], [0.4, -0.4, -0.4], [0.4, 0.4, -0.4], [-0.4, 0.4, 0.4], [0.1, 0.2, 0.3]],
                      np.float32))
FACES = t(np.array([[0, 1, 2], [0, 2, 3], [1, 2, 4], [0, 3, 4], [2, 3, 4]], np.int32))
UVS = t(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.25]], np.float32))


class CuMesh:
    def init(self, vertices, faces):
        pass

    def simplify(self, target, verbose=False):
        self.target = target

    def uv_unwrap(self, compute_charts_kwargs, return_vmaps, verbose):
        assert compute_charts_kwargs == trellis2_glb.CHART_OPTIONS and return_vmaps
        return VERTICES, FACES, UVS, t(np.arange(5))

    def compute_vertex_normals(self):
        pass

    def read_vertex_normals(self):
        return t(np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (5, 1)))


class Bvh:
    """Maps a texel position (a simplified face's centroid, by the stand-in rasteriser) to the head face of the
    same index, weights (1, 0, 0): so a texel of face f samples the voxel under head face f's first vertex, and
    a wrong face id anywhere (a chunk's offset, say) samples another voxel."""

    def unsigned_distance(self, positions, return_uvw):
        centroids = np.asarray(VERTICES)[np.asarray(FACES)].mean(axis=1)
        distances = np.linalg.norm(np.asarray(positions)[:, None, :] - centroids[None], axis=-1)
        face_id = distances.argmin(axis=1).astype(np.int32)
        assert np.allclose(distances.min(axis=1), 0, atol=1e-6)
        return t(np.zeros(len(face_id))), t(face_id), t(np.tile([1.0, 0.0, 0.0], (len(face_id), 1)))


class Rasteriser:
    chunks: list = []

    class RasterizeCudaContext:
        pass

    @staticmethod
    def rasterize(context, uvs_clip, faces, resolution):
        assert uvs_clip.shape == (1, 5, 4) and resolution == [TEXTURE, TEXTURE]
        first = Rasteriser.chunks[-1] + len(Rasteriser.faces_seen[-1]) if Rasteriser.chunks else 0
        Rasteriser.chunks.append(first)
        Rasteriser.faces_seen.append(np.asarray(faces))
        raster = np.zeros((1, TEXTURE, TEXTURE, 4), np.float32)
        for local in range(len(faces)):
            raster[0, (first + local) // TEXTURE, (first + local) % TEXTURE, 3] = local + 1  # the chunk's own ids
        return t(raster), None

    @staticmethod
    def interpolate(vertices, raster, faces):
        face_ids = np.asarray(raster)[0, ..., 3].astype(int) - 1
        positions = np.zeros((1, TEXTURE, TEXTURE, 3), np.float32)
        covered = face_ids >= 0
        positions[0][covered] = np.asarray(vertices)[0][np.asarray(faces)[face_ids[covered]]].mean(axis=1)
        Rasteriser.face_ids = face_ids
        return (t(positions),)


def grid_sample_3d(attr_volume, coords, shape, grid, mode):
    """Nearest voxel instead of trilinear (enough to check what is sampled where)."""
    assert mode == "trilinear" and shape == (1, attr_volume.shape[1], GRID, GRID, GRID)
    assert np.array_equal(np.asarray(coords)[:, 0], np.zeros(len(coords)))  # the batch column upstream adds
    lookup = {tuple(coord): index for index, coord in enumerate(np.asarray(coords)[:, 1:].tolist())}
    cells = np.clip(np.floor(np.asarray(grid)[0]).astype(int), 0, GRID - 1)
    return t(np.stack([np.asarray(attr_volume)[lookup[tuple(cell)]] for cell in cells.tolist()])[None])


def test_bake_puts_each_voxels_attributes_in_the_texels_of_its_face(monkeypatch):
    monkeypatch.setattr(trellis2_glb, "RASTER_CHUNK_FACES", 2)
    Rasteriser.chunks, Rasteriser.faces_seen = [], []
    coords = np.array([[x, y, z] for x in range(GRID) for y in range(GRID) for z in range(GRID)], np.int32)
    attrs = np.random.default_rng(1).random((len(coords), 6)).astype(np.float32)
    # the head's filled mesh: face f = vertices 3f, 3f+1, 3f+2; vertex 3f sits in cell (f % 4, 3 - f % 4, f // 2)
    cells = [(f % GRID, GRID - 1 - f % GRID, f // 2) for f in range(5)]
    head_vertices = np.zeros((15, 3), np.float32)
    head_vertices[0::3] = (np.array(cells) + 0.5) / GRID - 0.5
    head_faces = np.arange(15, dtype=np.int32).reshape(5, 3)
    inputs = ExtractInputs(vertices=head_vertices, faces=head_faces, attrs=attrs, coords=coords,
                           layout={"base_color": slice(0, 3), "metallic": slice(3, 4), "roughness": slice(4, 5),
                                   "alpha": slice(5, 6)}, voxel_size=1 / GRID)
    steps = GpuGlbSteps(Torch, None, Rasteriser, grid_sample_3d)
    uploaded = steps.upload(inputs)
    head = trellis2_glb._Head(uploaded, t(head_vertices), t(head_faces), Bvh(), (VERTICES, FACES),
                              HeadKey(True, 1.0, 0.0))
    monkeypatch.setattr(steps, "cumesh", type("cumesh", (), {"CuMesh": CuMesh}))
    baked = steps.bake(head, decimation_target=1000, texture_size=TEXTURE)

    assert Rasteriser.chunks == [0, 2, 4]  # 5 faces in chunks of 2
    assert baked.covered.sum() == 5 and baked.covered.reshape(-1)[:5].all()
    voxel_of = {tuple(c): index for index, c in enumerate(coords.tolist())}
    expected = np.clip(attrs[[voxel_of[cell] for cell in cells]] * 255, 0, 255).astype(np.uint8)  # texel f -> face f
    for name, channels in inputs.layout.items():
        values = baked.maps[name][baked.covered]  # row-major: texels 0..4
        assert values.dtype == np.uint8 and values.shape == (5, channels.stop - channels.start)
        assert (values == expected[:, channels]).all(), name
        assert (baked.maps[name][~baked.covered] == 0).all()  # left for the CPU tail's inpainting
    assert np.allclose(baked.vertices[0], [-0.4, -0.4, 0.4]) and baked.normals[0].tolist() == [0.0, 0.0, -1.0]
    assert np.allclose(baked.uvs[:, 1], 1 - np.asarray(UVS)[:, 1]) and baked.faces.tolist() == np.asarray(FACES).tolist()
    assert baked.double_sided is False  # remeshed, as upstream
