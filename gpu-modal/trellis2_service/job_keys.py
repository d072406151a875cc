"""The job ledger's entries and the one primitive they need: a key-value store with an atomic put-if-absent.

On Modal that store is a `modal.Dict` (`put(key, value, skip_if_exists=True)` is atomic across containers;
entries expire 7 days after their last use). Locally it is `LocalDict`, files in the store folder. Nothing here
depends on links, renames or locks of a shared file system, which a Modal Volume does not promise.

Entries (all small JSON values):
    job/<job_id>          {owner, kind, request_id, created_at, include_video}: the API, once, before the call starts
    call/<job_id>         the function call id: the API after spawning it, and the call itself when it starts
    claim/<job_id>        "run" (the call started it) or "abandoned" (the API gave up on a call it never saw
                          start): put-if-absent, so exactly one wins
    attempts/<job_id>     how many times the job's call has started (its only writer is that call)
    key/<digest>/<n>      {job_id, body_sha256}: the n-th job an Idempotency-Key was bound to, put-if-absent
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol


class KeyValue(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def put(self, key: str, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Store `value`; with skip_if_exists, only if `key` is absent (atomically). Returns whether it stored."""


def job_key(job_id: str) -> str:
    return f"job/{job_id}"


def call_key(job_id: str) -> str:
    return f"call/{job_id}"


def claim_key(job_id: str) -> str:
    return f"claim/{job_id}"


def attempts_key(job_id: str) -> str:
    return f"attempts/{job_id}"


def binding_key(owner: str, idempotency_key: str, generation: int) -> str:
    digest = hashlib.sha256(b"trellis2-idempotency\x00" + owner.encode() + b"\x00" + idempotency_key.encode())
    return f"key/{digest.hexdigest()}/{generation}"


class LocalDict:
    """A KeyValue for one local service process: one JSON file per key, so entries outlive a restart.

    One process owns the folder, so a lock in this process makes put-if-absent atomic; files are replaced whole
    (write a temporary file, then `os.replace`), so a reader never sees half a value.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        path = self._path(key)
        with self._lock:
            try:
                return json.loads(path.read_text())["value"]
            except FileNotFoundError:
                return default

    def put(self, key: str, value: Any, *, skip_if_exists: bool = False) -> bool:
        path = self._path(key)
        data = json.dumps({"key": key, "value": value}, separators=(",", ":"))
        with self._lock:
            if skip_if_exists and path.exists():
                return False
            handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            try:
                with os.fdopen(handle, "w") as file:
                    file.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            return True

    def _path(self, key: str) -> Path:
        return self.root / (hashlib.sha256(key.encode()).hexdigest() + ".json")
