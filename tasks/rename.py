"""Renaming a user (seed: "Renaming an IAM user"): UpdateUser, then the policies naming it.

IAM keeps the user's unique id, groups and attached policies, and AWS rewrites policies that
name the user as a principal. Policies that name the user as a *resource* keep the old ARN, so
the plan finds every customer-managed and inline policy whose Resource / NotResource names the
old ARN and rewrites it. A stale ARN would otherwise grant a later user of the old name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from tasks.aws import count_calls, iam_client
from tasks.errors import InvalidInputError, error_code
from tasks.frozen import Frozen
from tasks.policy_documents import (
    as_document,
    compact,
    diff_documents,
    names_principal,
    pretty,
    rewrite_references,
)
from tasks.runtime import iam_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = (
    "iam:UpdateUser",
    # Only to confirm an UpdateUser whose answer was lost: the new name, same unique id.
    "iam:GetUser",
    "iam:ListPolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:ListUsers",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    "iam:ListGroups",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:PutGroupPolicy",
    "iam:ListRoles",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
)

# IAM's rule for paths: "/" alone, or printable ASCII between a leading and a trailing "/".
USER_PATH_PATTERN = re.compile(r"/|/[\x21-\x7E]{1,510}/", re.ASCII)
# IAM keeps at most this many versions of a managed policy.
MAX_POLICY_VERSIONS = 5

ChangeKind = Literal["managed", "user-inline", "group-inline", "role-inline"]
# The mutating action that writes each kind of change.
WRITE_ACTIONS: dict[ChangeKind, str] = {
    "managed": "iam:CreatePolicyVersion",
    "user-inline": "iam:PutUserPolicy",
    "group-inline": "iam:PutGroupPolicy",
    "role-inline": "iam:PutRolePolicy",
}


def validate_user_path(path: str) -> str:
    if not USER_PATH_PATTERN.fullmatch(path):
        raise InvalidInputError(
            f"invalid IAM path {path!r}: use '/' or printable ASCII between a leading and a "
            "trailing '/' (at most 512 characters)"
        )
    return path


def split_user_arn(arn: str) -> tuple[str, str, str]:
    """(``arn:partition:iam::account``, path, name) of a user ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("user/"):
        raise InvalidInputError(f"not an IAM user ARN: {arn}")
    resource = parts[5][len("user") :]
    path, _, name = resource.rpartition("/")
    return ":".join(parts[:5]), f"{path}/", name


def user_arn(prefix: str, path: str, name: str) -> str:
    return f"{prefix}:user{path}{name}"


class PolicyChange(Frozen):
    """One policy whose Resource / NotResource names the user's old ARN."""

    kind: ChangeKind
    # The policy ARN for a managed policy; the user, group or role name for an inline one.
    owner: str
    # The ARN of the policy (managed) or of the user, group or role holding it (inline).
    owner_arn: str
    policy_name: str
    references: int
    before: str
    after: str
    diff: str
    # Managed only: the default version now, and the version deleted to make room for a sixth.
    default_version_id: str | None = None
    version_to_delete: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "managed":
            return f"managed policy {self.owner}"
        owner_kind = self.kind.removesuffix("-inline")
        return f"inline policy {self.policy_name} of {owner_kind} {self.owner}"

    @property
    def write_action(self) -> str:
        return WRITE_ACTIONS[self.kind]


class TrustPolicyMention(Frozen):
    """A role that trusts the user: AWS updates these itself, so they are listed only."""

    role_name: str
    role_arn: str


class RenamePlan(Frozen):
    old_name: str
    old_path: str
    old_arn: str
    new_name: str
    new_path: str
    new_arn: str
    changes: tuple[PolicyChange, ...] = ()
    trust_policy_mentions: tuple[TrustPolicyMention, ...] = ()
    # Read calls spent finding the references.
    api_calls: int = 0


ApplyOutcome = Literal["done", "already_done"]


class AppliedChange(Frozen):
    kind: ChangeKind
    owner: str
    owner_arn: str
    policy_name: str
    outcome: ApplyOutcome
    action: str
    references: int = 0
    new_version_id: str | None = None
    deleted_version_id: str | None = None
    api_calls: int = 0


class UserRenamed(Frozen):
    outcome: ApplyOutcome
    api_calls: int = 0


