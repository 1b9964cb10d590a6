"""Waiting for an asynchronous Identity Center request, bounded: it ends SUCCEEDED, or the
step fails with a RetryableError (FAILED, or still in progress when the time is up)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from config.settings import get_settings
from tasks.errors import RetryableError

Status = dict[str, Any]


def wait_until_done(
    started: Status, ask: Callable[[str], Status], action: str, what: str
) -> Status:
    """``started``: the first status (with RequestId); ``ask(request_id)``: the status now."""
    settings = get_settings()
    deadline = time.monotonic() + settings.identity_center_poll_timeout_seconds
    status = started
    while status.get("Status") == "IN_PROGRESS":
        if time.monotonic() >= deadline:
            raise RetryableError(
                f"{what}: request {started.get('RequestId')} still in progress after "
                f"{settings.identity_center_poll_timeout_seconds:g} s",
                code="InProgress",
                action=action,
            )
        time.sleep(settings.identity_center_poll_seconds)
        status = ask(str(started["RequestId"]))
    if status.get("Status") != "SUCCEEDED":
        reason = status.get("FailureReason") or "no reason given"
        raise RetryableError(
            f"{what}: request {started.get('RequestId')} ended {status.get('Status')}: {reason}",
            code=str(status.get("Status") or "FAILED"),
            action=action,
        )
    return status
