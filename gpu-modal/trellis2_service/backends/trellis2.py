"""The real backend: Microsoft TRELLIS.2-4B on a CUDA GPU (Modal A100-80GB).

Importing this module is cheap and torch-free, so the service, its tests and the CPU-only API container
can import it; torch, cv2, trellis2 and o_voxel are imported by `load()` inside the GPU container, where
the TRELLIS.2 checkout (with its o-voxel submodule) lives at TRELLIS2_ROOT (default /opt/TRELLIS.2).

Calls follow the official example at the pinned commit: `pipeline.run(...)[0]` -> `mesh.simplify(16M)`
(nvdiffrast's face limit: the preview renderer and the GLB baker both rasterise this mesh, so it is
applied once, right after decoding and before the state is packed) -> preview
`render_utils.make_pbr_vis_frames(render_utils.render_video(mesh, resolution=R, envmap=...), resolution=R)`
at 15 fps (R = 512 by default, the seed's size; upstream's default is 1024, four times the pixels) ->
upstream's `o_voxel.postprocess.to_glb`, split by trellis2_glb so one call extracts every preset of a state
(state uploaded once, the preset-independent head once, each preset's CPU tail beside the next preset's GPU
work). The HDRI read, the GLB export and the MP4 encoding (on the container's reserved cores) are the shared
functions of trellis2_io, which the CPU proofs (tests_gpu_parity/) run with the GPU image's versions.

Background removal: upstream's pipeline.json names its BiRefNet class with briaai/RMBG-2.0 weights (CC BY-NC
4.0); TRELLIS2_REMBG_MODEL picks the weights that class loads (ZhengPeng7/BiRefNet, MIT, for commercial use),
substituted while from_pretrained builds the pipeline, so the weights not chosen are never needed.

`low_vram` (upstream's default: on) moves every stage's model to the GPU and back on each call; on an
80 GB card it is switched off before `.cuda()` so the models stay resident (TRELLIS2_LOW_VRAM=1 restores
it for smaller cards). Failures map to the API's error codes; after a failure the CUDA cache is emptied so
the container can take the next input.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PIL import Image

from ..config import cpu_threads_from_env, low_vram_from_env, preview_resolution_from_env, rembg_model_from_env
from .base import BackendError, ExtractParams, GenerateOutput, GenerateParams, GenerationState, LoadInfo
from .gpu_hygiene import GpuHygienePolicy
from .trellis2_glb import GpuGlbSteps, extract_presets, finish_glb
from .trellis2_state import BACKEND_NAME, extract_inputs, state_from_mesh
from .trellis2_io import encode_preview_mp4, export_glb_bytes, read_hdri_rgb

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_ID = "microsoft/TRELLIS.2-4B"
TRELLIS_ROOT_ENV = "TRELLIS2_ROOT"
DEFAULT_TRELLIS_ROOT = "/opt/TRELLIS.2"
HDRI_PATH_ENV = "TRELLIS2_HDRI_PATH"
HDRI_RELATIVE_PATH = os.path.join("assets", "hdri", "forest.exr")
MAX_NUM_TOKENS = 49152
NVDIFFRAST_MAX_FACES = 16_777_216
DEFAULT_PREVIEW_FRAMES = 120  # 8 s at 15 fps, the seed's turntable
GLB_AABB = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
CUDA = "cuda"
# Set before torch / cv2 are first imported (they read them once). The image sets them too; these are
# the same values, for a container started some other way.
RUNTIME_ENV = {
    "OPENCV_IO_ENABLE_OPENEXR": "1",  # cv2 refuses to read the .exr HDRI otherwise
    "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",  # less fragmentation across resolutions
    "ATTN_BACKEND": "flash_attn",
}
KNOWN_GPUS = ("A100", "H100", "H200", "B200", "L40S", "A10G", "L4", "T4")


class Trellis2Backend:
    name = BACKEND_NAME

    def __init__(
        self,
        *,
        model_id: str = MODEL_ID,
        trellis_root: str | None = None,
        hdri_path: str | None = None,
        hygiene: GpuHygienePolicy | None = None,
        low_vram: bool | None = None,
        preview_resolution: int | None = None,
        preview_frames: int = DEFAULT_PREVIEW_FRAMES,
        rembg_model: str | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        self.model_id = model_id
        self.trellis_root = trellis_root or os.environ.get(TRELLIS_ROOT_ENV) or DEFAULT_TRELLIS_ROOT
        self.hdri_path = hdri_path or os.environ.get(HDRI_PATH_ENV) or os.path.join(self.trellis_root, HDRI_RELATIVE_PATH)
        self.hygiene = hygiene or GpuHygienePolicy.from_env()
        # Unset: from TRELLIS2_LOW_VRAM (default off) and TRELLIS2_PREVIEW_RESOLUTION (default 512).
        self.low_vram = low_vram_from_env() if low_vram is None else low_vram
        self.preview_resolution = preview_resolution_from_env() if preview_resolution is None else preview_resolution
        self.preview_frames = preview_frames
        # Unset: TRELLIS2_REMBG_MODEL (default upstream's briaai/RMBG-2.0) and TRELLIS2_GPU_CPU (default 4).
        self.rembg_model = rembg_model or rembg_model_from_env()
        self.rembg_model_configured: str | None = None  # what upstream's pipeline.json named, once loaded
        self.cpu_threads = cpu_threads or cpu_threads_from_env()
        self._cpu_tail = ThreadPoolExecutor(max_workers=self.cpu_threads, thread_name_prefix="glb-tail")
        self._glb_steps: Any = None
        self._lock = threading.RLock()  # one GPU job at a time, and one load
        self._torch: Any = None
        self._pipeline: Any = None
        self._envmap: Any = None
        self._render_utils: Any = None
        self._postprocess: Any = None
        self._device_name = CUDA  # replaced by the GPU's short name once loaded
        self._load_seconds = 0.0

    def load(self) -> LoadInfo:
        with self._lock:
            if self._pipeline is not None:
                return LoadInfo(backend=self.name, device=self._device_name, load_seconds=self._load_seconds, cold_start=False)
            started = time.monotonic()
            try:
                self._load_models()
            except Exception as error:
                self._pipeline = None
                raise BackendError("not_ready", f"TRELLIS.2 failed to load: {type(error).__name__}: {error}", retryable=True) from error
            self._load_seconds = time.monotonic() - started
            return LoadInfo(backend=self.name, device=self._device_name, load_seconds=self._load_seconds, cold_start=True)

    def generate(self, image: Image.Image, params: GenerateParams) -> GenerateOutput:
        self.load()
        with self._lock:
            mesh, state = self.generate_mesh(image, params)
            try:
                preview = self.render_preview(mesh) if params.render_preview else None
            finally:
                del mesh  # GPU tensors: release before the caller's after_call() cleanup
            return GenerateOutput(state=state, preview_mp4=preview)

    # The two halves of generate(), separately, for `verify` (which times each step).
    def generate_mesh(self, image: Image.Image, params: GenerateParams) -> tuple[Any, GenerationState]:
        self.load()
        with self._lock:
            return self._on_gpu("generation_error", "generation", lambda: self._run_pipeline(image, params))

    def render_preview(self, mesh: Any) -> bytes:
        with self._lock:
            return self._on_gpu("rendering_error", "preview rendering", lambda: self._render_preview(mesh))

    def extract_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        return self.extract_glbs(state, [params])[0]

    def extract_glbs(self, state: GenerationState, params: Sequence[ExtractParams]) -> list[bytes]:
        """One GLB per entry of `params`, in that order, from one upload of the state (trellis2_glb)."""
        inputs = extract_inputs(state)  # validation_error before touching the GPU
        self.load()
        with self._lock:
            return self._on_gpu("extraction_error", "GLB extraction", lambda: extract_presets(
                self._glb_steps, inputs, list(params), finish=self._finish_glb, submit=self._cpu_tail.submit))

    def _finish_glb(self, baked: Any, extension_webp: bool) -> bytes:
        return finish_glb(baked, extension_webp, threads=self.cpu_threads)

    @property
    def background_removals(self) -> int:
        """How many times the background-removal model ran (preprocess_image skips it for images with alpha)."""
        rembg = getattr(self._pipeline, "rembg_model", None)
        return rembg.calls if isinstance(rembg, CountedCalls) else 0

    def after_call(self) -> str | None:
        """Free what the call left behind; retire the container if memory keeps growing (leaks)."""
        if self._torch is None:
            return None
        with self._lock:
            self._free_cuda_cache()
            cuda = self._torch.cuda
            return self.hygiene.record_call(cuda.memory_allocated(), cuda.memory_reserved())

    def _load_models(self) -> None:
        for key, value in RUNTIME_ENV.items():
            os.environ.setdefault(key, value)
        if os.path.isdir(self.trellis_root) and self.trellis_root not in sys.path:
            sys.path.insert(0, self.trellis_root)
        import cumesh
        import nvdiffrast.torch
        import o_voxel.postprocess
        import torch
        import trellis2.pipelines.trellis2_image_to_3d as pipeline_module
        from flex_gemm.ops.grid_sample import grid_sample_3d
        from trellis2.pipelines import Trellis2ImageTo3DPipeline
        from trellis2.renderers import EnvMap
        from trellis2.utils import render_utils

        if not torch.cuda.is_available():
            raise RuntimeError("no CUDA device")
        # The HDRI first: it is cheap, and a cv2 without OpenEXR should fail before minutes of model loading.
        envmap = EnvMap(torch.tensor(read_hdri_rgb(self.hdri_path), dtype=torch.float32, device=CUDA))
        chosen = ChosenRembgWeights(pipeline_module.rembg, self.rembg_model)
        pipeline_module.rembg = chosen
        try:
            pipeline = Trellis2ImageTo3DPipeline.from_pretrained(self.model_id)
        finally:
            pipeline_module.rembg = chosen.module
        self.rembg_model_configured = chosen.configured
        pipeline.rembg_model = CountedCalls(pipeline.rembg_model)  # verify checks that it ran on an opaque photo
        pipeline.low_vram = self.low_vram  # must be set before .cuda(): to() skips the move when it is on
        pipeline.cuda()

        self._torch, self._render_utils, self._postprocess = torch, render_utils, o_voxel.postprocess
        self._pipeline, self._envmap = pipeline, envmap
        self._glb_steps = GpuGlbSteps(torch, cumesh, nvdiffrast.torch, grid_sample_3d)
        properties = torch.cuda.get_device_properties(0)
        self._device_name = short_gpu_name(properties.name, properties.total_memory)
        self._free_cuda_cache()
        self.hygiene.set_baseline(torch.cuda.memory_allocated())

    def _run_pipeline(self, image: Image.Image, params: GenerateParams) -> tuple[Any, GenerationState]:
        mesh = self._pipeline.run(
            image,
            seed=params.seed,
            sparse_structure_sampler_params={"steps": params.ss_sampling_steps, "guidance_strength": params.ss_guidance_strength},
            shape_slat_sampler_params={"steps": params.shape_slat_sampling_steps, "guidance_strength": params.shape_slat_guidance_strength},
            tex_slat_sampler_params={"steps": params.tex_slat_sampling_steps, "guidance_strength": params.tex_slat_guidance_strength},
            preprocess_image=True,
            pipeline_type=params.pipeline_type,
            max_num_tokens=MAX_NUM_TOKENS,
        )[0]
        mesh.simplify(NVDIFFRAST_MAX_FACES)
        return mesh, state_from_mesh(mesh, {"seed": params.seed, "pipeline_type": params.pipeline_type})

    def _render_preview(self, mesh: Any) -> bytes:
        render_utils = self._render_utils
        size = self.preview_resolution
        views = render_utils.render_video(mesh, resolution=size, num_frames=self.preview_frames, envmap=self._envmap)
        return encode_preview_mp4(render_utils.make_pbr_vis_frames(views, resolution=size), threads=self.cpu_threads)

    def upstream_glb(self, state: GenerationState, params: ExtractParams) -> bytes:
        """upstream's own to_glb in one piece, for `verify` to compare extract_glbs with (not used by the service)."""
        inputs = extract_inputs(state)
        self.load()
        with self._lock:
            torch = self._torch
            scene = self._postprocess.to_glb(
                vertices=torch.from_numpy(inputs.vertices).to(CUDA), faces=torch.from_numpy(inputs.faces).to(CUDA),
                attr_volume=torch.from_numpy(inputs.attrs).to(CUDA), coords=torch.from_numpy(inputs.coords).to(CUDA),
                attr_layout=inputs.layout, aabb=GLB_AABB, voxel_size=inputs.voxel_size,
                decimation_target=params.decimation_target, texture_size=params.texture_size, remesh=params.remesh,
                remesh_band=params.remesh_band, remesh_project=params.remesh_project, verbose=False)
            return export_glb_bytes(scene, extension_webp=params.extension_webp)

    def _on_gpu(self, code: str, what: str, work: Callable[[], T]) -> T:
        """Run `work`, turning its failure into the API's error. The cache is emptied only after the
        except block: until then the traceback keeps the failed step's frames, and their tensors, alive."""
        try:
            return work()
        except BackendError:
            raise
        except Exception as error:
            # The formatted text, not exc_info: a log record holding the traceback would keep tensors alive.
            LOGGER.error("%s failed:\n%s", what, traceback.format_exc())
            failure = classify_failure(error, code, what)
        self._free_cuda_cache()
        raise failure

    def _free_cuda_cache(self) -> None:
        gc.collect()
        if self._torch is not None:
            self._torch.cuda.empty_cache()