def _change(
    kind: ChangeKind,
    owner: str,
    owner_arn: str,
    policy_name: str,
    document: dict[str, Any],
    old_arn: str,
    new_arn: str,
    **more: Any,
) -> PolicyChange | None:
    after, references = rewrite_references(document, old_arn, new_arn)
    if not references:
        return None
    before_text, after_text = pretty(document), pretty(after)
    label = owner if kind == "managed" else f"{owner}/{policy_name}"
    return PolicyChange(
        kind=kind,
        owner=owner,
        owner_arn=owner_arn,
        policy_name=policy_name,
        references=references,
        before=before_text,
        after=after_text,
        diff=diff_documents(before_text, after_text, label),
        **more,
    )


def _oldest_non_default(iam: IAMClient, policy_arn: str) -> tuple[str | None, int]:
    """The version to delete before adding one (None while there is room), and the count."""
    pages = iam.get_paginator("list_policy_versions").paginate(PolicyArn=policy_arn)
    versions = list(pages.search("Versions[]"))
    if len(versions) < MAX_POLICY_VERSIONS:
        return None, len(versions)
    candidates: list[tuple[datetime, str]] = [
        (version["CreateDate"], version["VersionId"])
        for version in versions
        if not version.get("IsDefaultVersion")
    ]
    return (min(candidates)[1] if candidates else None), len(versions)


def _managed_changes(iam: IAMClient, old_arn: str, new_arn: str) -> list[PolicyChange]:
    changes: list[PolicyChange] = []
    pages = iam.get_paginator("list_policies").paginate(Scope="Local")
    for policy in pages.search("Policies[]"):
        arn, version_id = policy["Arn"], policy["DefaultVersionId"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
        found = _change(
            "managed",
            arn,
            arn,
            policy["PolicyName"],
            as_document(version.get("Document")),
            old_arn,
            new_arn,
            default_version_id=version_id,
        )
        if found is not None:
            to_delete, _ = _oldest_non_default(iam, arn)
            changes.append(found.model_copy(update={"version_to_delete": to_delete}))
    return changes


def _inline_document(iam: IAMClient, kind: ChangeKind, owner: str, policy_name: str) -> object:
    if kind == "user-inline":
        return iam.get_user_policy(UserName=owner, PolicyName=policy_name)["PolicyDocument"]
    if kind == "group-inline":
        return iam.get_group_policy(GroupName=owner, PolicyName=policy_name)["PolicyDocument"]
    return iam.get_role_policy(RoleName=owner, PolicyName=policy_name)["PolicyDocument"]


def _inline_changes(
    iam: IAMClient, old_arn: str, new_arn: str
) -> tuple[list[PolicyChange], list[TrustPolicyMention]]:
    changes: list[PolicyChange] = []
    mentions: list[TrustPolicyMention] = []

    def scan(kind: ChangeKind, owner: str, owner_arn: str, names: Iterable[str]) -> None:
        for policy_name in names:
            document = as_document(_inline_document(iam, kind, owner, policy_name))
            found = _change(kind, owner, owner_arn, policy_name, document, old_arn, new_arn)
            if found is not None:
                changes.append(found)

    for user in iam.get_paginator("list_users").paginate().search("Users[]"):
        name = user["UserName"]
        pages = iam.get_paginator("list_user_policies").paginate(UserName=name)
        scan("user-inline", name, user["Arn"], pages.search("PolicyNames[]"))
    for group in iam.get_paginator("list_groups").paginate().search("Groups[]"):
        name = group["GroupName"]
        pages = iam.get_paginator("list_group_policies").paginate(GroupName=name)
        scan("group-inline", name, group["Arn"], pages.search("PolicyNames[]"))
    for role in iam.get_paginator("list_roles").paginate().search("Roles[]"):
        name = role["RoleName"]
        trust = role.get("AssumeRolePolicyDocument")
        if trust and names_principal(as_document(trust), old_arn):
            mentions.append(TrustPolicyMention(role_name=name, role_arn=role["Arn"]))
        pages = iam.get_paginator("list_role_policies").paginate(RoleName=name)
        scan("role-inline", name, role["Arn"], pages.search("PolicyNames[]"))
    return changes, mentions


@iam_task(name="plan-rename", task_run_name="plan-rename:{old_arn}")
def plan_rename(old_arn: str, new_arn: str) -> RenamePlan:
    """Every policy naming `old_arn` as a resource, with its rewritten document. Read-only."""
    _, old_path, old_name = split_user_arn(old_arn)
    _, new_path, new_name = split_user_arn(new_arn)
    iam = iam_client()
    with count_calls() as calls:
        changes = _managed_changes(iam, old_arn, new_arn)
        inline, mentions = _inline_changes(iam, old_arn, new_arn)
    return RenamePlan(
        old_name=old_name,
        old_path=old_path,
        old_arn=old_arn,
        new_name=new_name,
        new_path=new_path,
        new_arn=new_arn,
        changes=tuple(changes + inline),
        trust_policy_mentions=tuple(mentions),
        api_calls=calls.count,
    )


@iam_task(name="update-user", task_run_name="update-user:{user_name}")
def update_user(
    user_name: str, user_id: str, new_name: str | None, new_path: str | None
) -> UserRenamed:
    """UpdateUser with the new name and/or path. Already renamed (a retry after a lost answer)
    counts as done when the new name belongs to the same user (same unique id)."""
    iam = iam_client()
    with count_calls() as calls:
        try:
            if new_name is not None and new_path is not None:
                iam.update_user(UserName=user_name, NewUserName=new_name, NewPath=new_path)
            elif new_name is not None:
                iam.update_user(UserName=user_name, NewUserName=new_name)
            elif new_path is not None:
                iam.update_user(UserName=user_name, NewPath=new_path)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity" or new_name is None:
                raise
            try:
                now = iam.get_user(UserName=new_name)["User"]
            except ClientError:
                raise exc from None
            if now["UserId"] != user_id or (new_path is not None and now["Path"] != new_path):
                raise
            return UserRenamed(outcome="already_done", api_calls=calls.count)
    return UserRenamed(outcome="done", api_calls=calls.count)


@dataclass(frozen=True)
class _Written:
    outcome: ApplyOutcome
    references: int = 0
    new_version_id: str | None = None
    deleted_version_id: str | None = None


def _apply_managed(iam: IAMClient, change: PolicyChange, old_arn: str, new_arn: str) -> _Written:
    arn = change.owner
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]
    after, references = rewrite_references(as_document(version.get("Document")), old_arn, new_arn)
    if not references:
        return _Written("already_done")
    to_delete, _ = _oldest_non_default(iam, arn)
    if to_delete is not None:
        try:
            iam.delete_policy_version(PolicyArn=arn, VersionId=to_delete)
        except ClientError as exc:
            # Already gone when a retried attempt deleted it and then failed to create.
            if error_code(exc) != "NoSuchEntity":
                raise
    created = iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=compact(after), SetAsDefault=True
    )["PolicyVersion"]
    return _Written("done", references, created.get("VersionId"), to_delete)


