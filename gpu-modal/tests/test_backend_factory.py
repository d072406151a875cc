"""create_backend: names, the latency wrapper, and the MP4 encoder both backends share."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import av
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends import create_backend  # noqa: E402
from trellis2_service.backends.latency import LatencyProfileBackend  # noqa: E402
from trellis2_service.backends.relief import ReliefBackend  # noqa: E402
from trellis2_service.backends.trellis2 import Trellis2Backend  # noqa: E402
from trellis2_service.backends.video_encode import encode_mp4  # noqa: E402


def test_names_give_their_backends_and_a_scale_wraps_them():
    assert isinstance(create_backend("relief"), ReliefBackend)
    assert isinstance(create_backend("trellis2"), Trellis2Backend)
    wrapped = create_backend("trellis2", latency_scale=0.0)
    assert isinstance(wrapped, LatencyProfileBackend) and isinstance(wrapped.inner, Trellis2Backend)
    assert wrapped.name == "trellis2"
    with pytest.raises(ValueError):
        create_backend("hunyuan")


def test_encoder_pads_odd_frames_and_keeps_count_and_rate():
    frames = [np.full((33, 47, 3), value, dtype=np.uint8) for value in range(0, 250, 25)]
    data = encode_mp4(iter(frames), fps=15)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.average_rate == 15 and stream.codec_context.pix_fmt == "yuv420p"
    assert len(decoded) == 10 and decoded[0].shape == (34, 48, 3)
    assert abs(int(decoded[4][10, 10, 0]) - 100) < 8  # colours survive the round trip
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: the index comes first
    with pytest.raises(ValueError):
        encode_mp4([], fps=15)


def test_the_encoder_runs_on_the_threads_it_is_given():
    """x264 writes its settings into the stream (an SEI message): the thread count is there, as asked (x264
    lowers it for frames only a few macroblock rows high, hence 256 px)."""
    frames = [np.full((256, 384, 3), value, dtype=np.uint8) for value in range(0, 250, 25)]
    assert b"threads=1 " in encode_mp4(frames, fps=15)  # the default: bytes identical across machines
    four = encode_mp4(frames, fps=15, threads=4)
    assert b"threads=4 " in four
    with av.open(io.BytesIO(four)) as container:
        assert sum(1 for _ in container.decode(container.streams.video[0])) == 10
    with pytest.raises(ValueError):
        encode_mp4(frames, fps=15, threads=0)
