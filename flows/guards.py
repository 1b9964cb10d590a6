"""Checks that stop a run before any mutating call: protected principals, the activity guard."""

from __future__ import annotations

from datetime import UTC, datetime

from config.settings import Settings
from flows.report import StepFailure
from tasks.identity import CallerIdentity
from tasks.models import UserSummary
from tasks.review import AccessReview


def protection_rule(user: UserSummary, caller: CallerIdentity, settings: Settings) -> str | None:
    """The rule that protects `user`, in words, or None."""
    if caller.iam_user_name == user.user_name and caller.account == user.account_id:
        return f"it is the engine's own identity ({caller.arn})"
    if user.user_name in settings.protected_user_names:
        return f"its name is listed in protected_user_names ({user.user_name})"
    for prefix in settings.protected_path_prefixes:
        if user.path.startswith(prefix):
            return f"its path {user.path} is under protected path prefix {prefix}"
    key, _, value = settings.protected_tag.partition("=")
    for tag in user.tags:
        if tag.key == key and tag.value.lower() == value.lower():
            return f"it carries the protected tag {key}={tag.value}"
    return None


def refusal(
    user_name: str, user: UserSummary | None, caller: CallerIdentity, settings: Settings
) -> StepFailure | None:
    """Why a mutating flow must not touch this user at all (unknown or protected), or None."""
    if user is None:
        return StepFailure(
            step="resolve",
            error_code="NoSuchEntity",
            action="iam:GetUser",
            message=f"no IAM user named {user_name}",
        )
    rule = protection_rule(user, caller, settings)
    if rule:
        return StepFailure(
            step="protect",
            error_code="Protected",
            action=None,
            message=f"{user.user_name} is protected: {rule}",
        )
    return None


def activity_hold(
    review: AccessReview, settings: Settings, now: datetime | None = None
) -> str | None:
    """Why the activity guard holds this user, or None when deletion may go ahead."""
    if not review.complete:
        return f"access review incomplete: {review.incomplete_reason}"
    days = settings.recent_activity_days
    if review.active_within(days, now or datetime.now(UTC)):
        last = review.last_activity
        stamp = last.isoformat() if last else "unknown"
        return f"active within the last {days} days (last activity {stamp})"
    return None
