"""States, previews and job records on disk, with expiry.

Locally this is a plain directory; on Modal it is a Volume mount shared by the API and GPU containers, so
the store calls the Volume's `commit()` after each write and `reload()` before reading something another
container may have written. Volumes never expire anything: `purge_expired()` does, at writes (at most
every few minutes) and from a scheduled Modal function.

Layout:
    <root>/states/st_<32 hex>/{state.bin, preview.mp4, meta.json}
    <root>/jobs/job_<32 hex>/{submit.json, call.txt, verdict.json, worker.json, <blob>.bin}
    <root>/idempotency/<64 hex>.json
`meta.json` and `submit.json` are written first-and-whole (atomically), so a directory without one is an
unfinished write and is purged once it is older than the TTL. An idempotency binding is purged once it has
expired and its job is gone.
"""

from __future__ import annotations

import hashlib
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
JOB_BLOB_NAMES = frozenset({"state", "video", "glb"})
SUBMIT_FILE, WORKER_FILE, VERDICT_FILE = "submit.json", "worker.json", "verdict.json"
FINAL_STATUSES = ("succeeded", "failed")
_IDEMPOTENCY_FILE = re.compile(r"[0-9a-f]{64}\.json")


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
        self._idempotency = self.root / "idempotency"
        for directory in (self._states, self._jobs, self._idempotency):
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
    # One writer per file, so no write can undo another on a last-writer-wins Volume:
    #   submit.json   the API, once, when the job is accepted (owner, kind, request id, created_at, ...)
    #   call.txt      the API: the runner's handle on the job (a Modal FunctionCall id)
    #   verdict.json  the API, only when it concluded the call died without recording an outcome
    #   worker.json   the GPU side: attempts, "running", then the outcome (result or error)
    # The status a caller sees is computed when reading (`_merge_job`): the worker's outcome beats the API's
    # verdict, so a poll can never turn a job the worker finished into a failure.
    def create_job(self, record: dict[str, Any]) -> None:
        job_id = require_job_id(record["job_id"])
        with self._lock:
            directory = _child(self._jobs, job_id)
            directory.mkdir(exist_ok=True)
            _write_json(directory / SUBMIT_FILE, record)
        self.commit()
        self._maybe_purge()

    def read_job(self, job_id: str, *, fresh: bool = True) -> tuple[dict[str, Any] | None, bool]:
        """(the job's effective record or None, whether this container's view was just reloaded).

        A caller that may write about the job (the API's verdict) writes only if the reload worked: a stale
        view is good enough to answer a poll, never to conclude anything.
        """
        directory = _child(self._jobs, require_job_id(job_id))
        reloaded = self.reload() if fresh else False
        with self._lock:
            record = _read_job_files(directory)
            if record is None:
                return None, reloaded
            if float(record.get("expires_at", 0)) <= self._clock():
                self._remove(directory)
                return None, reloaded
            return record, reloaded

    def get_job(self, job_id: str, *, fresh: bool = True) -> dict[str, Any] | None:
        """The job's record, or None if unknown or expired. `fresh` reloads first (status changes elsewhere)."""
        return self.read_job(job_id, fresh=fresh)[0]

    def put_job_verdict(self, job_id: str, error: dict[str, Any]) -> None:
        """The API's conclusion that the job's call ended without an outcome (never overrides one)."""
        now = self._clock()
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            _write_json(directory / VERDICT_FILE, {"status": "failed", "error": error, "updated_at": now,
                                                   "expires_at": now + self.ttl_seconds})
        self.commit()

    def job_attempts(self, job_id: str) -> int:
        """How many times the GPU side has started this job (read after get_job's reload)."""
        with self._lock:
            progress = _read_json(_child(self._jobs, require_job_id(job_id)) / WORKER_FILE) or {}
        return int(progress.get("attempts", 0))

    def put_job_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        """The GPU side's file: {"status": "running" | "succeeded" | "failed", "attempts", ...}."""
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            _write_json(directory / WORKER_FILE, progress)
        self.commit()
        self._maybe_purge()

    def put_job_call(self, job_id: str, call_id: str) -> None:
        """The runner's handle on the job (a Modal FunctionCall id), kept apart from the files the worker writes."""
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
        """Heavy result fields, kept beside the record; call before the worker's file says `succeeded`."""
        with self._lock:
            directory = _child(self._jobs, require_job_id(job_id))
            directory.mkdir(exist_ok=True)
            for name, data in blobs.items():
                if name not in JOB_BLOB_NAMES:
                    raise ValueError(f"unknown job blob {name!r}")
                _write_atomic(directory / f"{name}.bin", data)
        # No commit here: put_job_progress() with the outcome follows and commits both.

    def get_job_blob(self, job_id: str, name: str) -> bytes | None:
        if name not in JOB_BLOB_NAMES:
            raise ValueError(f"unknown job blob {name!r}")
        with self._lock:
            return _read_bytes(_child(self._jobs, require_job_id(job_id)) / f"{name}.bin")

    # --- Idempotency keys ------------------------------------------------------------------------------
    # <root>/idempotency/<sha256(owner, key)>.json = {"job_id", "body_sha256", "created_at", "expires_at"}.
    # The first binding is created write-once (os.link of a complete temporary file fails if the name
    # exists), so two submits racing in one container cannot both bind; rebinding a key whose job failed
    # replaces the file (callers hold their per-key lock for that).
    def get_idempotency(self, owner: str, key: str, *, fresh: bool = True) -> dict[str, Any] | None:
        if fresh:
            self.reload()
        with self._lock:
            return _read_json(self._idempotency_path(owner, key))

    def bind_idempotency(self, owner: str, key: str, binding: dict[str, Any], *, replace: bool = False) -> bool:
        """Map (owner, key) to a job. Without `replace`, only if unmapped; returns whether it was bound."""
        now = self._clock()
        value = {**binding, "created_at": now, "expires_at": now + self.ttl_seconds}
        path = self._idempotency_path(owner, key)
        with self._lock:
            if replace:
                _write_json(path, value)
            elif not _create_json(path, value):
                return False
        self.commit()
        return True

    def idempotency_file(self, owner: str, key: str) -> str:
        """The binding's file name: kept in the job's submit record so the worker can check it."""
        return self._idempotency_path(owner, key).name

    def idempotency_job(self, file_name: str) -> str | None:
        """Which job the binding in `file_name` names now (the worker's check against a lost race)."""
        if not _IDEMPOTENCY_FILE.fullmatch(file_name):
            return None
        with self._lock:
            binding = _read_json(self._idempotency / file_name)
        return binding.get("job_id") if binding else None

    def _idempotency_path(self, owner: str, key: str) -> Path:
        digest = hashlib.sha256(b"trellis2-idempotency\x00" + owner.encode() + b"\x00" + key.encode()).hexdigest()
        return self._idempotency / f"{digest}.json"

    # --- Expiry ----------------------------------------------------------------------------------------
    def purge_expired(self) -> int:
        """Delete expired states and jobs, and unfinished writes older than the TTL. Returns how many."""
        now = self._clock()
        removed = 0
        with self._lock:
            kinds = ((self._states, is_state_id, lambda d: _read_json(d / "meta.json")),
                     (self._jobs, is_job_id, _read_job_files))
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
            for path in list(self._idempotency.iterdir()):
                if not _IDEMPOTENCY_FILE.fullmatch(path.name):
                    continue
                binding = _read_json(path) or {}
                job_id = binding.get("job_id")
                job_kept = is_job_id(job_id) and (self._jobs / job_id).is_dir()
                if float(binding.get("expires_at", 0)) <= now and not job_kept:
                    path.unlink(missing_ok=True)
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


