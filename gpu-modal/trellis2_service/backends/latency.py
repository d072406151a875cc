"""Latency profile: make any backend take as long as TRELLIS.2 on an A100-80GB (times a scale factor).

The relief backend answers in about a second; queues, timeouts, progress reporting and cost estimates
only get exercised with realistic durations. This wrapper sleeps the remainder between the real compute
time and the A100 time of the same call (warm timings of the seed, UPSTREAM-FACTS). A scale of 1.0 is
real time, 0.01 suits benchmarks, 0 adds nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from PIL import Image

from .base import Backend, ExtractParams, GenerateOutput, GenerateParams, GenerationState, LoadInfo

SIMULATED_DEVICE = "A100-80GB (simulated)"
COLD_START_SECONDS = 140.0  # container ~20 s + model load ~2 min
GENERATE_SECONDS = {"512": 10.0, "1024": 25.0, "1024_cascade": 30.0, "1536_cascade": 90.0}
PREVIEW_VIDEO_SECONDS = 7.5
# Extraction between the Fast preset (100k faces, 1024 px) and the Quality preset (1M faces, 4096 px);
# face count and texture area each explain half of the difference.
EXTRACT_FAST = (100_000, 1024, 15.0)
EXTRACT_QUALITY = (1_000_000, 4096, 45.0)


def generate_seconds(params: GenerateParams) -> float:
    seconds = GENERATE_SECONDS.get(params.pipeline_type, GENERATE_SECONDS["1024_cascade"])
    return seconds + (PREVIEW_VIDEO_SECONDS if params.render_preview else 0.0)


def extract_seconds(params: ExtractParams) -> float:
    fast_faces, fast_texture, fast_seconds = EXTRACT_FAST
    quality_faces, quality_texture, quality_seconds = EXTRACT_QUALITY
    faces = (params.decimation_target - fast_faces) / (quality_faces - fast_faces)
    texels = (params.texture_size**2 - fast_texture**2) / (quality_texture**2 - fast_texture**2)
    # Clamped: below Fast the fixed steps (hole filling, BVH, remeshing) dominate; above Quality the
    # decoded mesh rarely has more faces to keep.
    share = 0.5 * min(max(faces, 0.0), 1.0) + 0.5 * min(max(texels, 0.0), 1.0)
    return fast_seconds + share * (quality_seconds - fast_seconds)


class LatencyProfileBackend:
    """Wraps a backend; every call lasts at least its scaled A100 time. Failures return at once."""

    def __init__(
        self,
        inner: Backend,
        *,
        scale: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not scale >= 0.0:  # also rejects NaN
            raise ValueError(f"latency scale must be >= 0, got {scale!r}")
        self.inner = inner
        self.name = inner.name  # states stay interchangeable with the unwrapped backend
        self.scale = scale
        self._clock = clock
        self._sleep = sleep
        self._load_lock = threading.Lock()
        self._loaded = False

    def load(self) -> LoadInfo:
        with self._load_lock:  # two first callers must not both pay the cold start
            started = self._clock()
            info = self.inner.load()
            cold = not self._loaded
            if cold:
                self._pad(started, COLD_START_SECONDS)
                self._loaded = True
                load_seconds = self._clock() - started
            else:
                load_seconds = info.load_seconds
            return LoadInfo(backend=info.backend, device=SIMULATED_DEVICE, load_seconds=load_seconds, cold_start=cold)

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        started = self._clock()
        output = self.inner.generate(image, params)
        self._pad(started, generate_seconds(params))
        return output

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        started = self._clock()
        glb = self.inner.extract_glb(state, params)
        self._pad(started, extract_seconds(params))
        return glb

    def extract_glbs(self, state: GenerationState, params: Sequence[ExtractParams]) -> list[bytes]:
        started = self._clock()
        glbs = self.inner.extract_glbs(state, params)
        self._pad(started, sum(extract_seconds(preset) for preset in params))  # the seed table knows no sharing
        return glbs

    def after_call(self) -> str | None:
        return self.inner.after_call()

    def _pad(self, started: float, a100_seconds: float) -> None:
        remaining = a100_seconds * self.scale - (self._clock() - started)
        if remaining > 0:
            self._sleep(remaining)
