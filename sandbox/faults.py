"""Injected faults: chosen errors answered in place of moto, to exercise the engine's retries."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from xml.sax.saxutils import escape

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from moto.moto_api._internal import mock_random

__all__ = [
    "Fault",
    "clear_faults",
    "fault_response",
    "inject_fault",
    "pending_faults",
    "take_fault",
]


@dataclass
class Fault:
    service: str
    action: str
    code: str
    status: int
    message: str
    remaining: int


class _FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, service: str, action: str) -> Fault | None:
        """Consume one shot of the oldest matching fault, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.service == service and fault.action == action:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> dict[str, int]:
        with self._lock:
            totals: dict[str, int] = {}
            for fault in self._faults:
                totals[fault.action] = totals.get(fault.action, 0) + fault.remaining
            return totals


_FAULTS = _FaultInjector()


def inject_fault(
    action: str,
    code: str,
    count: int = 1,
    status: int = 400,
    message: str | None = None,
    *,
    service: str = "iam",
) -> None:
    """Make the next ``count`` requests for ``action`` (e.g. "DeleteUser") fail with ``code``.

    The error is answered before moto sees the request, so no state changes. Faults for the
    same action queue up in order. Note that botocore retries throttling and 5xx errors on its
    own: each retry consumes one shot.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    _FAULTS.add(
        Fault(
            service=service,
            action=action,
            code=code,
            status=status,
            message=message or f"Injected fault: {code}",
            remaining=count,
        )
    )


def clear_faults() -> None:
    """Drop every pending injected fault."""
    _FAULTS.clear()


def pending_faults() -> dict[str, int]:
    """Shots left per action."""
    return _FAULTS.pending()


def take_fault(service: str, action: str) -> Fault | None:
    """The fault to answer this request with, consuming one shot, or None."""
    return _FAULTS.take(service, action)


def fault_response(resp: BaseResponse, fault: Fault) -> TYPE_RESPONSE:
    """The error response AWS would send for ``fault``, in the service's own protocol."""
    request_id = str(mock_random.uuid4())
    headers: dict[str, str] = {"x-amzn-RequestId": request_id}
    model = get_service_model(resp.boto3_service_name)
    if model.protocol in ("json", "rest-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-ErrorType"] = fault.code
        body = json.dumps({"__type": fault.code, "message": fault.message})
        return fault.status, headers, body
    namespace = model.metadata.get("xmlNamespace")
    xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
    fault_type = "Receiver" if fault.status >= 500 else "Sender"
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type>"
        f"<Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers["Content-Type"] = "text/xml"
    return fault.status, headers, body