def _apply_inline(
    iam: IAMClient, change: PolicyChange, owner: str, old_arn: str, new_arn: str
) -> _Written:
    current = as_document(_inline_document(iam, change.kind, owner, change.policy_name))
    after, references = rewrite_references(current, old_arn, new_arn)
    if not references:
        return _Written("already_done")
    document = compact(after)
    if change.kind == "user-inline":
        iam.put_user_policy(UserName=owner, PolicyName=change.policy_name, PolicyDocument=document)
    elif change.kind == "group-inline":
        iam.put_group_policy(
            GroupName=owner, PolicyName=change.policy_name, PolicyDocument=document
        )
    else:
        iam.put_role_policy(RoleName=owner, PolicyName=change.policy_name, PolicyDocument=document)
    return _Written("done", references)


@iam_task(name="rewrite-policy", task_run_name="rewrite-policy:{change.owner}")
def apply_change(change: PolicyChange, old_arn: str, new_arn: str) -> AppliedChange:
    """Rewrite one policy: re-read it and rewrite what still names the old ARN, so a repeated
    or late call writes the current document, never the planned copy over someone's edit."""
    iam = iam_client()
    owner = change.owner
    if change.kind == "user-inline" and change.owner_arn == old_arn:
        # The renamed user's own inline policies now live under its new name.
        owner = split_user_arn(new_arn)[2]
    with count_calls() as calls:
        if change.kind == "managed":
            written = _apply_managed(iam, change, old_arn, new_arn)
        else:
            written = _apply_inline(iam, change, owner, old_arn, new_arn)
    return AppliedChange(
        kind=change.kind,
        owner=owner,
        owner_arn=new_arn if change.owner_arn == old_arn else change.owner_arn,
        policy_name=change.policy_name,
        outcome=written.outcome,
        action=change.write_action,
        references=written.references,
        new_version_id=written.new_version_id,
        deleted_version_id=written.deleted_version_id,
        api_calls=calls.count,
    )
