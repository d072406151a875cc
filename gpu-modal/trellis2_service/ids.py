"""Request, state and job ids: how they are made and the only test that lets one near a file path."""

from __future__ import annotations

import re
import secrets

from .errors import ServiceError

_REQUEST_ID = re.compile(r"req_[0-9a-f]{16}")
_STATE_ID = re.compile(r"st_[0-9a-f]{32}")
_JOB_ID = re.compile(r"job_[0-9a-f]{32}")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def new_state_id() -> str:
    return "st_" + secrets.token_hex(16)  # 128 random bits: unguessable, so the id is the capability


def new_job_id() -> str:
    return "job_" + secrets.token_hex(16)


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


def is_state_id(value: object) -> bool:
    return isinstance(value, str) and _STATE_ID.fullmatch(value) is not None


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def require_state_id(value: object) -> str:
    if not is_state_id(value):
        raise ServiceError.of("validation_error", "state_id must be 'st_' followed by 32 lowercase hex digits")
    return value  # type: ignore[return-value]


def require_job_id(value: object) -> str:
    if not is_job_id(value):
        raise ServiceError.of("validation_error", "job_id must be 'job_' followed by 32 lowercase hex digits")
    return value  # type: ignore[return-value]
