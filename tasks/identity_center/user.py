"""The Identity Center user itself, last: DeleteUser."""

from __future__ import annotations

from botocore.exceptions import ClientError

from tasks.aws import identitystore_client
from tasks.errors import error_code
from tasks.identity_center.models import IdcTarget, IdcUserItem
from tasks.identity_center.steps import NOT_FOUND, IdcStepSpec, idc_step_task

PERMISSIONS = ("identitystore:DescribeUser", "identitystore:DeleteUser")


def list_items(target: IdcTarget) -> tuple[IdcUserItem, ...]:
    try:
        identitystore_client().describe_user(
            IdentityStoreId=target.instance.identity_store_id, UserId=target.user_id
        )
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return ()
        raise
    return (IdcUserItem(user_id=target.user_id),)


def remove(target: IdcTarget, item: str) -> None:
    identitystore_client().delete_user(
        IdentityStoreId=target.instance.identity_store_id, UserId=item
    )


SPEC = IdcStepSpec(
    name="user",
    label="user",
    title="Identity Center user",
    permissions=PERMISSIONS,
    action="identitystore:DeleteUser",
    list_items=list_items,
    remove=remove,
)
delete_identity_center_user = idc_step_task(SPEC)
