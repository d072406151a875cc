"""A tiny deterministic backend for tests: same protocol as the real ones, no model, no GPU."""

from __future__ import annotations

import json
import struct
import threading

import numpy as np
from PIL import Image

from trellis2_service.backends.base import (
    Backend,
    BackendError,
    ExtractParams,
    GenerateOutput,
    GenerateParams,
    GenerationState,
    LoadInfo,
)

FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


class FakeBackend(Backend):
    name = "relief"

    def __init__(self) -> None:
        self.loaded = False
        self.load_calls = 0
        self.generate_calls = 0
        self.extract_calls = 0
        self.after_calls = 0
        self.fail_next: BaseException | None = None  # raised by the next generate/extract
        self.retire_reason: str | None = None
        self.gate: threading.Event | None = None  # when set, work waits for it (holds a job in "running")
        self.started = threading.Event()

    def load(self) -> LoadInfo:
        self.load_calls += 1
        cold = not self.loaded
        self.loaded = True
        return LoadInfo(backend=self.name, device="cpu", load_seconds=0.25, cold_start=cold)

    def _enter(self) -> None:
        self.started.set()
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        self.generate_calls += 1
        self._enter()
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32) * (1 + pixels.mean())
        faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], dtype=np.int32)
        state = GenerationState(
            backend=self.name,
            arrays={"vertices": vertices, "faces": faces, "attrs": np.full((4, 6), params.seed % 7, np.float32)},
            meta={"seed": params.seed, "pipeline_type": params.pipeline_type, "layout": {"base_color": [0, 3]}},
        )
        return GenerateOutput(state=state, preview_mp4=FAKE_MP4 if params.render_preview else None)

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        self.extract_calls += 1
        self._enter()
        document = json.dumps({"asset": {"version": "2.0"}, "extras": {
            "faces": int(state.arrays["faces"].shape[0]), "texture_size": params.texture_size,
            "seed": state.meta.get("seed")}}).encode()
        document += b" " * (-len(document) % 4)
        chunk = struct.pack("<II", len(document), 0x4E4F534A) + document
        return struct.pack("<4sII", b"glTF", 2, 12 + len(chunk)) + chunk

    def after_call(self) -> str | None:
        self.after_calls += 1
        return self.retire_reason


def oom_error() -> BaseException:
    class OutOfMemoryError(RuntimeError):  # what torch raises, named the same, without importing torch
        pass

    return OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def backend_error(code: str) -> BackendError:
    return BackendError(code, f"{code} happened", retryable=code != "validation_error")
