"""Seed step 1: delete the user's password (console login profile), if there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:GetLoginProfile", "iam:DeleteLoginProfile")
# The login profile has no id of its own; the step's single item stands for it.
ITEM = "login-profile"


def list_ids(iam: IAMClient, user_name: str) -> tuple[str, ...]:
    try:
        iam.get_login_profile(UserName=user_name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return ()
        raise
    return (ITEM,)


def remove(iam: IAMClient, user_name: str, _item: str) -> None:
    iam.delete_login_profile(UserName=user_name)


SPEC = StepSpec(
    name="login_profile",
    seed_commands=("delete-login-profile",),
    permissions=PERMISSIONS,
    list_ids=list_ids,
    remove=remove,
)
delete_login_profile = step_task(SPEC)
