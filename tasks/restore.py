"""Recreate a user from its snapshot: everything IAM lets us put back, each kind its own task.

Secrets cannot come back: access keys, the password, MFA devices and service-specific
credentials must be issued anew, and the restore report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from prefect import task

from tasks.aws import count_calls, iam_client
from tasks.errors import error_code
from tasks.frozen import Frozen
from tasks.inline_policies import ensure_policy
from tasks.items import (
    AttachedPolicyItem,
    GroupItem,
    InlinePolicyItem,
    SigningCertificateItem,
    SSHPublicKeyItem,
)
from tasks.models import UserSummary
from tasks.runtime import retry_options

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import TagTypeDef

PERMISSIONS = (
    # Restore reads what is already there, so a repeat changes nothing.
    "iam:ListGroupsForUser",
    "iam:GetUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:ListSSHPublicKeys",
    "iam:GetSSHPublicKey",
    "iam:ListSigningCertificates",
    "iam:CreateUser",
    "iam:TagUser",
    "iam:PutUserPermissionsBoundary",
    "iam:AddUserToGroup",
    "iam:PutUserPolicy",
    "iam:AttachUserPolicy",
    "iam:UploadSSHPublicKey",
    "iam:UpdateSSHPublicKey",
    "iam:UploadSigningCertificate",
    "iam:UpdateSigningCertificate",
)


class RestoreResult(Frozen):
    step: str
    user_name: str
    restored: tuple[str, ...] = ()
    already_present: tuple[str, ...] = ()
    api_calls: int = 0


def _each(
    step: str, user_name: str, items: Sequence[str], put: Callable[[str], bool]
) -> RestoreResult:
    """`put` returns True when it created the item, False when it was already there."""
    restored: list[str] = []
    present: list[str] = []
    with count_calls() as calls:
        for item in items:
            (restored if put(item) else present).append(item)
    return RestoreResult(
        step=step,
        user_name=user_name,
        restored=tuple(restored),
        already_present=tuple(present),
        api_calls=calls.count,
    )


@task(name="restore-user", task_run_name="restore-user:{user_name}", **retry_options())
def recreate_user(user: UserSummary, user_name: str) -> RestoreResult:
    """The user with its path, tags and permissions boundary."""
    iam = iam_client()

    def put(_: str) -> bool:
        tags: list[TagTypeDef] = [{"Key": t.key, "Value": t.value} for t in user.tags]
        try:
            iam.create_user(UserName=user_name, Path=user.path, Tags=tags)
            created = True
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
            created = False
            if tags:
                iam.tag_user(UserName=user_name, Tags=tags)
        if user.permissions_boundary_arn:
            iam.put_user_permissions_boundary(
                UserName=user_name, PermissionsBoundary=user.permissions_boundary_arn
            )
        return created

    return _each("user", user_name, [user_name], put)


@task(name="restore-groups", task_run_name="restore-groups:{user_name}", **retry_options())
def restore_groups(user_name: str, groups: tuple[GroupItem, ...]) -> RestoreResult:
    iam = iam_client()
    current = {g["GroupName"] for g in iam.list_groups_for_user(UserName=user_name)["Groups"]}

    def put(group: str) -> bool:
        if group in current:
            return False
        iam.add_user_to_group(UserName=user_name, GroupName=group)
        return True

    return _each("groups", user_name, [g.group_name for g in groups], put)


@task(name="restore-inline-policies", task_run_name="restore-inline:{user_name}", **retry_options())
def restore_inline_policies(
    user_name: str, policies: tuple[InlinePolicyItem, ...]
) -> RestoreResult:
    iam = iam_client()
    documents = {p.policy_name: p.document for p in policies}

    def put(name: str) -> bool:
        return ensure_policy(iam, user_name, name, documents[name] or {})

    return _each("inline_policies", user_name, [p.policy_name for p in policies if p.document], put)


@task(
    name="restore-managed-policies", task_run_name="restore-managed:{user_name}", **retry_options()
)
def restore_managed_policies(
    user_name: str, policies: tuple[AttachedPolicyItem, ...]
) -> RestoreResult:
    iam = iam_client()
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name)
    current = set(pages.search("AttachedPolicies[].PolicyArn"))

    def put(arn: str) -> bool:
        if arn in current:
            return False
        iam.attach_user_policy(UserName=user_name, PolicyArn=arn)
        return True

    return _each("attached_policies", user_name, [p.policy_arn for p in policies], put)


def _ssh_bodies(iam: IAMClient, user_name: str) -> dict[str, tuple[str, str]]:
    """body → (key id, status) of the user's current SSH keys."""
    found: dict[str, tuple[str, str]] = {}
    for key in (
        iam.get_paginator("list_ssh_public_keys")
        .paginate(UserName=user_name)
        .search("SSHPublicKeys[]")
    ):
        body = iam.get_ssh_public_key(
            UserName=user_name, SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH"
        )["SSHPublicKey"]["SSHPublicKeyBody"]
        found[body.strip()] = (key["SSHPublicKeyId"], key["Status"])
    return found


def _upload_by_body(
    step: str,
    user_name: str,
    wanted: dict[str, tuple[str, str]],
    current: dict[str, tuple[str, str]],
    upload: Callable[[str], str],
    set_status: Callable[[str, str], None],
) -> RestoreResult:
    """Keys and certificates get new ids on upload, so they are matched by body: upload a body
    that is missing, then give it the recorded status. `wanted`: old id → (body, status);
    `current`: body → (id, status)."""

    def put(old_id: str) -> bool:
        body, status = wanted[old_id]
        created = body not in current
        if created:
            current[body] = (upload(body), "Active")
        new_id, now = current[body]
        if now != status:
            set_status(new_id, status)
        return created

    return _each(step, user_name, list(wanted), put)


@task(name="restore-ssh-public-keys", task_run_name="restore-ssh:{user_name}", **retry_options())
def restore_ssh_public_keys(user_name: str, keys: tuple[SSHPublicKeyItem, ...]) -> RestoreResult:
    iam = iam_client()
    return _upload_by_body(
        "ssh_public_keys",
        user_name,
        {k.ssh_public_key_id: (k.body.strip(), k.status) for k in keys if k.body},
        _ssh_bodies(iam, user_name),
        lambda body: iam.upload_ssh_public_key(UserName=user_name, SSHPublicKeyBody=body)[
            "SSHPublicKey"
        ]["SSHPublicKeyId"],
        lambda key_id, status: iam.update_ssh_public_key(
            UserName=user_name,
            SSHPublicKeyId=key_id,
            Status=status,  # type: ignore[arg-type]
        ),
    )


@task(
    name="restore-signing-certificates",
    task_run_name="restore-certs:{user_name}",
    **retry_options(),
)
def restore_signing_certificates(
    user_name: str, certificates: tuple[SigningCertificateItem, ...]
) -> RestoreResult:
    iam = iam_client()
    pages = iam.get_paginator("list_signing_certificates").paginate(UserName=user_name)
    return _upload_by_body(
        "signing_certificates",
        user_name,
        {c.certificate_id: (c.body.strip(), c.status) for c in certificates},
        {
            c["CertificateBody"].strip(): (c["CertificateId"], c["Status"])
            for c in pages.search("Certificates[]")
        },
        lambda body: iam.upload_signing_certificate(UserName=user_name, CertificateBody=body)[
            "Certificate"
        ]["CertificateId"],
        lambda cert_id, status: iam.update_signing_certificate(
            UserName=user_name,
            CertificateId=cert_id,
            Status=status,  # type: ignore[arg-type]
        ),
    )
