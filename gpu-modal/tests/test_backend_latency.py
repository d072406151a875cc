"""The latency profile: padded to the scaled A100 time, measured with a fake clock (no real sleeping)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends import create_backend  # noqa: E402
from trellis2_service.backends.base import BackendError, ExtractParams, GenerateOutput, GenerateParams, GenerationState, LoadInfo  # noqa: E402
from trellis2_service.backends.latency import (  # noqa: E402
    SIMULATED_DEVICE,
    LatencyProfileBackend,
    extract_seconds,
    generate_seconds,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TimedBackend:
    """Takes `work_seconds` of (fake) time per call; fails when told to."""

    name = "timed"

    def __init__(self, clock: FakeClock, work_seconds: float) -> None:
        self.clock, self.work_seconds, self.fail = clock, work_seconds, False

    def _work(self) -> None:
        self.clock.now += self.work_seconds
        if self.fail:
            raise BackendError("generation_error", "boom", retryable=True)

    def load(self) -> LoadInfo:
        self._work()
        return LoadInfo(backend=self.name, device="cpu", load_seconds=self.work_seconds, cold_start=True)

    def generate(self, image, params) -> GenerateOutput:
        self._work()
        return GenerateOutput(state=GenerationState(backend=self.name, arrays={}), preview_mp4=None)

    def extract_glb(self, state, params) -> bytes:
        self._work()
        return b"glb"

    def after_call(self):
        return "inner reason"


def wrapped(work_seconds: float = 0.5, scale: float = 1.0):
    clock = FakeClock()
    inner = TimedBackend(clock, work_seconds)
    return LatencyProfileBackend(inner, scale=scale, clock=clock, sleep=clock.sleep), inner, clock


def elapsed(clock: FakeClock, call) -> float:
    started = clock.now
    call()
    return clock.now - started


@pytest.mark.parametrize(("pipeline_type", "seconds"), [("512", 10.0), ("1024", 25.0), ("1024_cascade", 30.0), ("1536_cascade", 90.0)])
def test_generate_takes_the_a100_time_of_its_pipeline_plus_the_video(pipeline_type, seconds):
    backend, _, clock = wrapped(scale=0.5)
    with_video = GenerateParams(pipeline_type=pipeline_type)
    without_video = GenerateParams(pipeline_type=pipeline_type, render_preview=False)
    assert elapsed(clock, lambda: backend.generate(None, without_video)) == pytest.approx(0.5 * seconds)
    assert elapsed(clock, lambda: backend.generate(None, with_video)) == pytest.approx(0.5 * (seconds + 7.5))
    assert generate_seconds(with_video) == seconds + 7.5


def test_extract_time_runs_from_the_fast_to_the_quality_preset():
    assert extract_seconds(ExtractParams(decimation_target=100_000, texture_size=1024)) == pytest.approx(15.0)
    assert extract_seconds(ExtractParams(decimation_target=1_000_000, texture_size=4096)) == pytest.approx(45.0)
    balanced = extract_seconds(ExtractParams(decimation_target=500_000, texture_size=2048))
    assert 15.0 < balanced < 45.0
    assert extract_seconds(ExtractParams(decimation_target=1_000, texture_size=512)) == pytest.approx(15.0)
    assert extract_seconds(ExtractParams(decimation_target=16_000_000, texture_size=4096)) == pytest.approx(45.0)
    backend, _, clock = wrapped(scale=0.1)
    assert elapsed(clock, lambda: backend.extract_glb(None, ExtractParams(decimation_target=500_000, texture_size=2048))) == pytest.approx(0.1 * balanced)


def test_only_the_remainder_beyond_real_compute_is_slept():
    backend, _, clock = wrapped(work_seconds=4.0, scale=1.0)
    backend.generate(None, GenerateParams(pipeline_type="512", render_preview=False))
    assert clock.sleeps == [pytest.approx(6.0)]
    slow, _, slow_clock = wrapped(work_seconds=20.0, scale=0.01)  # slower than the scaled target
    slow.generate(None, GenerateParams(pipeline_type="512"))
    assert slow_clock.sleeps == []


def test_first_load_is_a_simulated_cold_start_and_later_ones_are_not():
    backend, _, clock = wrapped(work_seconds=1.0, scale=0.5)
    first = backend.load()
    assert first.cold_start and first.device == SIMULATED_DEVICE and first.backend == "timed"
    assert first.load_seconds == pytest.approx(70.0)
    started = clock.now
    second = backend.load()
    assert not second.cold_start and clock.now - started == pytest.approx(1.0)


def test_failures_return_at_once_and_after_call_passes_through():
    backend, inner, clock = wrapped(work_seconds=1.0)
    inner.fail = True
    with pytest.raises(BackendError):
        backend.generate(None, GenerateParams())
    assert clock.sleeps == []
    assert backend.after_call() == "inner reason"


def test_negative_or_nan_scale_is_refused():
    for scale in (-1.0, float("nan")):
        with pytest.raises(ValueError):
            wrapped(scale=scale)


def test_real_clock_with_a_tiny_scale_sleeps_about_the_scaled_time():
    backend = create_backend("relief", latency_scale=0.002)  # 512 without video: 10 s -> 20 ms
    assert isinstance(backend, LatencyProfileBackend) and backend.name == "relief"
    started = time.monotonic()
    output = backend.generate(Image.new("RGB", (64, 64), "white"), GenerateParams(pipeline_type="512", render_preview=False))
    assert time.monotonic() - started >= 0.02
    assert output.state.backend == "relief"
