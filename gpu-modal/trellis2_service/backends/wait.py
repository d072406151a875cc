"""The wait backend: GPU work that is pure waiting, for benchmarks of everything around the GPU.

The relief backend does real CPU work (meshes, textures, MP4s), so on a small machine a run with eight
imitated GPU containers measures the CPU, not the orchestration. This backend makes one real model once,
at start-up (the relief backend on a small built-in picture: a textured GLB and a turntable MP4), and
afterwards answers every call with those same bytes. Wrapped in the latency profile (`--latency-profile
SCALE`, see latency.py) each call then lasts its scaled A100 time and costs almost no CPU.

States are real states (they go through the codec, in reference mode and inline): they carry the relief
arrays of the start-up model, so an inline state has a relief-like size, plus the seed and pipeline type
of the call, which `extract_glb` checks.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image, ImageDraw

from .base import Backend, BackendError, ExtractParams, GenerateOutput, GenerateParams, GenerationState, LoadInfo
from .relief import GRID_CELLS, ReliefBackend

STATE_FORMAT = "wait/1"
START_UP_IMAGE_PX = 96
# Small, so the one GLB every extract returns costs little to hash, store and stream, whatever the preset.
START_UP_EXTRACT = ExtractParams(decimation_target=2_000, texture_size=256)


def start_up_image(size: int = START_UP_IMAGE_PX) -> Image.Image:
    """A two-colour disc on a transparent background: enough for a textured relief."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 8, size // 8, size - size // 8, size - size // 8), fill=(200, 60, 40, 255))
    draw.rectangle((size // 3, size // 3, size - size // 3, size - size // 3), fill=(40, 90, 200, 255))
    return image


class WaitBackend(Backend):
    name = "wait"

    def __init__(self) -> None:
        relief = ReliefBackend()
        made = relief.generate(start_up_image(), GenerateParams(seed=0, render_preview=True))
        self.preview_mp4: bytes = made.preview_mp4 or b""
        self.glb: bytes = relief.extract_glb(made.state, START_UP_EXTRACT)
        self._arrays = made.state.arrays
        self._load_lock = threading.Lock()
        self._loaded = False

    def load(self) -> LoadInfo:
        with self._load_lock:
            cold, self._loaded = not self._loaded, True
        return LoadInfo(backend=self.name, device="cpu", load_seconds=0.0, cold_start=cold)

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        if params.pipeline_type not in GRID_CELLS:
            raise BackendError("validation_error", f"unknown pipeline_type {params.pipeline_type!r}", retryable=False)
        meta = {"format": STATE_FORMAT, "seed": params.seed, "pipeline_type": params.pipeline_type}
        state = GenerationState(backend=self.name, arrays=dict(self._arrays), meta=meta)
        return GenerateOutput(state=state, preview_mp4=self.preview_mp4 if params.render_preview else None)

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        if state.backend != self.name or state.meta.get("format") != STATE_FORMAT:
            raise BackendError("validation_error", f"not a usable wait state: format {state.meta.get('format')!r}",
                               retryable=False)
        if state.meta.get("pipeline_type") not in GRID_CELLS or not isinstance(state.meta.get("seed"), int):
            raise BackendError("validation_error", "not a usable wait state: seed or pipeline_type missing",
                               retryable=False)
        if not all(isinstance(array, np.ndarray) for array in state.arrays.values()):
            raise BackendError("validation_error", "not a usable wait state: arrays", retryable=False)
        return self.glb

    def after_call(self) -> str | None:
        return None
