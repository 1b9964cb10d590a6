"""Injected faults: chosen errors answered in place of moto, to exercise the engine's retries.

Faults are queued per action (:func:`inject_fault`) or drawn at random for a share of a
service's requests (:func:`inject_fault_rate`); queued faults are served first.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from moto.moto_api._internal import mock_random

__all__ = [
    "RANDOM_FAULT_KINDS",
    "Fault",
    "clear_faults",
    "fault_response",
    "inject_fault",
    "inject_fault_rate",
    "injected_fault_counts",
    "pending_faults",
    "take_fault",
]

# What a random fault can be: an error AWS answers with, or "drop": the connection is closed
# without any response (the client sees a connection error; moto never sees the request).
RANDOM_FAULT_KINDS = ("Throttling", "ServiceFailure", "drop")
_RANDOM_FAULT_STATUS = {"Throttling": 400, "ServiceFailure": 500}


@dataclass
class Fault:
    service: str
    action: str
    code: str
    status: int
    message: str
    remaining: int
    # Close the connection instead of answering.
    drop: bool = False


@dataclass(frozen=True)
class _FaultRate:
    service: str
    share: float
    kinds: tuple[str, ...]


class _FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rate: _FaultRate | None = None
        self._random = random.Random()
        self._drawn: Counter[str] = Counter()

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
            return self._draw(service, action)

    def _draw(self, service: str, action: str) -> Fault | None:
        rate = self._rate
        if rate is None or rate.service != service or self._random.random() >= rate.share:
            return None
        kind = self._random.choice(rate.kinds)
        self._drawn[kind] += 1
        return Fault(
            service=service,
            action=action,
            code=kind,
            status=_RANDOM_FAULT_STATUS.get(kind, 500),
            message=f"Injected random fault: {kind}",
            remaining=0,
            drop=kind == "drop",
        )

    def set_rate(self, rate: _FaultRate | None, seed: int | None) -> None:
        with self._lock:
            self._rate = rate
            self._random = random.Random(seed)
            self._drawn.clear()

    def drawn(self) -> dict[str, int]:
        with self._lock:
            return dict(self._drawn)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rate = None

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


def inject_fault_rate(
    share: float,
    kinds: Iterable[str] = RANDOM_FAULT_KINDS,
    seed: int | None = None,
    *,
    service: str = "iam",
) -> None:
    """Fault about ``share`` (0-1) of the ``service``'s requests until :func:`clear_faults`,
    each with one of ``kinds`` (see :data:`RANDOM_FAULT_KINDS`) picked at random.

    Faulted requests never reach moto, so nothing changes. Every HTTP attempt draws anew,
    botocore's own retries included. ``share=0`` stops it; ``seed`` makes the draws repeatable
    (for one thread; concurrent requests interleave them).
    """
    if not 0 <= share <= 1:
        raise ValueError("share must be between 0 and 1")
    chosen = tuple(kinds)
    unknown = set(chosen) - set(RANDOM_FAULT_KINDS)
    if not chosen or unknown:
        raise ValueError(f"kinds must be among {RANDOM_FAULT_KINDS}, got {chosen}")
    rate = _FaultRate(service=service, share=share, kinds=chosen) if share > 0 else None
    _FAULTS.set_rate(rate, seed)


def injected_fault_counts() -> dict[str, int]:
    """Random faults served since the rate was set, by kind."""
    return _FAULTS.drawn()


def clear_faults() -> None:
    """Drop every pending injected fault and stop random faults."""
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
