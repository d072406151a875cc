"""When a GPU container should retire: the policy, as plain arithmetic on memory readings.

TRELLIS.2 leaks GPU memory across hundreds of generations (upstream issues #63, #136), and a card that
is nearly full turns the next 1024/1536 generation into an OOM (#188). Emptying the cache after every
call helps but does not cure a leak, so the container stops taking inputs once allocated memory, after
cleanup, has grown too far above what the loaded model alone needed, or after a fixed number of calls.
Modal then starts a fresh container for the next input.

No torch here: the backend reads the numbers, this class decides, and tests run without a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

GIB = 1024**3
DEFAULT_GROWTH_LIMIT_GIB = 8.0
DEFAULT_MAX_CALLS = 500
GROWTH_LIMIT_ENV = "TRELLIS2_RETIRE_GROWTH_GIB"
MAX_CALLS_ENV = "TRELLIS2_RETIRE_AFTER_CALLS"


class GpuHygienePolicy:
    def __init__(self, *, growth_limit_bytes: int = int(DEFAULT_GROWTH_LIMIT_GIB * GIB), max_calls: int = DEFAULT_MAX_CALLS) -> None:
        if growth_limit_bytes <= 0 or max_calls <= 0:
            raise ValueError("growth limit and call limit must be positive")
        self.growth_limit_bytes = growth_limit_bytes
        self.max_calls = max_calls
        self.baseline_bytes: int | None = None
        self.calls = 0
        self.retire_reason: str | None = None
        self.last_allocated_bytes: int | None = None
        self.last_reserved_bytes: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GpuHygienePolicy:
        """Limits from the environment (GiB as a float, calls as an int), defaults otherwise."""
        growth_gib = float(env.get(GROWTH_LIMIT_ENV) or DEFAULT_GROWTH_LIMIT_GIB)
        max_calls = int(env.get(MAX_CALLS_ENV) or DEFAULT_MAX_CALLS)
        return cls(growth_limit_bytes=int(growth_gib * GIB), max_calls=max_calls)

    def set_baseline(self, allocated_bytes: int) -> None:
        """Allocated memory right after the model loaded and the cache was emptied."""
        self.baseline_bytes = allocated_bytes

    def record_call(self, allocated_bytes: int, reserved_bytes: int) -> str | None:
        """Readings after one call's cleanup; returns why to retire, or None. Once retiring, always retiring."""
        self.calls += 1
        self.last_allocated_bytes, self.last_reserved_bytes = allocated_bytes, reserved_bytes
        if self.retire_reason is None:
            self.retire_reason = self._reason(allocated_bytes)
        return self.retire_reason

    def _reason(self, allocated_bytes: int) -> str | None:
        if self.baseline_bytes is not None:
            growth = allocated_bytes - self.baseline_bytes
            if growth > self.growth_limit_bytes:
                return (
                    f"gpu_memory_growth: {growth / GIB:.2f} GiB allocated above the post-load baseline "
                    f"(limit {self.growth_limit_bytes / GIB:.2f} GiB)"
                )
        if self.calls >= self.max_calls:
            return f"call_limit: served {self.calls} calls (limit {self.max_calls})"
        return None
