"""Is a GPU container warm? A cheap answer for /warmup, so warming up never costs a GPU container of its own.

GPU containers write `container:<id>` -> time of last activity into a shared mapping (a modal.Dict on
Modal) once the model is loaded and after every input, and delete it when they shut down. A container
is counted warm while its last activity is younger than the scale-down window (minus a margin): after
that Modal stops it, and a container killed without running its exit hook simply ages out.

/warmup then answers from this mapping (CPU only): warm -> nothing to do; not warm -> start ONE warm-up
call (spawned, not waited for), unless one was started within the last cold-start time. Many assets
asking at once therefore start at most one container, and none is taken from real work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("trellis2.warm")

CONTAINER_PREFIX = "container:"
WARMING_KEY = "warming_started_at"
MARGIN_SECONDS = 30.0
DEFAULT_WARMING_SECONDS = 300.0  # a cold start takes 2-2.5 min; after this a new warm-up may start


@dataclass(frozen=True)
class WarmAnswer:
    warm: bool
    started: bool
    container_id: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"warm": self.warm, "started": self.started}


class WarmSignal:
    def __init__(self, store: MutableMapping[str, Any], *, scaledown_window_seconds: float,
                 warming_seconds: float = DEFAULT_WARMING_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.fresh_seconds = max(scaledown_window_seconds - MARGIN_SECONDS, 1.0)
        self.warming_seconds = warming_seconds
        self.clock = clock

    # --- GPU container side --------------------------------------------------------------------------
    def mark_active(self, container_id: str) -> None:
        self.store[CONTAINER_PREFIX + container_id] = self.clock()

    def clear(self, container_id: str) -> None:
        self.store.pop(CONTAINER_PREFIX + container_id, None)

    # --- API side ------------------------------------------------------------------------------------
    def warm_container(self) -> str | None:
        """The id of a container active within its scale-down window, if any."""
        now = self.clock()
        for key, last_active in list(self.store.items()):
            if str(key).startswith(CONTAINER_PREFIX) and now - float(last_active) < self.fresh_seconds:
                return str(key)[len(CONTAINER_PREFIX):]
        return None

    def warm_or_start(self, start: Callable[[], Any]) -> WarmAnswer:
        """Nothing if a container is warm; else `start()` one warm-up unless one is already under way.
        If the signal cannot be read, nothing is started: a warm-up per asset is what this prevents, and
        the asset's real work starts a container anyway."""
        try:
            return self._warm_or_start(start)
        except Exception as exc:
            log.warning("warm signal unavailable (%s); not starting a warm-up", type(exc).__name__)
            return WarmAnswer(warm=False, started=False)

    def _warm_or_start(self, start: Callable[[], Any]) -> WarmAnswer:
        container = self.warm_container()
        if container is not None:
            return WarmAnswer(warm=True, started=False, container_id=container)
        now = self.clock()
        started_at = self.store.get(WARMING_KEY)
        if started_at is not None and now - float(started_at) < self.warming_seconds:
            return WarmAnswer(warm=False, started=False)
        self.store[WARMING_KEY] = now  # before start(): a concurrent request sees it and does not start another
        try:
            start()
        except Exception:
            self.store.pop(WARMING_KEY, None)  # nothing is starting: let the next request try again
            raise
        return WarmAnswer(warm=False, started=True)


def warmup_body(answer: WarmAnswer, *, device: str, backend: str, compute_seconds: float) -> dict[str, Any]:
    """The /warmup response when answered from the signal (docs/service-api.md): the usual fields, with
    `ready` = a container is warm now, and no cold start billed to this call (it waited for nothing)."""
    return {
        "ready": answer.warm, "device": device, "backend": backend, "load_seconds": None, "cold_start": False,
        "container_id": answer.container_id or "", **answer.fields(),
        "server_timing": {"compute_seconds": round(compute_seconds, 4), "queue_seconds": 0.0, "cold_start": False,
                          "load_seconds": None, "backend": backend, "device": "cpu"},
    }
