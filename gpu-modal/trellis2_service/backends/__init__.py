"""Backends: the real TRELLIS.2 pipeline (GPU, Modal), the CPU relief backend (development, tests) and the
wait backend (benchmarks: pure waiting, see wait.py).

`create_backend` is the only entry point the service layer needs. The trellis2 module is imported lazily
so that the service (and its tests) run on machines without torch or CUDA.
"""

from __future__ import annotations

from .base import Backend

BACKEND_NAMES = ("relief", "trellis2", "wait")


def create_backend(name: str, *, latency_scale: float | None = None) -> Backend:
    """Build the backend called `name`; with `latency_scale`, wrap it so calls take as long as on an A100
    (times `latency_scale`)."""
    if name == "relief":
        from .relief import ReliefBackend

        backend: Backend = ReliefBackend()
    elif name == "trellis2":
        from .trellis2 import Trellis2Backend

        backend = Trellis2Backend()
    elif name == "wait":
        from .wait import WaitBackend

        backend = WaitBackend()
    else:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKEND_NAMES)}")
    if latency_scale is not None:
        from .latency import LatencyProfileBackend

        backend = LatencyProfileBackend(backend, scale=latency_scale)
    return backend
