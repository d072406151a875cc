"""The CPU-side steps of the TRELLIS.2 backend, in one place so the CPU proofs test the very code the GPU runs.

- `read_hdri_rgb`: the preview's environment map (an OpenEXR file) as float32 RGB, through OpenCV;
- `export_glb_bytes`: the trimesh scene that `o_voxel.postprocess.to_glb` returns, as GLB bytes, with
  PNG textures or (extension_webp) WebP textures under EXT_texture_webp;
- `encode_preview_mp4`: the frames of `render_utils.make_pbr_vis_frames` as the preview MP4.

tests_gpu_parity/ runs these in gpu-modal/.venv-gpu-parity, which has the GPU image's exact versions of
opencv-python-headless, trimesh, numpy, Pillow and PyAV (gpu-image.lock.txt). Nothing here needs torch.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .video_encode import encode_mp4

PREVIEW_FPS = 15
OPENEXR_ENV = "OPENCV_IO_ENABLE_OPENEXR"


class HdriError(RuntimeError):
    """The environment map cannot be read; the message says why and what to check."""


def read_hdri_rgb(path: str) -> np.ndarray:
    """The HDRI at `path` as a float32 [H, W, 3] RGB array.

    OpenCV reads .exr only when OPENCV_IO_ENABLE_OPENEXR=1 (it reads the variable once per process, at the
    first EXR decode), and only if the wheel was built with OpenEXR (4.12.0.88-4.14.0.94 are; 5.x is not).
    Either failure makes cv2.imread return None or raise, so the error names both.
    """
    os.environ.setdefault(OPENEXR_ENV, "1")  # the image sets it; this covers a container started otherwise
    import cv2

    if not os.path.isfile(path):
        raise HdriError(f"the HDRI environment map {path} does not exist")
    try:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        reason = "imread returned nothing"
    except cv2.error as error:  # 4.12 raises "OpenEXR codec is disabled" when the flag is off
        image, reason = None, str(error).strip().splitlines()[-1]
    if image is None:
        raise HdriError(
            f"OpenCV cannot decode {path} ({reason}): {OPENEXR_ENV}={os.environ.get(OPENEXR_ENV)!r}, "
            f"OpenEXR in this cv2 build: {openexr_in_build()} (opencv-python-headless {cv2.__version__})"
        )
    if image.ndim != 3 or image.shape[2] < 3:
        raise HdriError(f"{path} is not a colour image (shape {image.shape})")
    rgb = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2RGB).astype(np.float32, copy=False)
    if not np.isfinite(rgb).all():
        raise HdriError(f"{path} holds non-finite values")
    return rgb


def openexr_in_build() -> str:
    """What cv2's build information says about OpenEXR ("build (ver 2.3.0)", "NO", or "unknown")."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("OpenEXR:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def export_glb_bytes(scene: Any, *, extension_webp: bool = False) -> bytes:
    """A trimesh Scene (or Trimesh) as GLB bytes; WebP textures (EXT_texture_webp) when asked.

    WebP files are smaller and encode faster than PNG at 2048-4096 px, but only viewers that read
    EXT_texture_webp show them (three.js, Babylon.js, model-viewer, Blender 3.4+; see docs/gpu-cost-model.md).
    """
    buffer = io.BytesIO()
    scene.export(buffer, file_type="glb", extension_webp=bool(extension_webp))
    return buffer.getvalue()


def encode_preview_mp4(frames: Sequence[np.ndarray], *, threads: int = 1) -> bytes:
    """Preview frames (uint8 RGB, all one size) as the service's H.264 MP4 at 15 fps, on `threads` threads."""
    return encode_mp4(frames, fps=PREVIEW_FPS, threads=threads)
