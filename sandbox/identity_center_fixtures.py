"""Identity Center users with group memberships and account assignments, for tests and the demo.

Works against the sandbox (or any endpoint) through ordinary boto3 ``sso-admin`` and
``identitystore`` clients. The demo people share employee ids with the demo IAM users
(sandbox.fixtures), so one employee id names both kinds of identity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.fixtures import DEMO_EMPLOYEE_IDS

__all__ = [
    "DEMO_ASSIGNMENT_ACCOUNTS",
    "ENTERPRISE_EXTENSION",
    "IdentityCenterPerson",
    "create_identity_center_person",
    "identity_center_instance",
    "seed_demo_identity_center",
]

ENTERPRISE_EXTENSION = "aws:identitystore:enterprise"
DEMO_ASSIGNMENT_ACCOUNTS = ("111111111111", "222222222222", "333333333333")
_READ_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}],
    }
)


@dataclass(frozen=True)
class IdentityCenterPerson:
    instance_arn: str
    identity_store_id: str
    user_id: str
    user_name: str
    group_ids: tuple[str, ...]
    permission_set_arns: tuple[str, ...]
    # (account id, permission set ARN) of each of the user's own assignments.
    assignments: tuple[tuple[str, str], ...]


def identity_center_instance(sso: Any) -> tuple[str, str]:
    """(instance ARN, identity store id) of the first Identity Center instance."""
    instance = sso.list_instances()["Instances"][0]
    return instance["InstanceArn"], instance["IdentityStoreId"]


def create_identity_center_person(
    sso: Any,
    store: Any,
    user_name: str,
    *,
    employee_id: str | None = None,
    accounts: Sequence[str] = DEMO_ASSIGNMENT_ACCOUNTS,
    groups: int = 2,
    session_durations: Sequence[str] = ("PT1H", "PT4H"),
    title: str | None = None,
) -> IdentityCenterPerson:
    """A user with an email, ``groups`` group memberships, one permission set per session
    duration (an inline policy each) and one assignment per account, the sets used in turn.
    Group, permission set names derive from ``user_name`` so many people fit in one sandbox."""
    instance_arn, store_id = identity_center_instance(sso)
    extensions = {ENTERPRISE_EXTENSION: {"employeeNumber": employee_id}} if employee_id else {}
    given, _, family = user_name.partition(".")
    user_id = store.create_user(
        IdentityStoreId=store_id,
        UserName=user_name,
        DisplayName=user_name,
        Name={"GivenName": given or user_name, "FamilyName": family or user_name},
        Emails=[{"Value": f"{user_name}@example.com", "Type": "work", "Primary": True}],
        **({"Title": title} if title else {}),
        **({"Extensions": extensions} if extensions else {}),
    )["UserId"]
    group_ids = []
    for i in range(groups):
        group_id = store.create_group(
            IdentityStoreId=store_id, DisplayName=f"{user_name}-group-{i + 1}"
        )["GroupId"]
        store.create_group_membership(
            IdentityStoreId=store_id, GroupId=group_id, MemberId={"UserId": user_id}
        )
        group_ids.append(group_id)
    sets = []
    for i, duration in enumerate(session_durations):
        arn = sso.create_permission_set(
            InstanceArn=instance_arn,
            # Permission set names are at most 32 characters.
            Name=f"ps{i + 1}-{user_name}"[:32],
            SessionDuration=duration,
        )["PermissionSet"]["PermissionSetArn"]
        sso.put_inline_policy_to_permission_set(
            InstanceArn=instance_arn, PermissionSetArn=arn, InlinePolicy=_READ_ONLY
        )
        sets.append(arn)
    assignments = []
    for i, account in enumerate(accounts):
        arn = sets[i % len(sets)]
        sso.create_account_assignment(
            InstanceArn=instance_arn,
            TargetId=account,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn,
            PrincipalType="USER",
            PrincipalId=user_id,
        )
        assignments.append((account, arn))
    return IdentityCenterPerson(
        instance_arn=instance_arn,
        identity_store_id=store_id,
        user_id=user_id,
        user_name=user_name,
        group_ids=tuple(group_ids),
        permission_set_arns=tuple(sets),
        assignments=tuple(assignments),
    )


def seed_demo_identity_center(sso: Any, store: Any) -> list[str]:
    """An Identity Center user per demo employee (see sandbox.fixtures.DEMO_EMPLOYEE_IDS), with
    two groups and three account assignments each; users that exist already are kept."""
    _, store_id = identity_center_instance(sso)
    existing = {
        user["UserName"]
        for page in store.get_paginator("list_users").paginate(IdentityStoreId=store_id)
        for user in page["Users"]
    }
    for user_name, employee_id in DEMO_EMPLOYEE_IDS.items():
        if user_name not in existing:
            create_identity_center_person(sso, store, user_name, employee_id=employee_id)
    return list(DEMO_EMPLOYEE_IDS)
