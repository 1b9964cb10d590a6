"""IAM role trust policies that name principals (IAM is global), and taking principals out of
one."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from tasks.references.clients import global_client
from tasks.references.found import Read, Reference, references_in
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = ("iam:ListRoles", "iam:GetRole", "iam:UpdateAssumeRolePolicy")
# IAM refuses a trust policy without statements. When the user was all a role trusted, the role
# is left trusting nobody, which is what the deleted user's unique id already meant.
TRUSTS_NOBODY = {
    "Sid": "NoPrincipalLeft",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "sts:AssumeRole",
}


def _document(raw: Any) -> dict[str, Any]:
    # boto3 decodes the document; a string is the URL-encoded JSON IAM sends.
    parsed: dict[str, Any] = json.loads(unquote(raw)) if isinstance(raw, str) else dict(raw or {})
    return parsed


def role_references() -> Read:
    found: list[Reference] = []
    # ListRoles returns each role's trust policy, so one call per page serves every role.
    for page in global_client("iam").get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            document = _document(role.get("AssumeRolePolicyDocument"))
            found += references_in("iam", "global", role["Arn"], document)
    return found, []


def clean_role(role_arn: str, names: set[str]) -> Rewrite | None:
    name = role_arn.rsplit("/", 1)[1]
    iam = global_client("iam")
    old = _document(iam.get_role(RoleName=name)["Role"].get("AssumeRolePolicyDocument"))
    change = rewritten(old, names)
    if change is None:
        return None
    if not change.new["Statement"]:
        change = Rewrite(old=change.old, new={**change.new, "Statement": [TRUSTS_NOBODY]})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(change.new))
    return change
