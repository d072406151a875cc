"""States, previews and job results on disk, with expiry.

Locally this is a plain directory; on Modal it is a Volume mount shared by the API and GPU containers, so
the store calls the Volume's `commit()` after each write and `reload()` before reading something another
container may have written. A Volume is last-writer-wins and promises no links, renames across directories or
locks, so every file here has one writer and is written once. Volumes never expire anything:
`purge_expired()` does, at writes (at most every few minutes) and from a scheduled Modal function.

Layout:
    <root>/states/st_<32 hex>/{state.bin, preview.mp4, meta.json}
    <root>/jobs/job_<32 hex>/<blob>.bin     (state, video, glb, glb-<preset>: written by the job's GPU call)
`meta.json` is written last, so a state directory without one is an unfinished write, purged once it is older
than the TTL; a job's results are purged once their directory is older than the TTL.
"""

from __future__ import annotations

import json
import logging
import os
import re
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
# A job's result files: state, video, glb, and glb-<preset> for each preset of a multi-preset extraction.
_BLOB_NAME = re.compile(r"(state|video|glb)|glb-[a-z0-9][a-z0-9_-]{0,31}")


class Store:
    def __init__(
        self,
        root: Path | str,
        *,
        ttl_seconds: int,
        commit: Callable[[], None] | None = None,
        reload: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        purge_on_write: bool = True,
    ) -> None:
        """`purge_on_write=False` leaves expiry to `purge_expired()` callers: GPU containers use it, since
        walking the store is CPU work that must not be paid at A100 rates."""
        self.root = Path(root).resolve()
        self._purge_on_write = purge_on_write
        self.ttl_seconds = ttl_seconds
        self._commit_hook = commit
        self._reload_hook = reload
        self._clock = clock
        # One lock around file access and reload: a Volume refuses to reload while one of its files is open.
        self._lock = threading.RLock()
        self._last_purge = 0.0
        self._states = self.root / "states"
        self._jobs = self.root / "jobs"
        for directory in (self._states, self._jobs):
            directory.mkdir(parents=True, exist_ok=True)

    # --- Volume hooks ----------------------------------------------------------------------------------
    def commit(self) -> None:
        if self._commit_hook:
            with self._lock:
                self._commit_hook()

    def reload(self) -> bool:
        """Look at what other containers committed; False if that failed (the view may be stale)."""
        if self._reload_hook:
            with self._lock:
                try:
                    self._reload_hook()
                except Exception as exc:  # a busy Volume: read what this container already sees
                    log.warning("store reload failed: %s", exc)
                    return False
        return True

    # --- States ----------------------------------------------------------------------------------------
    def put_state(self, state_blob: bytes, preview_mp4: bytes | None) -> tuple[str, float]:
        """Keep a signed state (and its preview) under a new id until now + TTL."""
        state_id = new_state_id()
        now = self._clock()
        expires_at = now + self.ttl_seconds
        with self._lock:
            directory = self._state_dir(state_id)
            directory.mkdir(parents=True)  # parents: a reload may have dropped folders never committed
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

    # --- Job results ----------------------------------------------------------------------------------
    # A job's heavy results, written by its GPU call and committed before the call returns (job_run.py); the
    # job's status and ownership live in the job ledger (job_ledger.py), never in files here.
    def put_job_blobs(self, job_id: str, blobs: dict[str, bytes]) -> None:
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            directory.mkdir(parents=True, exist_ok=True)
            for name, data in blobs.items():
                _write_atomic(directory / f"{require_blob_name(name)}.bin", data)
        self.commit()

    def get_job_blobs(self, job_id: str, names: list[str]) -> dict[str, bytes] | None:
        """The named results of a job, or None if any of them is not (yet) visible in this container."""
        blobs = {}
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            for name in names:
                data = _read_bytes(directory / f"{require_blob_name(name)}.bin")
                if data is None:
                    return None
                blobs[name] = data
        return blobs

    # --- Expiry ----------------------------------------------------------------------------------------
    def purge_expired(self) -> int:
        """Delete expired states, job results older than the TTL, and unfinished writes. Returns how many."""
        now = self._clock()
        removed = 0
        with self._lock:
            kinds = ((self._states, is_state_id, lambda d: _read_json(d / "meta.json")),
                     (self._jobs, is_job_id, lambda d: None))
            for parent, valid, read in kinds:
                for directory in list(parent.iterdir()):
                    if not valid(directory.name) or not directory.is_dir():
                        continue  # never touch what this store did not make
                    info = read(directory)
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
        if self._purge_on_write and self._clock() - self._last_purge >= PURGE_INTERVAL_SECONDS:
            self.purge_expired()

    def _remove(self, directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)


def require_blob_name(name: str) -> str:
    if not _BLOB_NAME.fullmatch(name):
        raise ValueError(f"unknown job result {name!r}")
    return name


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
