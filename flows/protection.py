"""The one protection check: principals no flow may change, and unknown users, refused before
any mutating call."""

from __future__ import annotations

from config.settings import Settings
from flows.report import FailureKind, StepFailure
from tasks.identity import CallerIdentity
from tasks.models import UserSummary


def same_iam_name(a: str, b: str) -> bool:
    """IAM names (users, tag keys) are unique regardless of case: `Jane` and `jane` are one."""
    return a.casefold() == b.casefold()


def protected_name(name: str, settings: Settings) -> str | None:
    """The entry of protected_user_names that `name` matches (in any case), or None."""
    return next((p for p in settings.protected_user_names if same_iam_name(p, name)), None)


def protection_rule(user: UserSummary, caller: CallerIdentity, settings: Settings) -> str | None:
    """The rule that protects `user`, in words, or None. The one protection check: every flow
    that changes a user (run, batch, deactivate, rename, leave sync, restore) asks it."""
    own = caller.iam_user_name
    if own is not None and same_iam_name(own, user.user_name) and caller.account == user.account_id:
        return f"it is the engine's own identity ({caller.arn})"
    listed = protected_name(user.user_name, settings)
    if listed is not None:
        return f"its name is listed in protected_user_names ({listed})"
    for prefix in settings.protected_path_prefixes:
        if user.path.startswith(prefix):
            return f"its path {user.path} is under protected path prefix {prefix}"
    key, _, value = settings.protected_tag.partition("=")
    for tag in user.tags:
        if same_iam_name(tag.key, key) and tag.value.casefold() == value.casefold():
            return f"it carries the protected tag {tag.key}={tag.value}"
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
            kind=FailureKind.not_found,
        )
    rule = protection_rule(user, caller, settings)
    if rule:
        return StepFailure(
            step="protect",
            error_code="Protected",
            action=None,
            message=f"{user.user_name} is protected: {rule}",
            kind=FailureKind.protected,
        )
    return None
