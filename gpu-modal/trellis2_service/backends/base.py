"""The one interface every backend implements: the real TRELLIS.2 pipeline on a GPU, or the CPU relief backend.

The service layer (validation, auth, jobs, state storage, the codec) only ever talks to a backend through
this module, so both run behind the same routes and the rest of the product cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class GenerateParams:
    """Sampler settings of one generation (field names and defaults follow the seed's API)."""

    seed: int = 42
    pipeline_type: str = "1024_cascade"
    ss_sampling_steps: int = 12
    ss_guidance_strength: float = 7.5
    shape_slat_sampling_steps: int = 12
    shape_slat_guidance_strength: float = 7.5
    tex_slat_sampling_steps: int = 12
    tex_slat_guidance_strength: float = 1.0
    render_preview: bool = True


@dataclass(frozen=True)
class ExtractParams:
    """GLB extraction settings (seed defaults: the Quality preset)."""

    decimation_target: int = 1_000_000
    texture_size: int = 4096
    remesh: bool = True
    remesh_band: float = 1.0
    remesh_project: float = 0.0
    extension_webp: bool = False  # WebP textures (EXT_texture_webp) instead of PNG


@dataclass
class GenerationState:
    """What `generate` leaves behind for `extract_glb`.

    Only plain numeric arrays and JSON-serialisable metadata, so the state codec can store it without
    pickle. `backend` names the backend that made it; another backend refuses it.
    """

    backend: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerateOutput:
    state: GenerationState
    preview_mp4: bytes | None


@dataclass(frozen=True)
class LoadInfo:
    backend: str
    device: str  # "cpu", or the GPU name such as "A100-80GB"
    load_seconds: float
    cold_start: bool  # True only for the call that actually loaded the model


class BackendError(Exception):
    """A failure of the work itself, with the API error code it maps to.

    Codes: generation_error, rendering_error, extraction_error, cuda_oom, not_ready.
    """

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class Backend(Protocol):
    name: str

    def load(self) -> LoadInfo:
        """Load models (once; later calls return at once with cold_start=False). Heavy imports live here."""

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        """Image (already decoded and size-checked, RGBA or RGB) -> state + optional MP4 preview."""

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        """State -> binary glTF (GLB) bytes."""

    def extract_glbs(self, state: GenerationState, params: Sequence[ExtractParams]) -> list[bytes]:
        """One GLB per entry of `params`, in the same order, from one call (one GPU input for all presets of
        a state). This default extracts them one by one; the trellis2 backend overrides it to upload the
        state and run to_glb's preset-independent head once. Backends that subclass Backend inherit it."""
        return [self.extract_glb(state, preset) for preset in params]

    def after_call(self) -> str | None:
        """Free per-call memory; return a reason to retire this container (stop taking inputs), or None."""
