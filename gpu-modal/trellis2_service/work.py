"""The work itself, as plain functions over a backend: the same code runs in the local process and inside
the Modal GPU class.

Requests and results are plain data (dicts, bytes, a dataclass of them) so they can cross a Modal call.
Nothing here raises to its caller: every outcome, good or bad, is a `WorkResult`, and the caller learns
from `retire_reason` whether the backend wants its container retired.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Iterator
from typing import Any, Callable

from .backends.base import Backend, BackendError, ExtractParams, GenerateParams, LoadInfo
from .config import Settings
from .errors import ServiceError, error_from_exception
from .images import open_image
from .state_codec import StateFormatError, decode_state, encode_state
from .store import Store

log = logging.getLogger("trellis2.work")


@dataclass
class WorkResult:
    fields: dict[str, Any] = field(default_factory=dict)  # light response fields
    blobs: dict[str, bytes] = field(default_factory=dict)  # heavy ones: state, video, glb
    server_timing: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # ServiceError.to_dict()
    retire_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def generate_request(image: bytes, sampler: dict, *, state_mode: str, render_preview: bool) -> dict[str, Any]:
    return {"image": image, "sampler": sampler, "state_mode": state_mode, "render_preview": render_preview}


def extract_request(state: bytes | None, state_id: str | None, params: dict,
                    presets: dict[str, dict] | None = None) -> dict[str, Any]:
    """`presets` (name -> params): extract several GLBs from the one state in this call, instead of `params`."""
    return {"state": state, "state_id": state_id, "params": params, "presets": presets}


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def container_id() -> str:
    return os.environ.get("MODAL_TASK_ID") or f"local-{socket.gethostname()}-{os.getpid()}"


class GpuContainer:
    """One backend and the store it writes to. Calls run one at a time, like inputs on one GPU container."""

    def __init__(self, backend: Backend, store: Store, settings: Settings, *, device_name: str | None = None) -> None:
        self.backend = backend
        self.store = store
        self.settings = settings
        # On Modal the GPU type as Modal names it ("A100-80GB"), rather than whatever the backend reports.
        self.device_name = device_name
        self._lock = threading.Lock()
        self._load_info: LoadInfo | None = None
        self._unreported_cold_start = False  # the first call after a load reports cold_start=True

    # --- Loading ---------------------------------------------------------------------------------------
    def load(self) -> LoadInfo:
        """Load the model now (Modal's @enter, or the first call locally)."""
        with self._lock:
            return self._ensure_loaded()

    def _ensure_loaded(self) -> LoadInfo:
        if self._load_info is None:
            try:
                info = self.backend.load()
            except BackendError as exc:
                raise ServiceError.of(exc.code if exc.code == "cuda_oom" else "not_ready", exc.message) from exc
            except Exception as exc:
                log.exception("backend failed to load")
                raise ServiceError.of("not_ready", f"the model failed to load ({type(exc).__name__})") from exc
            self._load_info = info
            self._unreported_cold_start = info.cold_start
            log.info("backend %s loaded on %s in %.1f s", info.backend, info.device, info.load_seconds)
        return self._load_info

    def _timing(self, compute_seconds: float, queue_seconds: float, apart: dict[str, float]) -> dict[str, Any]:
        """`apart`: seconds of the call spent outside the model (codec_seconds, store_seconds), reported on their own."""
        info = self._load_info
        cold = self._unreported_cold_start
        self._unreported_cold_start = False
        return {
            "compute_seconds": round(max(compute_seconds - sum(apart.values()), 0.0), 4),
            "codec_seconds": round(apart.get("codec_seconds", 0.0), 4),
            "store_seconds": round(apart.get("store_seconds", 0.0), 4),
            "queue_seconds": round(max(queue_seconds, 0.0), 4),
            "cold_start": cold,
            "load_seconds": round(info.load_seconds, 3) if (cold and info) else None,
            "backend": info.backend if info else self.backend.name,
            "device": self._device(),
        }

    def _device(self) -> str:
        if self.device_name:
            return self.device_name
        return self._load_info.device if self._load_info else "unknown"

    # --- The three kinds of work ----------------------------------------------------------------------
    def warmup(self, submitted_at: float) -> WorkResult:
        return self._run("internal_error", submitted_at, lambda apart: self._warmup_fields())

    def generate(self, request: dict[str, Any], submitted_at: float) -> WorkResult:
        return self._run("generation_error", submitted_at, lambda apart: self._generate(request, apart))

    def extract(self, request: dict[str, Any], submitted_at: float) -> WorkResult:
        return self._run("extraction_error", submitted_at, lambda apart: self._extract(request, apart))

    def _run(self, failure_code: str, submitted_at: float, work: Callable[[dict[str, float]], tuple[dict, dict]]) -> WorkResult:
        with self._lock:
            started = time.time()
            result = WorkResult()
            try:
                self._ensure_loaded()
                begun = time.perf_counter()
                apart: dict[str, float] = {}
                result.fields, result.blobs = work(apart)
                result.server_timing = self._timing(time.perf_counter() - begun, started - submitted_at, apart)
            except Exception as exc:
                error = error_from_exception(exc, failure_code=failure_code)
                if error.status >= 500:
                    unexpected = not isinstance(exc, (ServiceError, BackendError))
                    log.error("work failed: %s (%s)", error.code, type(exc).__name__, exc_info=unexpected)
                result.error = error.to_dict()
            finally:
                result.retire_reason = self._after_call()
            return result

    def _after_call(self) -> str | None:
        try:
            reason = self.backend.after_call()
        except Exception:
            log.exception("after_call failed; retiring this container to be safe")
            return "after_call raised"
        if reason:
            log.warning("backend asks to retire this container: %s", reason)
        return reason

    def _warmup_fields(self) -> tuple[dict, dict]:
        info = self._load_info
        assert info is not None
        return {
            "ready": True,
            "device": self._device(),
            "backend": info.backend,
            "load_seconds": round(info.load_seconds, 3),
            "cold_start": self._unreported_cold_start,
            "container_id": container_id(),
        }, {}

    def _generate(self, request: dict[str, Any], apart: dict[str, float]) -> tuple[dict, dict]:
        image = open_image(request["image"])
        params = GenerateParams(**request["sampler"], render_preview=bool(request["render_preview"]))
        output = self.backend.generate(image, params)
        with _seconds(apart, "codec_seconds"):
            state_blob = encode_state(output.state, self.settings.state_secret)
        preview = output.preview_mp4 or None
        fields: dict[str, Any] = {"video_bytes": len(preview or b"")}
        blobs: dict[str, bytes] = {"video": preview} if preview else {}
        if request["state_mode"] == "reference":
            with _seconds(apart, "store_seconds"):
                state_id, expires_at = self.store.put_state(state_blob, preview)
            fields.update(state_id=state_id, state_expires_at=iso_utc(expires_at))
        else:
            if len(state_blob) * 4 / 3 > self.settings.body_limit_for("/extract_glb"):
                log.warning("inline state of %d bytes is too large to be sent back; clients should use "
                            "state_mode=reference", len(state_blob))
            blobs["state"] = state_blob
            fields.update(state_id=None, state_expires_at=None)
        return fields, blobs

    def _extract(self, request: dict[str, Any], apart: dict[str, float]) -> tuple[dict, dict]:
        blob = request["state"]
        if blob is None:
            with _seconds(apart, "store_seconds"):
                blob = self.store.get_state_blob(request["state_id"])
        try:
            with _seconds(apart, "codec_seconds"):
                state = decode_state(blob, self.settings.state_secret, max_bytes=self.settings.max_state_bytes)
        except StateFormatError as exc:
            raise ServiceError.of("validation_error", f"state: {exc}") from None
        if state.backend != self.backend.name:
            raise ServiceError.of(
                "validation_error", f"state: made by the {state.backend} backend, this service runs {self.backend.name}"
            )
        presets: dict[str, dict] | None = request.get("presets")
        if not presets:
            glb = self.backend.extract_glb(state, ExtractParams(**request["params"]))
            return _glb_fields(glb), {"glb": glb}
        glbs = self.backend.extract_glbs(state, [ExtractParams(**params) for params in presets.values()])
        return ({"presets": {name: _glb_fields(glb) for name, glb in zip(presets, glbs)}},
                {f"glb-{name}": glb for name, glb in zip(presets, glbs)})


def _glb_fields(glb: bytes) -> dict[str, Any]:
    return {"glb_bytes": len(glb), "glb_sha256": hashlib.sha256(glb).hexdigest()}


@contextlib.contextmanager
def _seconds(apart: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        apart[name] = apart.get(name, 0.0) + time.perf_counter() - started
