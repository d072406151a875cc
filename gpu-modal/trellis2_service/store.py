"""States, previews and job records on disk, with expiry.

Locally this is a plain directory; on Modal it is a Volume mount shared by the API and GPU containers, so
the store calls the Volume's `commit()` after each write and `reload()` before reading something another
container may have written. Volumes never expire anything: `purge_expired()` does, at writes (at most
every few minutes) and from a scheduled Modal function.

Layout:
    <root>/states/st_<32 hex>/{state.bin, preview.mp4, meta.json}
    <root>/jobs/job_<32 hex>/{record.json, <blob>.bin}
`meta.json` and `record.json` are written last (atomically), so a directory without one is an unfinished
write and is purged once it is older than the TTL.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import ServiceError
from .ids import is_job_id, is_state_id, new_state_id, require_job_id, require_state_id

log = logging.getLogger("trellis2.store")

PURGE_INTERVAL_SECONDS = 600
JOB_BLOB_NAMES = frozenset({"state", "video", "glb"})


class Store:
    def __init__(
        self,
        root: Path | str,
        *,
        ttl_seconds: int,
        commit: Callable[[], None] | None = None,
        reload: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root).resolve()
        self.ttl_seconds = ttl_seconds
        self._commit_hook = commit
        self._reload_hook = reload
        self._clock = clock
        # One lock around file access and reload: a Volume refuses to reload while one of its files is open.
        self._lock = threading.RLock()
        self._last_purge = 0.0
        self._states = self.root / "states"
        self._jobs = self.root / "jobs"
        self._states.mkdir(parents=True, exist_ok=True)
        self._jobs.mkdir(parents=True, exist_ok=True)

    # --- Volume hooks ----------------------------------------------------------------------------------
    def commit(self) -> None:
        if self._commit_hook:
            with self._lock:
                self._commit_hook()

    def reload(self) -> None:
        if self._reload_hook:
            with self._lock:
                try:
                    self._reload_hook()
                except Exception as exc:  # a busy Volume: read what this container already sees
                    log.warning("store reload failed: %s", exc)

    # --- States ----------------------------------------------------------------------------------------
    def put_state(self, state_blob: bytes, preview_mp4: bytes | None) -> tuple[str, float]:
        """Keep a signed state (and its preview) under a new id until now + TTL."""
        state_id = new_state_id()
        now = self._clock()
        expires_at = now + self.ttl_seconds
        with self._lock:
            directory = self._state_dir(state_id)
            directory.mkdir()
            _write_atomic(directory / "state.bin", state_blob)
            if preview_mp4:
                _write_atomic(directory / "preview.mp4", preview_mp4)
            _write_json(directory / "meta.json", {"created_at": now, "expires_at": expires_at})
        self.commit()
        self._maybe_purge()
        return state_id, expires_at

    def get_state_blob(self, state_id: str) -> bytes:
        return self._read_state_file(state_id, "state.bin")

    def require_state(self, state_id: str) -> None:
        """Raise state_not_found unless the state exists and has not expired (an up-front check for jobs)."""
        self._read_state_file(state_id, "meta.json")

    def get_preview(self, state_id: str) -> bytes:
        return self._read_state_file(state_id, "preview.mp4")

    def _read_state_file(self, state_id: str, filename: str) -> bytes:
        directory = self._state_dir(state_id)
        for attempt in range(2):
            with self._lock:
                meta = _read_json(directory / "meta.json")
                if meta is not None:
                    if float(meta.get("expires_at", 0)) <= self._clock():
                        self._remove(directory)
                        break
                    data = _read_bytes(directory / filename)
                    if data is not None:
                        return data
                    break
            if attempt == 0:
                self.reload()  # written by another container, perhaps: look again once
        raise ServiceError.of("state_not_found", f"state {state_id} is unknown or expired; generate it again")

    def _state_dir(self, state_id: str) -> Path:
        return _child(self._states, require_state_id(state_id))

    # --- Jobs ------------------------------------------------------------------------------------------
    def put_job(self, record: dict[str, Any]) -> None:
        job_id = require_job_id(record["job_id"])
        with self._lock:
            directory = _child(self._jobs, job_id)
            directory.mkdir(exist_ok=True)
            _write_json(directory / "record.json", record)
        self.commit()
        self._maybe_purge()

    def get_job(self, job_id: str, *, fresh: bool = True) -> dict[str, Any] | None:
        """The job's record, or None if unknown or expired. `fresh` reloads first (status changes elsewhere)."""
        directory = _child(self._jobs, require_job_id(job_id))
        if fresh:
            self.reload()
        with self._lock:
            record = _read_json(directory / "record.json")
            if record is None:
                return None
            if float(record.get("expires_at", 0)) <= self._clock():
                self._remove(directory)
                return None
            return record

    def put_job_call(self, job_id: str, call_id: str) -> None:
        """The runner's handle on the job (a Modal FunctionCall id), kept apart from the record the worker writes."""
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            directory.mkdir(exist_ok=True)
            _write_atomic(directory / "call.txt", call_id.encode())
        self.commit()

    def get_job_call(self, job_id: str) -> str | None:
        with self._lock:
            data = _read_bytes(_child(self._jobs, require_job_id(job_id)) / "call.txt")
        return data.decode() if data else None

    def put_job_blobs(self, job_id: str, blobs: dict[str, bytes]) -> None:
        """Heavy result fields, kept beside the record; call before the record says `succeeded`."""
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            directory.mkdir(exist_ok=True)
            for name, data in blobs.items():
                if name not in JOB_BLOB_NAMES:
                    raise ValueError(f"unknown job blob {name!r}")
                _write_atomic(directory / f"{name}.bin", data)
        # No commit here: put_job() with the final record follows and commits both.

    def get_job_blob(self, job_id: str, name: str) -> bytes | None:
        if name not in JOB_BLOB_NAMES:
            raise ValueError(f"unknown job blob {name!r}")
        with self._lock:
            return _read_bytes(_child(self._jobs, require_job_id(job_id)) / f"{name}.bin")

    # --- Expiry ----------------------------------------------------------------------------------------
    def purge_expired(self) -> int:
        """Delete expired states and jobs, and unfinished writes older than the TTL. Returns how many."""
        now = self._clock()
        removed = 0
        with self._lock:
            kinds = ((self._states, "meta.json", is_state_id), (self._jobs, "record.json", is_job_id))
            for parent, marker, valid in kinds:
                for directory in list(parent.iterdir()):
                    if not valid(directory.name) or not directory.is_dir():
                        continue  # never touch what this store did not make
                    info = _read_json(directory / marker)
                    if info is not None:
                        expired = float(info.get("expires_at", 0)) <= now
                    else:
                        expired = directory.stat().st_mtime + self.ttl_seconds <= now
                    if expired:
                        self._remove(directory)
                        removed += 1
            self._last_purge = now
        if removed:
            self.commit()
            log.info("purged %d expired entries", removed)
        return removed

    def _maybe_purge(self) -> None:
        if self._clock() - self._last_purge >= PURGE_INTERVAL_SECONDS:
            self.purge_expired()

    def _remove(self, directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)


def _child(parent: Path, validated_id: str) -> Path:
    # The id was validated against a strict pattern already; this second check costs nothing.
    path = parent / validated_id
    if path.parent != parent or path.name != validated_id:
        raise ServiceError.of("validation_error", "invalid id")
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps(value, separators=(",", ":")).encode())


def _read_bytes(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        log.warning("unreadable %s, treating it as missing", path.name)
        return None
    return value if isinstance(value, dict) else None
