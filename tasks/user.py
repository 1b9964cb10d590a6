"""The user itself: resolve it before anything else, delete it last (seed step 10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.aws import count_calls, iam_client
from tasks.errors import UserNotFoundError, if_exists
from tasks.frozen import Frozen
from tasks.models import Tag, UserSummary, validate_user_name
from tasks.runtime import StepSpec, iam_task, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:GetUser", "iam:DeleteUser")


@iam_task(name="find-user", task_run_name="find:{user_name}")
def find_user(user_name: str) -> UserSummary | None:
    """GetUser; None for an unknown user (a caller error, not a failed run)."""
    validate_user_name(user_name)
    with count_calls() as calls:
        found = if_exists(lambda: iam_client().get_user(UserName=user_name))
    if found is None:
        return None
    user = found["User"]
    boundary = user.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return UserSummary(
        user_name=user["UserName"],
        user_id=user["UserId"],
        arn=user["Arn"],
        path=user["Path"],
        create_date=user["CreateDate"],
        password_last_used=user.get("PasswordLastUsed"),
        permissions_boundary_arn=boundary,
        tags=tuple(Tag(key=t["Key"], value=t["Value"]) for t in user.get("Tags", [])),
        api_calls=calls.count,
    )


def resolve_user(user_name: str) -> UserSummary:
    """As find_user, outside a flow: an unknown user raises UserNotFoundError."""
    user = find_user.fn(user_name)
    if user is None:
        raise UserNotFoundError(user_name)
    return user


class UserItem(Frozen):
    user_name: str

    @property
    def id(self) -> str:
        return self.user_name


def list_items(iam: IAMClient, user_name: str) -> tuple[UserItem, ...]:
    if if_exists(lambda: iam.get_user(UserName=user_name)) is None:
        return ()
    return (UserItem(user_name=user_name),)


def remove(iam: IAMClient, user_name: str, _item: str) -> None:
    iam.delete_user(UserName=user_name)


SPEC = StepSpec(
    name="user",
    label="user",
    title="the user",
    seed_commands=("delete-user",),
    permissions=PERMISSIONS,
    action="iam:DeleteUser",
    list_items=list_items,
    remove=remove,
    retry_on_conflict=True,
)
delete_user = step_task(SPEC)
