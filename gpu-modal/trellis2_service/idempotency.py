"""Idempotency keys for job submits: the header's rules and the request fingerprint.

A client sends `Idempotency-Key` on POST /jobs/...; the job ledger (job_ledger.py) binds (owner, key) to one job
with an atomic put-if-absent. A repeat with the same request gets the same job (202), a repeat with another
request is refused (422 idempotency_key_reused), and a key whose job failed retryably is bound to a new job.
docs/service-api.md has the contract.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ServiceError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,200}")


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    body_sha256: str  # what the key was first used for: a repeat must match it


def idempotency_key(header: str | None, kind: str, body: dict[str, Any]) -> IdempotencyKey | None:
    """The request's key and fingerprint, or None without the header; 400 for a malformed key."""
    if header is None:
        return None
    if not _KEY.fullmatch(header):
        raise ServiceError.of("validation_error", f"{HEADER} header: must be 1-200 characters of A-Z a-z 0-9 . _ : -")
    return IdempotencyKey(header, request_fingerprint(kind, body))


def request_fingerprint(kind: str, body: dict[str, Any]) -> str:
    """sha256 of the validated body with its defaults filled in, so `{"seed": 42}` and `{}` are the same.

    Field by field, strings hashed as they are: an inline state can be 256 MiB of base64, which one big
    JSON document would copy several times.
    """
    digest = hashlib.sha256(b"trellis2-request\x00" + kind.encode())
    for name in sorted(body):
        value = body[name]
        if isinstance(value, str):
            tag, encoded = b"s", value.encode()
        else:
            tag, encoded = b"j", json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        digest.update(b"\x00%s\x00%s%d\x00" % (name.encode(), tag, len(encoded)))
        digest.update(encoded)
    return digest.hexdigest()
