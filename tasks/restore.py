"""Recreate a user from its snapshot: everything IAM lets us put back, each kind its own task.

Secrets cannot come back: access keys, the password, MFA devices and service-specific
credentials must be issued anew, and the restore report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tasks.aws import count_calls, iam_client
from tasks.errors import OffboardError, error_code
from tasks.frozen import Frozen
from tasks.inline_policies import current_document, ensure_policy
from tasks.items import (
    AttachedPolicyItem,
    GroupItem,
    InlinePolicyItem,
    SigningCertificateItem,
    SSHPublicKeyItem,
)
from tasks.models import Tag, UserSummary
from tasks.runtime import iam_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

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
    # What a restore into an existing user overwrote: old tag values, the old boundary,
    # inline policies whose document changed.
    replaced: tuple[str, ...] = ()
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


def _add_missing(
    step: str,
    user_name: str,
    items: Sequence[str],
    current: set[str],
    add: Callable[[str], object],
) -> RestoreResult:
    """Add each item the user does not have yet (a membership, an attachment)."""

    def put(item: str) -> bool:
        if item in current:
            return False
        add(item)
        return True

    return _each(step, user_name, items, put)


class RestoreConflictError(OffboardError):
    """The user appeared between the checks and CreateUser: restore does not merge into it."""


@iam_task(name="restore-user", task_run_name="restore-user:{user_name}")
def create_user_from(user: UserSummary, user_name: str) -> UserSummary:
    """CreateUser with the recorded path; the new user as IAM describes it. Tags and boundary
    are steps of their own, each audited, so a failure between them says exactly what exists."""
    try:
        created = iam_client().create_user(UserName=user_name, Path=user.path)["User"]
    except ClientError as exc:
        if error_code(exc) == "EntityAlreadyExists":
            raise RestoreConflictError(
                f"an IAM user named {user_name} was created by someone else during the "
                "restore; nothing was merged into it"
            ) from None
        raise
    return UserSummary(
        user_name=created["UserName"],
        user_id=created["UserId"],
        arn=created["Arn"],
        path=created["Path"],
        create_date=created["CreateDate"],
    )


@iam_task(name="restore-tags", task_run_name="restore-tags:{user_name}")
def restore_tags(
    user_name: str, wanted: tuple[Tag, ...], current: tuple[Tag, ...]
) -> RestoreResult:
    """TagUser with the recorded tags the user lacks or holds with another value."""
    iam = iam_client()
    now = {t.key: t.value for t in current}
    changed = [t for t in wanted if now.get(t.key) != t.value]
    replaced = [f"{t.key} (was {now[t.key]!r})" for t in changed if t.key in now]
    with count_calls() as calls:
        if changed:
            iam.tag_user(
                UserName=user_name, Tags=[{"Key": t.key, "Value": t.value} for t in changed]
            )
    return RestoreResult(
        step="tags",
        user_name=user_name,
        restored=tuple(t.key for t in changed),
        already_present=tuple(t.key for t in wanted if t not in changed),
        replaced=tuple(replaced),
        api_calls=calls.count,
    )


@iam_task(
    name="restore-permissions-boundary",
    task_run_name="restore-boundary:{user_name}",
)
def restore_permissions_boundary(
    user_name: str, wanted: str | None, current: str | None
) -> RestoreResult:
    """PutUserPermissionsBoundary unless the user already has the recorded one; a boundary the
    snapshot lacks is left as it is (restore adds, it does not take away)."""
    iam = iam_client()
    with count_calls() as calls:
        if wanted and wanted != current:
            iam.put_user_permissions_boundary(UserName=user_name, PermissionsBoundary=wanted)
    changed = bool(wanted and wanted != current)
    return RestoreResult(
        step="permissions_boundary",
        user_name=user_name,
        restored=(wanted,) if wanted and changed else (),
        already_present=(wanted,) if wanted and not changed else (),
        replaced=(current,) if changed and current else (),
        api_calls=calls.count,
    )


@iam_task(name="restore-groups", task_run_name="restore-groups:{user_name}")
def restore_groups(user_name: str, groups: tuple[GroupItem, ...]) -> RestoreResult:
    iam = iam_client()
    current = {g["GroupName"] for g in iam.list_groups_for_user(UserName=user_name)["Groups"]}
    return _add_missing(
        "groups",
        user_name,
        [g.group_name for g in groups],
        current,
        lambda group: iam.add_user_to_group(UserName=user_name, GroupName=group),
    )


@iam_task(name="restore-inline-policies", task_run_name="restore-inline:{user_name}")
def restore_inline_policies(
    user_name: str, policies: tuple[InlinePolicyItem, ...]
) -> RestoreResult:
    iam = iam_client()
    documents = {p.policy_name: p.document for p in policies}
    replaced: list[str] = []

    def put(name: str) -> bool:
        # A policy of this name with another document is overwritten: the audit record says so.
        if current_document(iam, user_name, name) not in (None, documents[name]):
            replaced.append(name)
        return ensure_policy(iam, user_name, name, documents[name] or {})

    result = _each(
        "inline_policies", user_name, [p.policy_name for p in policies if p.document], put
    )
    return result.model_copy(update={"replaced": tuple(replaced)})


@iam_task(
    name="restore-managed-policies",
    task_run_name="restore-managed:{user_name}",
)
def restore_managed_policies(
    user_name: str, policies: tuple[AttachedPolicyItem, ...]
) -> RestoreResult:
    iam = iam_client()
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name)
    return _add_missing(
        "attached_policies",
        user_name,
        [p.policy_arn for p in policies],
        set(pages.search("AttachedPolicies[].PolicyArn")),
        lambda arn: iam.attach_user_policy(UserName=user_name, PolicyArn=arn),
    )


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


@iam_task(name="restore-ssh-public-keys", task_run_name="restore-ssh:{user_name}")
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


@iam_task(
    name="restore-signing-certificates",
    task_run_name="restore-certs:{user_name}",
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
