"""What the Identity Center steps read and hand on: the instance, the user, its inventory."""

from __future__ import annotations

from pydantic import Field, JsonValue

from tasks.frozen import Frozen
from tasks.models import StepResult


class IdcInstance(Frozen):
    instance_arn: str
    identity_store_id: str


class ExternalId(Frozen):
    issuer: str
    id: str


class IdcUser(Frozen):
    """An identity store user: what the engine reads, and the attributes that restore it."""

    identity_store_id: str
    user_id: str
    user_name: str
    display_name: str | None = None
    emails: tuple[str, ...] = ()
    employee_id: str | None = None
    user_type: str | None = None
    external_ids: tuple[ExternalId, ...] = ()
    # CreateUser's parameters as DescribeUser answered them (Name, Emails, Extensions, ...).
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    api_calls: int = 0


class IdcTarget(Frozen):
    """The user a step acts on."""

    instance: IdcInstance
    user_id: str
    user_name: str


class GroupMembershipItem(Frozen):
    membership_id: str
    group_id: str
    group_name: str | None = None

    @property
    def id(self) -> str:
        return self.membership_id


class IdcUserItem(Frozen):
    user_id: str

    @property
    def id(self) -> str:
        return self.user_id


class AccountAssignmentItem(Frozen):
    account_id: str
    permission_set_arn: str
    permission_set_name: str | None = None
    # Seconds, from the permission set's ISO 8601 SessionDuration.
    session_duration_seconds: int = 3600

    @property
    def id(self) -> str:
        return assignment_id(self.account_id, self.permission_set_arn)


def assignment_id(account_id: str, permission_set_arn: str) -> str:
    # Account ids are 12 digits: the first "/" ends them.
    return f"{account_id}/{permission_set_arn}"


def split_assignment_id(item: str) -> tuple[str, str]:
    account_id, _, permission_set_arn = item.partition("/")
    return account_id, permission_set_arn


class IdcInventory(Frozen):
    user_name: str
    account_assignments: tuple[AccountAssignmentItem, ...] = ()
    group_memberships: tuple[GroupMembershipItem, ...] = ()
    # Assignments the user holds through its groups: their sessions live on too, so their
    # permission sets get the session deny; they are the groups' and stay.
    group_assignments: tuple[AccountAssignmentItem, ...] = ()
    api_calls: int = 0

    def items(self, step: str) -> tuple[str, ...]:
        if step == "account_assignments":
            return tuple(item.id for item in self.account_assignments)
        if step == "group_memberships":
            return tuple(item.id for item in self.group_memberships)
        return ()

    def permission_sets(self) -> dict[str, int]:
        """Every permission set the user may hold a session of → its session duration."""
        found: dict[str, int] = {}
        for item in (*self.account_assignments, *self.group_assignments):
            found[item.permission_set_arn] = item.session_duration_seconds
        return found


class IdcStepResult(StepResult):
    # Identity Center user names are longer than IAM's (up to 128 characters).
    user_name: str = Field(min_length=1, max_length=128)
