"""Permission sets as the steps need them: a name and a session duration, described once each."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from tasks.aws import sso_admin_client
from tasks.frozen import Frozen

PERMISSIONS = ("sso:DescribePermissionSet",)

_DURATION = re.compile(r"^PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?$")
# AWS's default, and its maximum: what is assumed when a duration cannot be read.
DEFAULT_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = 12 * 3600


class PermissionSetInfo(Frozen):
    arn: str
    name: str | None
    session_duration_seconds: int


def session_seconds(duration: object) -> int:
    """ISO 8601 ``PT1H30M`` → 5400. An unreadable duration counts as the longest AWS allows,
    so that a session deny is never pruned too early."""
    if isinstance(duration, int):
        return duration
    found = _DURATION.match(str(duration or ""))
    if not found or not any(found.groups()):
        return MAX_SESSION_SECONDS if duration else DEFAULT_SESSION_SECONDS
    hours, minutes, seconds = (int(found.group(k) or 0) for k in ("h", "m", "s"))
    return hours * 3600 + minutes * 60 + seconds


def describe_permission_set(instance_arn: str, arn: str) -> PermissionSetInfo:
    found = sso_admin_client().describe_permission_set(
        InstanceArn=instance_arn, PermissionSetArn=arn
    )["PermissionSet"]
    return PermissionSetInfo(
        arn=arn,
        name=found.get("Name"),
        session_duration_seconds=session_seconds(found.get("SessionDuration")),
    )


def describer(instance_arn: str) -> Callable[[str], PermissionSetInfo]:
    """One DescribePermissionSet per permission set within one listing."""

    @cache
    def describe(arn: str) -> PermissionSetInfo:
        return describe_permission_set(instance_arn, arn)

    return describe
