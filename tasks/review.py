"""Access review before deletion: who is still using this user, and for what (seed: "View user
access"). Reads only."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from prefect.context import TaskRunContext

from config.settings import get_settings
from tasks.aws import count_calls, iam_client
from tasks.errors import describe_failure, is_transient
from tasks.frozen import Frozen
from tasks.models import UserInventory, UserSummary
from tasks.runtime import iam_task
from tasks.side_by_side import USER_READS_AT_ONCE, at_once, each

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = (
    "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails",
    "iam:GetAccessKeyLastUsed",
)
log = structlog.get_logger("offboard.review")
# Polling IAM's report job: short first, then backing off to this ceiling.
FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 2.0


class ActionActivity(Frozen):
    action_name: str
    last_accessed: datetime | None = None
    region: str | None = None


class ServiceActivity(Frozen):
    namespace: str
    name: str
    last_authenticated: datetime | None = None
    region: str | None = None
    actions: tuple[ActionActivity, ...] = ()


class KeyActivity(Frozen):
    access_key_id: str
    status: str
    last_used: datetime | None = None
    service: str | None = None
    region: str | None = None


class AccessReview(Frozen):
    user_arn: str
    reviewed_at: datetime
    # False when IAM's last-accessed job failed or did not finish in time.
    complete: bool
    incomplete_reason: str | None = None
    password_last_used: datetime | None = None
    services: tuple[ServiceActivity, ...] = ()
    access_keys: tuple[KeyActivity, ...] = ()
    mfa_devices: tuple[str, ...] = ()
    api_calls: int = 0

    @property
    def last_activity(self) -> datetime | None:
        seen = [
            self.password_last_used,
            *(service.last_authenticated for service in self.services),
            *(key.last_used for key in self.access_keys),
        ]
        dates = [moment for moment in seen if moment is not None]
        return max(dates) if dates else None

    def active_within(self, days: int, now: datetime | None = None) -> bool:
        last = self.last_activity
        if last is None:
            return False
        return last >= (now or datetime.now(UTC)) - timedelta(days=days)

    @property
    def used_services(self) -> tuple[ServiceActivity, ...]:
        return tuple(s for s in self.services if s.last_authenticated is not None)


def _service(entry: Any) -> ServiceActivity:
    return ServiceActivity(
        namespace=entry["ServiceNamespace"],
        name=entry.get("ServiceName", entry["ServiceNamespace"]),
        last_authenticated=entry.get("LastAuthenticated"),
        region=entry.get("LastAuthenticatedRegion"),
        actions=tuple(
            ActionActivity(
                action_name=action["ActionName"],
                last_accessed=action.get("LastAccessedTime"),
                region=action.get("LastAccessedRegion"),
            )
            for action in entry.get("TrackedActionsLastAccessed", [])
        ),
    )


def _last_accessed_services(
    iam: IAMClient, arn: str, timeout: float
) -> tuple[tuple[ServiceActivity, ...], str | None]:
    """Generate IAM's ACTION_LEVEL report and wait for it, bounded by `timeout`."""
    job_id = iam.generate_service_last_accessed_details(Arn=arn, Granularity="ACTION_LEVEL")[
        "JobId"
    ]
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_SECONDS
    while True:
        page = iam.get_service_last_accessed_details(JobId=job_id)
        status = page["JobStatus"]
        if status == "COMPLETED":
            break
        if status == "FAILED":
            error = page.get("Error", {})
            return (), f"last-accessed job failed: {error.get('Message', 'no reason given')}"
        if time.monotonic() + delay > deadline:
            return (), f"last-accessed job not complete after {timeout:g} s"
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)
    entries = list(page.get("ServicesLastAccessed", []))
    while page.get("IsTruncated") and page.get("Marker"):
        page = iam.get_service_last_accessed_details(JobId=job_id, Marker=page["Marker"])
        entries.extend(page.get("ServicesLastAccessed", []))
    return tuple(_service(entry) for entry in entries), None


def _key_activity(iam: IAMClient, key_id: str, status: str) -> KeyActivity:
    used = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    # IAM answers "N/A" for a key that was never used.
    service = used.get("ServiceName")
    region = used.get("Region")
    return KeyActivity(
        access_key_id=key_id,
        status=status,
        last_used=used.get("LastUsedDate"),
        service=None if service in (None, "N/A") else service,
        region=None if region in (None, "N/A") else region,
    )


def _retries_left() -> bool:
    """Whether Prefect will run this task again if it raises now (False outside a task run)."""
    context = TaskRunContext.get()
    if context is None:
        return False
    return context.task_run.run_count <= (context.task.retries or 0)


@iam_task(name="review-access", task_run_name="review:{user.user_name}")
def review_access(user: UserSummary, inventory: UserInventory) -> AccessReview:
    """Last activity overall, per service (with actions) and per access key.

    A review IAM will not answer (throttled beyond the declared retries, access denied, any other
    error) is returned incomplete with the reason: the activity guard then holds the user, since
    nobody can say the user is idle."""
    iam = iam_client()
    services: tuple[ServiceActivity, ...] = ()
    keys: tuple[KeyActivity, ...] = ()
    with count_calls() as calls:
        try:
            timeout = get_settings().review_timeout_seconds
            # The last-accessed job (generate, then poll) beside each key's lookup.
            (services, problem), keys = at_once(
                partial(_last_accessed_services, iam, user.arn, timeout),
                partial(
                    each,
                    inventory.access_keys,
                    lambda key: _key_activity(iam, key.access_key_id, key.status),
                    USER_READS_AT_ONCE,
                ),
            )
            keys = tuple(keys)
        except (ClientError, BotoCoreError) as exc:
            if is_transient(exc) and _retries_left():
                raise  # the task's declared retries take it from here
            code, action, message = describe_failure(exc)
            problem = f"{code} on {action or 'IAM'}: {message}"[:300]
            services, keys = (), ()
            log.warning("review.incomplete", user=user.user_name, error=code, action=action)
    return AccessReview(
        user_arn=user.arn,
        reviewed_at=datetime.now(UTC),
        complete=problem is None,
        incomplete_reason=problem,
        password_last_used=user.password_last_used,
        services=services,
        access_keys=keys,
        mfa_devices=inventory.items("mfa_devices"),
        api_calls=calls.count,
    )
