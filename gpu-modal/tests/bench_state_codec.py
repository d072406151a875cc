"""Benchmark: the service's safe state codec against the upstream's pickle + LZ4, in one process.

    .venv/bin/python tests/bench_state_codec.py [--vertices 1000000] [--repeat 3]

The state imitates a TRELLIS.2 MeshWithVoxel: ~1M vertices (float32 x3), ~2M faces (int32 x3), voxel
attrs (float32, 6 channels) and coords (int32 x3). Times are the best of --repeat runs; results are
printed as ratios against pickle + LZ4 so they carry over between machines. pickle is used here, in
tests/, only as the yardstick.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import lz4.frame
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends.base import GenerationState  # noqa: E402
from trellis2_service.state_codec import decode_state, encode_state  # noqa: E402

SECRET = b"benchmark-secret-0123456789abcdef"


def realistic_state(vertices: int) -> GenerationState:
    rng = np.random.default_rng(7)
    faces = vertices * 2
    voxels = vertices // 2
    grid = 1024
    # Surface-like data: coordinates on a fine grid with locality, faces that index nearby vertices,
    # colours quantised like textures are. Pure noise would make every compressor look equally bad.
    walk = np.cumsum(rng.integers(-1, 2, size=(vertices, 3)), axis=0)
    verts = ((walk % grid) / grid - 0.5).astype(np.float32)
    base = np.repeat(np.arange(faces // 2, dtype=np.int64), 2) % max(vertices - 3, 1)
    tris = np.stack([base, base + 1, base + 2], axis=1).astype(np.int32)
    coords = np.sort(rng.integers(0, grid // 2, size=(voxels, 3)), axis=0).astype(np.int32)
    attrs = (np.round(rng.random((voxels, 6)) * 32) / 32).astype(np.float32)
    return GenerationState(
        backend="trellis2",
        arrays={"vertices": verts, "faces": tris, "attrs": attrs, "coords": coords},
        meta={"voxel_size": 1 / 512, "voxel_shape": [512, 512, 512], "origin": [-0.5, -0.5, -0.5],
              "layout": {"base_color": [0, 3], "metallic": [3, 4], "roughness": [4, 5], "alpha": [5, 6]}},
    )


def pickle_lz4_encode(state: GenerationState) -> bytes:
    payload = {"backend": state.backend, "meta": state.meta, **state.arrays}
    return lz4.frame.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def pickle_lz4_decode(blob: bytes) -> dict:
    return pickle.loads(lz4.frame.decompress(blob))


def best_of(repeat: int, action) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        best = min(best, time.perf_counter() - started)
    return best, value


def run(vertices: int, repeat: int, print_line=print) -> dict[str, float]:
    state = realistic_state(vertices)
    raw_bytes = sum(array.nbytes for array in state.arrays.values())
    pickle_encode, pickle_blob = best_of(repeat, lambda: pickle_lz4_encode(state))
    pickle_decode, _ = best_of(repeat, lambda: pickle_lz4_decode(pickle_blob))
    safe_encode, safe_blob = best_of(repeat, lambda: encode_state(state, SECRET))
    safe_decode, decoded = best_of(repeat, lambda: decode_state(safe_blob, SECRET, max_bytes=1 << 31))
    for name, array in state.arrays.items():
        assert np.array_equal(decoded.arrays[name], array), name
    results = {
        "raw_mb": raw_bytes / 1e6,
        "pickle_lz4_mb": len(pickle_blob) / 1e6,
        "safe_mb": len(safe_blob) / 1e6,
        "pickle_encode_s": pickle_encode,
        "pickle_decode_s": pickle_decode,
        "safe_encode_s": safe_encode,
        "safe_decode_s": safe_decode,
        "size_ratio": len(safe_blob) / len(pickle_blob),
        "encode_ratio": safe_encode / pickle_encode,
        "decode_ratio": safe_decode / pickle_decode,
    }
    print_line(f"state: {vertices:,} vertices, {vertices * 2:,} faces, {vertices // 2:,} voxels; "
               f"{results['raw_mb']:.1f} MB of arrays")
    print_line(f"{'codec':<22}{'size MB':>10}{'encode s':>11}{'decode s':>11}")
    print_line(f"{'pickle + LZ4':<22}{results['pickle_lz4_mb']:>10.1f}{pickle_encode:>11.3f}{pickle_decode:>11.3f}")
    print_line(f"{'safe (signed, LZ4)':<22}{results['safe_mb']:>10.1f}{safe_encode:>11.3f}{safe_decode:>11.3f}")
    print_line(f"safe / pickle+LZ4: size x{results['size_ratio']:.2f}, encode x{results['encode_ratio']:.2f}, "
               f"decode x{results['decode_ratio']:.2f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    run(options.vertices, options.repeat)
