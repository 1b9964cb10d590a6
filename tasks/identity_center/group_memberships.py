"""The user's group memberships: ListGroupMembershipsForMember → DeleteGroupMembership (the
groups stay)."""

from __future__ import annotations

from tasks.aws import identitystore_client
from tasks.identity_center.models import GroupMembershipItem, IdcTarget
from tasks.identity_center.steps import IdcStepSpec, idc_step_task

PERMISSIONS = (
    "identitystore:ListGroupMembershipsForMember",
    "identitystore:DescribeGroup",
    "identitystore:DeleteGroupMembership",
)


def memberships_of(store_id: str, user_id: str) -> tuple[GroupMembershipItem, ...]:
    store = identitystore_client()
    pages = store.get_paginator("list_group_memberships_for_member").paginate(
        IdentityStoreId=store_id, MemberId={"UserId": user_id}
    )
    found: list[GroupMembershipItem] = []
    for membership in pages.search("GroupMemberships[]"):
        group_id = membership["GroupId"]
        group = store.describe_group(IdentityStoreId=store_id, GroupId=group_id)
        found.append(
            GroupMembershipItem(
                membership_id=membership["MembershipId"],
                group_id=group_id,
                group_name=group.get("DisplayName"),
            )
        )
    return tuple(found)


def list_items(target: IdcTarget) -> tuple[GroupMembershipItem, ...]:
    return memberships_of(target.instance.identity_store_id, target.user_id)


def remove(target: IdcTarget, item: str) -> None:
    identitystore_client().delete_group_membership(
        IdentityStoreId=target.instance.identity_store_id, MembershipId=item
    )


SPEC = IdcStepSpec(
    name="group_memberships",
    label="groups",
    title="group memberships",
    permissions=PERMISSIONS,
    action="identitystore:DeleteGroupMembership",
    list_items=list_items,
    remove=remove,
)
delete_group_memberships = idc_step_task(SPEC)