def _create_json(path: Path, value: dict[str, Any]) -> bool:
    """Write `path` only if it does not exist yet, whole or not at all. False if it existed."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    temporary.write_bytes(json.dumps(value, separators=(",", ":")).encode())
    try:
        os.link(temporary, path)  # atomic, and fails if the name is taken
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)


def _read_job_files(directory: Path) -> dict[str, Any] | None:
    return _merge_job({name: _read_json(directory / name) for name in (SUBMIT_FILE, WORKER_FILE, VERDICT_FILE)})


def _merge_job(files: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
    """The effective job record: the submit record, then the worker's file, then (only while the worker
    has recorded no outcome) the API's verdict. None without a submit record."""
    record = files.get(SUBMIT_FILE)
    if record is None:
        return None
    record = {**record, "attempts": 0}
    expiries = [float(record.get("expires_at", 0))]
    worker, verdict = files.get(WORKER_FILE), files.get(VERDICT_FILE)
    if worker is not None:
        record.update({key: worker[key] for key in ("status", "updated_at", "result", "error", "blobs", "attempts")
                       if key in worker})
        expiries.append(float(worker.get("expires_at", 0)))
    if verdict is not None and record.get("status") not in FINAL_STATUSES:
        record.update(status="failed", result=None, error=verdict["error"], updated_at=verdict["updated_at"])
        expiries.append(float(verdict.get("expires_at", 0)))
    record["expires_at"] = max(expiries)
    return record


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
