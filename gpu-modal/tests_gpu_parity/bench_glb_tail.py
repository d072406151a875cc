"""Benchmark: the GLB extraction's CPU tails run inline (each after its bake, as upstream's to_glb does) vs
beside the next preset's GPU work (trellis2_glb.extract_presets on a thread pool), in one process.

    .venv-gpu-parity/bin/python tests_gpu_parity/bench_glb_tail.py [--scale 0.25] [--threads 2]

The CPU tails are real (finish_glb: four cv2.inpaint passes, the PBR material, PNG encoding through trimesh)
on textures of the three presets (1024, 2048, 4096 px) with atlas-like coverage. The GPU is a stand-in that
sleeps for the cost model's bake seconds × --scale (the GPU busy, the CPU free). Printed as a ratio against
the inline run, which carries over between machines better than the seconds do.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from test_cpu_proofs import baked_surface  # noqa: E402
from trellis2_service.backends.base import ExtractParams  # noqa: E402
from trellis2_service.backends.trellis2_glb import extract_presets, finish_glb  # noqa: E402

BAKE_SECONDS = {4096: 12.0, 2048: 17.0, 1024: 7.0}  # docs/gpu-cost-model.md, "Where today's 120 A100-seconds go"
HEAD_SECONDS, UPLOAD_SECONDS = 5.0, 1.0
PRESETS = [ExtractParams(decimation_target=100_000, texture_size=1024),
           ExtractParams(decimation_target=500_000, texture_size=2048),
           ExtractParams(decimation_target=1_000_000, texture_size=4096)]


def atlas_like(size: int):
    """A baked surface whose maps are smooth texture-like content on ~60 % of the texels, in chart blocks."""
    baked = baked_surface(size)
    rng = np.random.default_rng(size)
    baked.covered = np.kron(rng.random((size // 32, size // 32)) < 0.6, np.ones((32, 32), bool))
    y, x = np.mgrid[0:size, 0:size]
    content = ((np.sin(x / 17.0) + np.cos(y / 23.0)) * 60 + 128).astype(np.uint8)[..., None]
    for name, channels in list(baked.maps.items()):
        filled = np.repeat(content, channels.shape[2], axis=2)
        baked.maps[name] = np.where(baked.covered[..., None], filled, 0).astype(np.uint8)
    return baked


class SleepingGpu:
    def __init__(self, scale: float, surfaces: dict) -> None:
        self.scale, self.surfaces = scale, surfaces

    def upload(self, inputs):
        time.sleep(UPLOAD_SECONDS * self.scale)

    def head(self, uploaded, key):
        time.sleep(HEAD_SECONDS * self.scale)

    def bake(self, head, decimation_target, texture_size):
        time.sleep(BAKE_SECONDS[texture_size] * self.scale)
        return self.surfaces[texture_size]


def inline(function, *args) -> Future:
    future: Future = Future()
    future.set_result(function(*args))
    return future


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    surfaces = {preset.texture_size: atlas_like(preset.texture_size) for preset in PRESETS}
    gpu = SleepingGpu(args.scale, surfaces)

    def finish(baked, extension_webp):
        return finish_glb(baked, extension_webp, threads=args.threads)

    best_inline = best_overlapped = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        extract_presets(gpu, None, PRESETS, finish=finish, submit=inline)
        best_inline = min(best_inline, time.perf_counter() - started)
        with ThreadPoolExecutor(args.threads) as pool:
            started = time.perf_counter()
            extract_presets(gpu, None, PRESETS, finish=finish, submit=pool.submit)
            best_overlapped = min(best_overlapped, time.perf_counter() - started)
    gpu_seconds = (UPLOAD_SECONDS + HEAD_SECONDS + sum(BAKE_SECONDS.values())) * args.scale
    print(f"GPU stand-in {gpu_seconds:.1f} s; tails inline: {best_inline:.1f} s in all; overlapped: "
          f"{best_overlapped:.1f} s (x{best_overlapped / best_inline:.2f})")


if __name__ == "__main__":
    main()
