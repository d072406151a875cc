"""H.264 MP4 from RGB frames, with PyAV (bundled FFmpeg and libx264): used by both backends.

The file is written to a temporary path rather than to memory because `movflags=+faststart` (index at
the front, so a browser can start playing before the whole file arrived) needs FFmpeg to reopen and
rewrite its output, which it cannot do with a Python file object.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

import av
import numpy as np

CODEC = "libx264"
PIXEL_FORMAT = "yuv420p"  # what browsers and QuickTime decode
# x264 is deterministic for a fixed thread count. One thread (the default) keeps the bytes identical across
# machines for the CPU backend; the GPU backend passes the cores its container reserves (TRELLIS2_GPU_CPU),
# since every second the encoder takes there is an A100-second.
ENCODER_OPTIONS = {"crf": "23", "preset": "veryfast"}
MAX_ENCODER_THREADS = 16


def encode_mp4(frames: Iterable[np.ndarray], *, fps: int, threads: int = 1) -> bytes:
    """Encode uint8 [H, W, 3] RGB frames (all the same size) as an H.264 MP4 at `fps` frames per second,
    on `threads` encoder threads."""
    if not 1 <= threads <= MAX_ENCODER_THREADS:
        raise ValueError(f"threads must lie in 1..{MAX_ENCODER_THREADS}, got {threads}")
    options = {**ENCODER_OPTIONS, "threads": str(threads)}
    with tempfile.TemporaryDirectory(prefix="preview-") as folder:
        path = os.path.join(folder, "preview.mp4")
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = None
            for frame in frames:
                frame = _even_sized(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))
                if stream is None:
                    stream = container.add_stream(CODEC, rate=fps, options=dict(options))
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = PIXEL_FORMAT
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if stream is None:
                raise ValueError("no frames to encode")
            container.mux(stream.encode())  # flush the encoder's delayed frames
        with open(path, "rb") as file:
            return file.read()


def _even_sized(frame: np.ndarray) -> np.ndarray:
    """yuv420p halves the chroma resolution, so width and height must be even: repeat the last row/column."""
    height, width = frame.shape[:2]
    if height % 2 or width % 2:
        frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return frame
