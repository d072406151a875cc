"""When a GPU container retires: memory growth over the post-load baseline, or a call limit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends.gpu_hygiene import GIB, GpuHygienePolicy  # noqa: E402


def test_memory_growth_past_the_limit_retires_and_stays_retired():
    policy = GpuHygienePolicy(growth_limit_bytes=8 * GIB, max_calls=500)
    policy.set_baseline(20 * GIB)
    assert policy.record_call(allocated_bytes=27 * GIB, reserved_bytes=40 * GIB) is None
    assert policy.record_call(allocated_bytes=28 * GIB, reserved_bytes=40 * GIB) is None  # exactly at the limit
    reason = policy.record_call(allocated_bytes=28 * GIB + 1, reserved_bytes=40 * GIB)
    assert reason is not None and reason.startswith("gpu_memory_growth")
    assert policy.record_call(allocated_bytes=20 * GIB, reserved_bytes=20 * GIB) == reason  # sticky
    assert (policy.last_allocated_bytes, policy.last_reserved_bytes) == (20 * GIB, 20 * GIB)


def test_call_limit_retires_on_the_last_allowed_call():
    policy = GpuHygienePolicy(growth_limit_bytes=GIB, max_calls=3)
    policy.set_baseline(0)
    assert [policy.record_call(0, 0) for _ in range(2)] == [None, None]
    assert policy.record_call(0, 0).startswith("call_limit")


def test_without_a_baseline_only_the_call_limit_applies():
    policy = GpuHygienePolicy(growth_limit_bytes=GIB, max_calls=2)
    assert policy.record_call(100 * GIB, 100 * GIB) is None


def test_limits_come_from_the_environment():
    policy = GpuHygienePolicy.from_env({"TRELLIS2_RETIRE_GROWTH_GIB": "2.5", "TRELLIS2_RETIRE_AFTER_CALLS": "7"})
    assert policy.growth_limit_bytes == int(2.5 * GIB) and policy.max_calls == 7
    defaults = GpuHygienePolicy.from_env({})
    assert defaults.growth_limit_bytes == 8 * GIB and defaults.max_calls == 500
    with pytest.raises(ValueError):
        GpuHygienePolicy.from_env({"TRELLIS2_RETIRE_AFTER_CALLS": "0"})
