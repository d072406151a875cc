"""Binary glTF 2.0 (GLB) for one textured triangle mesh, written directly.

Written by hand rather than through trimesh so every detail the Khronos validator checks is under our
control: POSITION min/max equal to the data, unit normals, 4-byte aligned buffer views with the right
targets, no unused objects, a power-of-two PNG with a mipmapping sampler, padded chunks.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np
from PIL import Image

from .relief_mesh import ReliefMesh

GLB_MAGIC = 0x46546C67  # "glTF"
CHUNK_JSON = 0x4E4F534A  # "JSON"
CHUNK_BIN = 0x004E4942  # "BIN\0"
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
FLOAT, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5123, 5125
LINEAR, LINEAR_MIPMAP_LINEAR, CLAMP_TO_EDGE = 9729, 9987, 33071
# zlib level 1: a 4096^2 texture encodes in a fraction of the time of the default level 6, for a
# file that is only somewhat larger (the extractor's time matters more than bytes here).
PNG_COMPRESS_LEVEL = 1


def texture_png(texture: np.ndarray, size: int) -> bytes:
    """The texture resampled to exactly size x size pixels, as PNG bytes (deterministic)."""
    return texture_image(texture, size, webp=False)


def texture_image(texture: np.ndarray, size: int, *, webp: bool) -> bytes:
    """The texture at size x size pixels as PNG, or as lossy WebP (what trimesh writes for
    extension_webp on the GPU backend) when `webp`."""
    image = Image.fromarray(np.ascontiguousarray(texture), "RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    buffer = io.BytesIO()
    if webp:
        image.save(buffer, format="WEBP", quality=90, method=4)
    else:
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def write_glb(mesh: ReliefMesh, png: bytes, *, name: str = "relief", webp: bool = False) -> bytes:
    """`png` holds the texture bytes: PNG, or WebP when `webp` (then referenced through EXT_texture_webp,
    required, since there is no PNG fallback)."""
    positions = np.ascontiguousarray(mesh.positions, dtype="<f4")
    normals = np.ascontiguousarray(mesh.normals, dtype="<f4")
    uvs = np.ascontiguousarray(mesh.uvs, dtype="<f4")
    small_indices = positions.shape[0] <= 0xFFFF
    indices = np.ascontiguousarray(mesh.faces.ravel(), dtype="<u2" if small_indices else "<u4")

    binary = bytearray()
    buffer_views: list[dict] = []

    def add_view(data: bytes, target: int | None) -> int:
        binary.extend(b"\0" * (-len(binary) % 4))  # every view starts 4-byte aligned
        view = {"buffer": 0, "byteOffset": len(binary), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        binary.extend(data)
        buffer_views.append(view)
        return len(buffer_views) - 1

    accessors = [
        {
            "bufferView": add_view(positions.tobytes(), ARRAY_BUFFER),
            "componentType": FLOAT,
            "count": positions.shape[0],
            "type": "VEC3",
            # Python floats of float32 values are exact, so these equal the data bit for bit.
            "min": [float(value) for value in positions.min(axis=0)],
            "max": [float(value) for value in positions.max(axis=0)],
        },
        {"bufferView": add_view(normals.tobytes(), ARRAY_BUFFER), "componentType": FLOAT, "count": normals.shape[0], "type": "VEC3"},
        {"bufferView": add_view(uvs.tobytes(), ARRAY_BUFFER), "componentType": FLOAT, "count": uvs.shape[0], "type": "VEC2"},
        {
            "bufferView": add_view(indices.tobytes(), ELEMENT_ARRAY_BUFFER),
            "componentType": UNSIGNED_SHORT if small_indices else UNSIGNED_INT,
            "count": indices.shape[0],
            "type": "SCALAR",
        },
    ]
    image_view = add_view(png, None)  # images must not carry a target
    binary.extend(b"\0" * (-len(binary) % 4))

    document = {
        "asset": {"version": "2.0", "generator": "trellis2-service relief backend"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [
            {
                "name": name,
                "primitives": [
                    {"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2}, "indices": 3, "material": 0, "mode": 4}
                ],
            }
        ],
        "materials": [
            {
                "name": f"{name}_material",
                "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.8},
            }
        ],
        "textures": [{"sampler": 0, "extensions": {"EXT_texture_webp": {"source": 0}}} if webp
                     else {"sampler": 0, "source": 0}],
        "samplers": [{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR, "wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE}],
        "images": [{"bufferView": image_view, "mimeType": "image/webp" if webp else "image/png"}],
        "accessors": accessors,
        "bufferViews": buffer_views,
        "buffers": [{"byteLength": len(binary)}],
    }
    if webp:
        document["extensionsUsed"] = document["extensionsRequired"] = ["EXT_texture_webp"]
    json_chunk = json.dumps(document, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)  # the spec pads JSON with spaces, BIN with zeros

    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<III", GLB_MAGIC, 2, total),
            struct.pack("<II", len(json_chunk), CHUNK_JSON),
            json_chunk,
            struct.pack("<II", len(binary), CHUNK_BIN),
            bytes(binary),
        ]
    )
