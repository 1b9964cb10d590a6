"""The Identity Center run's report, and its protection check: users no flow may change, by
user name, by a group they are in, or by an attribute; the engine's own identity too."""

from __future__ import annotations

from config.settings import Settings
from flows.report import FailureKind, RunReport, StepFailure
from tasks.identity import CallerIdentity
from tasks.identity_center.models import IdcInstance, IdcInventory, IdcStepResult, IdcUser
from tasks.identity_center.session_deny import SessionDenyChange
from tasks.snapshot import SnapshotRef


class IdcReport(RunReport):
    # The Identity Center user name (or what the run was asked for, if none was found).
    user_name: str
    dry_run: bool
    reason: str | None = None
    ticket: str | None = None
    instance: IdcInstance | None = None
    user: IdcUser | None = None
    inventory: IdcInventory | None = None
    snapshot: SnapshotRef | None = None
    session_deny: tuple[SessionDenyChange, ...] = ()
    steps: tuple[IdcStepResult, ...] = ()
    # What is still there when the run ends without deleting the user.
    remaining: IdcInventory | None = None

    def summary(self) -> str:
        failure = self.failure
        if failure is None:
            return self.outcome
        code = f" ({failure.error_code} on {failure.action})" if failure.error_code else ""
        return f"{self.outcome}: {failure.step}{code}: {failure.message}"


def _attribute(user: IdcUser, key: str) -> str | None:
    for name, value in user.attributes.items():
        if name.casefold() == key.casefold() and isinstance(value, str):
            return value
    return None


def idc_protection_rule(
    user: IdcUser, inventory: IdcInventory, caller: CallerIdentity, settings: Settings
) -> str | None:
    """The rule that protects ``user``, in words, or None."""
    # An engine running in a role session of this very user (an SSO session names its user).
    session = caller.arn.rsplit("/", 1)[-1]
    if "/AWSReservedSSO_" in caller.arn and session.casefold() == user.user_name.casefold():
        return f"it is the engine's own identity ({caller.arn})"
    for name in settings.protected_identity_center_users:
        if name.casefold() == user.user_name.casefold():
            return f"its user name is listed in protected_identity_center_users ({name})"
    groups = {
        m.group_name.casefold(): m.group_name for m in inventory.group_memberships if m.group_name
    }
    for group in settings.protected_identity_center_groups:
        if group.casefold() in groups:
            return f"it is a member of the protected group {groups[group.casefold()]}"
    key, _, wanted = settings.protected_identity_center_attribute.partition("=")
    value = _attribute(user, key) if key else None
    if value is not None and value.casefold() == wanted.casefold():
        return f"its attribute {key} is {value} (protected_identity_center_attribute)"
    return None


def not_found(asked: str) -> StepFailure:
    return StepFailure(
        step="resolve",
        error_code="ResourceNotFoundException",
        action="identitystore:GetUserId",
        message=f"no Identity Center user {asked}",
        kind=FailureKind.not_found,
    )


def protected(user: IdcUser, rule: str) -> StepFailure:
    return StepFailure(
        step="protect",
        error_code="Protected",
        action=None,
        message=f"Identity Center user {user.user_name} is protected: {rule}",
        kind=FailureKind.protected,
    )
