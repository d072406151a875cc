"""The relief backend: a CPU stand-in for TRELLIS.2 that makes a real textured 3D model in about a second.

generate: cut the object out of the picture (alpha channel, or distance to the border colour), keep its
mask and a halo-free texture as the state, and render a turntable MP4 of a coarse relief.
extract_glb: build a bevelled relief of the mask as fine as `decimation_target` allows, texture it with
the picture at `texture_size`, and write a GLB.

Deterministic: the same image and seed give byte-identical states and GLBs; the seed varies the depth
and bevel slightly, as a different seed changes the model upstream. The remesh options of ExtractParams
have no meaning for a grid-built relief and are ignored.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .base import Backend, BackendError, ExtractParams, GenerateOutput, GenerateParams, GenerationState, LoadInfo
from .relief_glb import texture_image, write_glb
from .relief_mask import extract_foreground
from .relief_mesh import ReliefShape, build_relief_mesh, mask_for_triangle_budget
from .relief_render import turntable_frames
from .video_encode import encode_mp4

STATE_FORMAT = "relief/1"
# Analysis grid (cells along the longer image side) and texture cap per pipeline type: the finer
# pipelines give finer models, as upstream (512^3 < 1024^3 < 1536^3 voxels, whose colours are the
# texture's real detail whatever the baked texture size).
GRID_CELLS = {"512": 384, "1024": 512, "1024_cascade": 512, "1536_cascade": 768}
TEXTURE_CAP_PX = {"512": 512, "1024": 1024, "1024_cascade": 1024, "1536_cascade": 1536}

MODEL_EXTENT = 0.9  # longer side of the picture in world units: inside [-0.5, 0.5]^3 like TRELLIS output
HALF_THICKNESS = 0.07  # plateau half-thickness
RIM_SHARE = 0.3  # rim half-thickness as a share of the plateau's
BEVEL_WIDTH = 0.05
SEED_THICKNESS_JITTER = 0.15  # +-15 % depth per seed
SEED_BEVEL_JITTER = 0.2  # +-20 % bevel width per seed

# Preview: upstream renders 120 frames at 15 fps, 512 px on the GPU; 256 px keeps the CPU render at
# about half a second.
PREVIEW_FRAMES = 120
PREVIEW_FPS = 15
PREVIEW_SIZE_PX = 256
PREVIEW_TRIANGLES = 8_000
PREVIEW_TEXTURE_PX = 256

MAX_TEXTURE_SIZE = 8192
MIN_TRIANGLES = 12  # one cell: front, back and four walls, the smallest closed relief


class ReliefBackend(Backend):
    name = "relief"

    def __init__(self) -> None:
        self._loaded = False

    def load(self) -> LoadInfo:
        cold = not self._loaded  # nothing to load; the first call still reports the cold start
        self._loaded = True
        return LoadInfo(backend=self.name, device="cpu", load_seconds=0.0, cold_start=cold)

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        if params.pipeline_type not in GRID_CELLS:
            raise BackendError("validation_error", f"unknown pipeline_type {params.pipeline_type!r}", retryable=False)
        try:
            state = self._make_state(image, params)
        except Exception as error:  # a bug or an undecodable image: report it in the API's terms
            raise BackendError("generation_error", f"relief generation failed: {error}", retryable=True) from error
        preview = None
        if params.render_preview:
            try:
                preview = render_preview(state)
            except Exception as error:
                raise BackendError("rendering_error", f"relief preview failed: {error}", retryable=True) from error
        return GenerateOutput(state=state, preview_mp4=preview)

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        mask, texture, shape = read_state(state)
        if params.decimation_target < MIN_TRIANGLES:
            raise BackendError("validation_error", f"decimation_target must be at least {MIN_TRIANGLES}", retryable=False)
        if not 1 <= params.texture_size <= MAX_TEXTURE_SIZE:
            raise BackendError("validation_error", f"texture_size must be 1..{MAX_TEXTURE_SIZE}", retryable=False)
        try:
            mesh = build_relief_mesh(mask_for_triangle_budget(mask, params.decimation_target), shape)
            webp = params.extension_webp
            return write_glb(mesh, texture_image(texture, params.texture_size, webp=webp), webp=webp)
        except Exception as error:
            raise BackendError("extraction_error", f"relief extraction failed: {error}", retryable=True) from error

    def after_call(self) -> str | None:
        return None  # nothing accumulates between calls on the CPU

    def _make_state(self, image: Image.Image, params: GenerateParams) -> GenerationState:
        foreground = extract_foreground(image, GRID_CELLS[params.pipeline_type], TEXTURE_CAP_PX[params.pipeline_type])
        rows, cols = foreground.mask.shape
        scale = MODEL_EXTENT / max(rows, cols)
        thickness_jitter, bevel_jitter = np.random.default_rng(params.seed).uniform(-1.0, 1.0, size=2)
        half_thickness = HALF_THICKNESS * (1.0 + SEED_THICKNESS_JITTER * float(thickness_jitter))
        meta = {
            "format": STATE_FORMAT,
            "seed": params.seed,
            "pipeline_type": params.pipeline_type,
            "mask_source": foreground.source,
            "width": cols * scale,
            "height": rows * scale,
            "half_thickness": half_thickness,
            "rim_half_thickness": RIM_SHARE * half_thickness,
            "bevel_width": BEVEL_WIDTH * (1.0 + SEED_BEVEL_JITTER * float(bevel_jitter)),
        }
        arrays = {"mask": foreground.mask.astype(np.uint8), "texture": foreground.texture}
        return GenerationState(backend=self.name, arrays=arrays, meta=meta)


def render_preview(state: GenerationState) -> bytes:
    mask, texture, shape = read_state(state)
    mesh = build_relief_mesh(mask_for_triangle_budget(mask, PREVIEW_TRIANGLES), shape)
    small = Image.fromarray(texture, "RGB")
    small.thumbnail((PREVIEW_TEXTURE_PX, PREVIEW_TEXTURE_PX), Image.BILINEAR)
    frames = turntable_frames(mesh, np.asarray(small), frame_count=PREVIEW_FRAMES, size=PREVIEW_SIZE_PX)
    return encode_mp4(frames, fps=PREVIEW_FPS)


def read_state(state: GenerationState) -> tuple[np.ndarray, np.ndarray, ReliefShape]:
    """The mask, texture and shape of a relief state, or a validation_error if it is not one."""

    def invalid(reason: str) -> BackendError:
        return BackendError("validation_error", f"not a usable relief state: {reason}", retryable=False)

    if state.backend != ReliefBackend.name:
        raise invalid(f"it was made by the {state.backend!r} backend")
    if state.meta.get("format") != STATE_FORMAT:
        raise invalid(f"format {state.meta.get('format')!r}, expected {STATE_FORMAT!r}")
    mask, texture = state.arrays.get("mask"), state.arrays.get("texture")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 2 or mask.size == 0:
        raise invalid("mask must be a non-empty 2-D uint8 array")
    if not isinstance(texture, np.ndarray) or texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3 or texture.size == 0:
        raise invalid("texture must be a non-empty [H, W, 3] uint8 array")
    if not mask.any():
        raise invalid("mask is empty")
    try:
        shape = ReliefShape(**{field: float(state.meta[field]) for field in ReliefShape.__dataclass_fields__})
    except (KeyError, TypeError, ValueError) as error:
        raise invalid(f"shape metadata: {error}") from error
    sizes = (shape.width, shape.height, shape.half_thickness, shape.rim_half_thickness, shape.bevel_width)
    if not all(math.isfinite(size) and 0.0 < size <= 1.0 for size in sizes):
        raise invalid("shape sizes must lie in (0, 1]")
    return mask.astype(bool), texture, shape
