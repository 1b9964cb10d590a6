"""Time conditions in IAM policies, honoured when the sandbox enforces IAM authorization.

moto 5.2 ignores ``Date*`` condition operators, so a Deny meant for a time window applies at
any time. Here a statement whose date conditions on ``aws:CurrentTime`` do not hold does not
apply at all: neither its Allow nor its Deny. Other operators and keys, and values that are not
dates, are left to moto as before. "Now" is the real UTC time unless a test pins it with
:func:`set_sandbox_clock`.
"""

from __future__ import annotations

import functools
import operator
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

__all__ = [
    "DATE_OPERATORS",
    "date_conditions_hold",
    "sandbox_now",
    "set_sandbox_clock",
    "wrap_is_action_permitted",
]

# Operator -> how "now" must compare with the policy's date for the condition to hold.
_COMPARISONS: dict[str, Callable[[datetime, datetime], bool]] = {
    "DateGreaterThan": operator.gt,
    "DateGreaterThanEquals": operator.ge,
    "DateLessThan": operator.lt,
    "DateLessThanEquals": operator.le,
}
DATE_OPERATORS = frozenset(_COMPARISONS)

# Condition key names are case-insensitive in AWS.
_CURRENT_TIME_KEY = "aws:currenttime"
# aws:CurrentTime is present in every request, so "...IfExists" means the same.
_IF_EXISTS = "IfExists"

_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")

_CLOCK_LOCK = threading.Lock()
_pinned_now: datetime | None = None


def _as_utc(when: datetime) -> datetime:
    # Naive datetimes are taken as UTC, as policy dates without an offset are.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def set_sandbox_clock(when: datetime | None) -> None:
    """Pin the time policy conditions compare against (naive means UTC); None unpins it.

    Only condition evaluation sees it; everything else in the sandbox keeps the real clock.
    :meth:`sandbox.server.Sandbox.reset` unpins it.
    """
    global _pinned_now
    with _CLOCK_LOCK:
        _pinned_now = None if when is None else _as_utc(when)


def sandbox_now() -> datetime:
    """The time policy conditions are evaluated at: the pinned time, else now (aware UTC)."""
    with _CLOCK_LOCK:
        pinned = _pinned_now
    return pinned if pinned is not None else datetime.now(UTC)


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    # AWS accepts epoch seconds as well as ISO 8601.
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    # IAM also takes a bare year-month, meaning its first instant (a bare year is epoch time).
    if _YEAR_MONTH.match(text):
        text += "-01"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _as_utc(parsed)


def date_conditions_hold(condition: Any, now: datetime | None = None) -> bool:
    """Whether every ``aws:CurrentTime`` date condition in a statement's ``Condition`` holds.

    As in AWS, operators and keys must all hold, and any one of several values for a key
    suffices. Conditions this does not understand count as holding here (moto decides them).
    """
    if not isinstance(condition, dict):
        return True
    current = sandbox_now() if now is None else _as_utc(now)
    for name, keys in condition.items():
        if not isinstance(name, str) or not isinstance(keys, dict):
            continue
        compare = _COMPARISONS.get(name.removesuffix(_IF_EXISTS))
        if compare is None:
            continue
        for key, expected in keys.items():
            if not isinstance(key, str) or key.lower() != _CURRENT_TIME_KEY:
                continue
            raw = expected if isinstance(expected, list) else [expected]
            dates = [_parse_date(value) for value in raw]
            parsed = [date for date in dates if date is not None]
            # A value that is not a date leaves the condition to moto, which ignores it.
            if not parsed or len(parsed) != len(dates):
                continue
            if not any(compare(current, date) for date in parsed):
                return False
    return True


def wrap_is_action_permitted(original: Callable[..., PermissionResult]) -> Callable[..., Any]:
    """A statement outside its time window neither allows nor denies."""

    @functools.wraps(original)
    def is_action_permitted(
        self: IAMPolicyStatement, *args: Any, **kwargs: Any
    ) -> PermissionResult:
        statement = getattr(self, "_statement", None)
        if isinstance(statement, dict) and not date_conditions_hold(statement.get("Condition")):
            return PermissionResult.NEUTRAL
        return original(self, *args, **kwargs)

    return is_action_permitted
