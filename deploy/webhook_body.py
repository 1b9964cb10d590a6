"""Reading an HR event from a request: content type (415), size (413), a deadline for the body
(408), JSON with no repeated keys (400) and the event schema (422, field by field)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from deploy.hr_events import HrEvent

log = structlog.get_logger("offboard.webhook")

# HR events are a few hundred bytes; anything this large is not one.
MAX_BODY_BYTES = 64 * 1024


def _printable(text: str) -> str:
    # Field names from the request may hold lone surrogates, which JSON responses cannot carry.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    # Without the input: it may be large, and it is the caller's own body.
    return [
        {
            "type": error["type"],
            "loc": ["body", *(_printable(p) if isinstance(p, str) else p for p in error["loc"])],
            "msg": _printable(error["msg"]),
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of repeated keys; the sender and another reader may take the
    # first, so an object that repeats a key has no single meaning and is refused.
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKeyError(f"{_printable(key)[:64]!r} appears twice in one object")
        seen.add(key)
    return dict(pairs)


def parse_event(body: bytes) -> HrEvent:
    """400 for a body that is not JSON (or repeats a key), 422 (field by field) for one that is
    not an event."""
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except DuplicateKeyError as exc:
        raise HTTPException(status_code=400, detail=f"body repeats a JSON key: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise HTTPException(status_code=400, detail=f"body is not JSON: {reason}") from None
    try:
        return HrEvent.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(_field_errors(exc)) from None


# Refusals sent before the body was read close the connection: what is left of the body is not
# worth reading, and a stalled sender should not keep a connection.
CLOSE = {"Connection": "close"}


def check_content_type(value: str | None) -> None:
    """415 unless the body is declared as JSON (UTF-8, the only encoding JSON allows)."""
    media_type, _, parameters = (value or "").partition(";")
    charsets = [
        p.split("=", 1)[1].strip().strip('"').lower()
        for p in parameters.split(";")
        if p.strip().lower().startswith("charset=")
    ]
    if media_type.strip().lower() != "application/json" or charsets not in ([], ["utf-8"]):
        shown = repr(_printable(value)[:80]) if value else "none"
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json (got {shown})",
            headers=CLOSE,
        )


async def read_body(request: Request, timeout_seconds: float) -> bytes:
    """The body; 413 past MAX_BODY_BYTES, 408 when it has not all arrived in time."""
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise HTTPException(
                        status_code=413,
                        detail=f"body is over {MAX_BODY_BYTES} bytes",
                        headers=CLOSE,
                    )
    except TimeoutError:
        log.warning("webhook.body_timeout", received=len(body), timeout=timeout_seconds)
        raise HTTPException(
            status_code=408,
            detail=f"the body did not arrive within {timeout_seconds:g} seconds",
            headers=CLOSE,
        ) from None
    return bytes(body)
