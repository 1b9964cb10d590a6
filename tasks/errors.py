"""Error classification, done once: which IAM failures a task may retry; the engine's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

T = TypeVar("T")

# Transient everywhere.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceFailure",
        "ServiceUnavailable",
        "InternalFailure",
        "ConcurrentModification",
        "EntityTemporarilyUnmodifiable",
    }
)
# IAM is eventually consistent: a DeleteUser right after the last detach may still conflict.
RETRYABLE_ON_DELETE_USER = RETRYABLE_CODES | {"DeleteConflict"}
CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


class OffboardError(Exception):
    """An error the engine reports to its caller as one line."""


class InvalidInputError(OffboardError, ValueError):
    """Bad input: refused before any AWS call."""


class RetryableError(OffboardError):
    """A failure AWS reports after the call itself succeeded (an asynchronous request that
    ended FAILED or did not end in time): worth the task's retries, as a transient error is."""

    def __init__(self, message: str, *, code: str, action: str) -> None:
        super().__init__(message)
        self.code = code
        self.action = action


class UserNotFoundError(OffboardError):
    def __init__(self, user_name: str) -> None:
        super().__init__(f"no IAM user named {user_name}")
        self.user_name = user_name


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def if_exists(call: Callable[[], T]) -> T | None:
    """The call's answer, or None when IAM says the entity does not exist."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def http_status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return int(status or 0)


def is_transient(exc: BaseException, codes: frozenset[str] = RETRYABLE_CODES) -> bool:
    if isinstance(exc, ClientError):
        return error_code(exc) in codes or http_status(exc) >= 500
    return isinstance(exc, (*CONNECTION_ERRORS, RetryableError))


def _failed_with(state: Any) -> BaseException | None:
    try:
        state.result()
    except BaseException as exc:
        return exc
    return None


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry throttling, 5xx and connection errors only."""
    exc = _failed_with(state)
    return exc is not None and is_transient(exc)


def retry_transient_or_conflict(_task: Any, _task_run: Any, state: Any) -> bool:
    """As ``retry_transient``, plus DeleteConflict, for DeleteUser."""
    exc = _failed_with(state)
    return exc is not None and is_transient(exc, RETRYABLE_ON_DELETE_USER)


def describe_failure(exc: BaseException) -> tuple[str | None, str | None, str]:
    """(error code, IAM action, one-line message) for a report."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        prefix = exc.response.get("Error", {}).get("ActionPrefix") or "iam"
        action = f"{prefix}:{exc.operation_name}" if exc.operation_name else None
        return error_code(exc), action, " ".join(str(message).split())
    if isinstance(exc, RetryableError):
        return exc.code, exc.action, " ".join(str(exc).split())
    return type(exc).__name__, None, " ".join(str(exc).split()) or type(exc).__name__