class ChosenRembgWeights:
    """Stands in for `trellis2.pipelines.rembg` while from_pretrained builds the pipeline: the class that
    pipeline.json names (upstream: BiRefNet), constructed with the weights chosen at deploy time instead of the
    ones pipeline.json names (which it records in `configured`)."""

    def __init__(self, module: Any, model_name: str) -> None:
        self.module, self.model_name = module, model_name
        self.configured: str | None = None

    def __getattr__(self, class_name: str) -> Any:
        upstream_class = getattr(self.module, class_name)

        def construct(**args: Any) -> Any:
            self.configured = args.get("model_name")
            return upstream_class(**{**args, "model_name": self.model_name})

        return construct


class CountedCalls:
    """The rembg model, counting its calls; everything else (to, cpu, cuda, ...) passes through."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def classify_failure(error: BaseException, code: str, what: str) -> BackendError:
    """cuda_oom for GPU memory exhaustion, else `code`. Retryable either way: after cleanup, or in a fresh
    container, the same request often succeeds."""
    if is_cuda_oom(error):
        return BackendError("cuda_oom", f"GPU out of memory during {what}: {error}", retryable=True)
    return BackendError(code, f"{what} failed: {type(error).__name__}: {error}", retryable=True)


def is_cuda_oom(error: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError (torch.OutOfMemoryError since 2.5), or a CUDA extension's RuntimeError
    saying so, anywhere in the cause chain. By name, so this works without importing torch."""
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(cls.__name__ == "OutOfMemoryError" for cls in type(current).__mro__):
            return True
        message = str(current).lower()
        if isinstance(current, RuntimeError) and "out of memory" in message and "cuda" in message:
            return True
        current = current.__cause__ or current.__context__
    return False


def short_gpu_name(raw_name: str, total_memory_bytes: int) -> str:
    """'NVIDIA A100-SXM4-80GB' -> 'A100-80GB', as Modal names its GPU types; unknown names pass through."""
    words = re.split(r"[\s_-]+", raw_name.upper())
    for model in KNOWN_GPUS:
        if model in words:
            if model == "A100":
                return "A100-80GB" if total_memory_bytes > 60 * 1024**3 else "A100-40GB"
            return model
    return raw_name
