"""The service's one error type and the mapping from backend failures to API errors.

Every error the API returns is a `ServiceError` with the HTTP status and code of the table in
docs/service-api.md. It travels between processes (a Modal GPU call, a stored job record) as a plain dict,
never as a pickled exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backends.base import BackendError

# code -> (HTTP status, retryable). The table of docs/service-api.md, and the one source of the codes: the
# TypeScript client reads libs/contracts/src/error-codes.json, written from this table by
# `python -m trellis2_service.errors > ../libs/contracts/src/error-codes.json` (a test keeps them equal).
ERROR_CODES: dict[str, tuple[int, bool]] = {
    "validation_error": (400, False),
    "unauthorized": (401, False),
    "not_found": (404, False),  # an unknown route (not in the contract's table; kept in the same shape)
    "state_not_found": (404, False),
    "job_not_found": (404, False),
    "method_not_allowed": (405, False),
    "job_not_finished": (409, True),
    "payload_too_large": (413, False),
    "idempotency_key_reused": (422, False),
    "rate_limited": (429, True),  # only sent by the local service's fault injection (faults.py)
    "cuda_oom": (503, True),
    "not_ready": (503, True),
    "generation_error": (500, True),
    "rendering_error": (500, True),
    "extraction_error": (500, True),
    "internal_error": (500, True),
    "poison_input": (500, False),  # a job whose every start killed its GPU container
}


@dataclass(eq=False)  # exceptions stay hashable by identity
class ServiceError(Exception):
    code: str
    message: str
    status: int = 500
    retryable: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def of(cls, code: str, message: str, *, retryable: bool | None = None) -> "ServiceError":
        status, default_retryable = ERROR_CODES.get(code, (500, True))
        return cls(code, message, status, default_retryable if retryable is None else retryable)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable, "status": self.status}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServiceError":
        return cls(str(data["code"]), str(data["message"]), int(data["status"]), bool(data["retryable"]))

    def body(self) -> dict[str, Any]:
        """The `error` object of a response (no status: that is the HTTP status)."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


def validation_error(message: str) -> ServiceError:
    return ServiceError.of("validation_error", message)


def looks_like_cuda_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (and its old alias torch.cuda.OutOfMemoryError), told apart without importing torch."""
    if type(exc).__name__ in {"OutOfMemoryError", "CudaOutOfMemoryError"}:
        return True
    text = str(exc)
    return "CUDA out of memory" in text or "CUDA error: out of memory" in text


def error_from_exception(exc: BaseException, *, failure_code: str) -> ServiceError:
    """Turn whatever the work raised into the API error it stands for.

    `failure_code` is the code of an unexpected failure of this kind of work (generation_error for
    generate, extraction_error for extract); its message never includes a traceback.
    """
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, BackendError):
        if exc.code == "cuda_oom" or looks_like_cuda_oom(exc):
            return ServiceError.of("cuda_oom", exc.message, retryable=True)
        if exc.code in ERROR_CODES:
            return ServiceError.of(exc.code, exc.message, retryable=exc.retryable)
        return ServiceError.of(failure_code, exc.message, retryable=exc.retryable)
    if looks_like_cuda_oom(exc):
        return ServiceError.of("cuda_oom", "the GPU ran out of memory; retry, or use a smaller pipeline_type")
    return ServiceError.of(failure_code, f"{failure_code.replace('_', ' ')}: {type(exc).__name__}")


def error_table() -> dict[str, dict[str, Any]]:
    """ERROR_CODES as the JSON the TypeScript side reads."""
    return {code: {"status": status, "retryable": retryable} for code, (status, retryable) in ERROR_CODES.items()}


if __name__ == "__main__":
    import json

    print(json.dumps(error_table(), indent=2))
