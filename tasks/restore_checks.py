"""What a restore checks before its first write: every name and path in the snapshot follows
IAM's rules, and every managed policy and group it names exists in the target account.

A snapshot is a file anyone with access to the store can edit, so nothing in it is trusted.
"""

from __future__ import annotations

import re

from tasks.aws import iam_client
from tasks.errors import InvalidInputError, if_exists
from tasks.models import USER_NAME_PATTERN
from tasks.rename import USER_PATH_PATTERN
from tasks.runtime import iam_task
from tasks.snapshot import UserSnapshot

PERMISSIONS = ("iam:GetPolicy", "iam:GetGroup")

# IAM's own rules (CreateGroup, PutUserPolicy, TagUser, AttachUserPolicy).
GROUP_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
POLICY_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
POLICY_ARN_PATTERN = re.compile(
    r"arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy(/[\x21-\x7E]+)*/[\w+=,.@-]{1,128}", re.ASCII
)
TAG_KEY_PATTERN = re.compile(r"[\w .:/=+\-@]{1,128}")
TAG_VALUE_PATTERN = re.compile(r"[\w .:/=+\-@]{0,256}")
MAX_TAGS = 50
# UploadSSHPublicKey takes ssh-rsa or PEM; UploadSigningCertificate PEM (both <= 16384 chars).
SSH_KEY_PREFIXES = ("ssh-rsa ", "-----BEGIN ")
CERTIFICATE_PREFIX = "-----BEGIN CERTIFICATE-----"
MAX_BODY = 16384


def path_problem(path: str) -> str | None:
    """Why IAM would refuse this path, or None. A `.`, `..` or empty segment is refused too:
    IAM takes it as plain text, but paths are matched as prefixes (protected path prefixes,
    policy conditions), and `/../breakglass/` reads as something it is not."""
    if not USER_PATH_PATTERN.fullmatch(path):
        return f"invalid path {path!r}: use '/' or printable ASCII between '/' and '/'"
    if path != "/" and any(segment in {"", ".", ".."} for segment in path[1:-1].split("/")):
        return f"invalid path {path!r}: an empty, '.' or '..' segment"
    return None


def name_problems(snapshot: UserSnapshot, user_name: str) -> list[str]:
    """Every name, path, ARN and tag of the snapshot IAM would refuse, in words."""
    user = snapshot.user
    inventory = snapshot.inventory
    problems: list[str] = []
    if not USER_NAME_PATTERN.fullmatch(user_name):
        problems.append(f"invalid user name {user_name!r}")
    if problem := path_problem(user.path):
        problems.append(problem)
    for policy in inventory.inline_policies:
        if not POLICY_NAME_PATTERN.fullmatch(policy.policy_name):
            problems.append(f"invalid inline policy name {policy.policy_name!r}")
    for group in inventory.groups:
        if not GROUP_NAME_PATTERN.fullmatch(group.group_name):
            problems.append(f"invalid group name {group.group_name!r}")
    arns = [p.policy_arn for p in inventory.attached_policies]
    boundary = [user.permissions_boundary_arn] if user.permissions_boundary_arn else []
    for arn in [*arns, *boundary]:
        # `..` is refused like a path segment: IAM would take it as part of the policy's path.
        if not POLICY_ARN_PATTERN.fullmatch(arn) or "/../" in arn or "/./" in arn:
            problems.append(f"invalid managed policy ARN {arn!r}")
    if len(user.tags) > MAX_TAGS:
        problems.append(f"invalid tags: {len(user.tags)} (IAM allows {MAX_TAGS})")
    for tag in user.tags:
        if not TAG_KEY_PATTERN.fullmatch(tag.key) or tag.key.lower().startswith("aws:"):
            problems.append(f"invalid tag key {tag.key!r}")
        elif not TAG_VALUE_PATTERN.fullmatch(tag.value):
            problems.append(f"invalid value for tag {tag.key!r}")
    for key in inventory.ssh_public_keys:
        body = (key.body or "").strip()
        if key.body is not None and (not body.startswith(SSH_KEY_PREFIXES) or len(body) > MAX_BODY):
            problems.append(f"invalid body of SSH public key {key.ssh_public_key_id}")
    for cert in inventory.signing_certificates:
        body = cert.body.strip()
        if not body.startswith(CERTIFICATE_PREFIX) or len(body) > MAX_BODY:
            problems.append(f"invalid body of signing certificate {cert.certificate_id}")
    return problems


def check_names(snapshot: UserSnapshot, user_name: str, location: str) -> None:
    """Raise one-line InvalidInputError naming every problem; no AWS call."""
    problems = name_problems(snapshot, user_name)
    if problems:
        raise InvalidInputError(f"snapshot {location} cannot be restored: {'; '.join(problems)}")


@iam_task(name="restore-check-references")
def missing_references(snapshot: UserSnapshot) -> tuple[str, ...]:
    """The managed policies (boundary included) and groups the snapshot names that do not exist
    in the account, in words. Read calls only."""
    iam = iam_client()
    inventory = snapshot.inventory
    kinds = {p.policy_arn: "managed policy" for p in inventory.attached_policies}
    if snapshot.user.permissions_boundary_arn:
        kinds.setdefault(snapshot.user.permissions_boundary_arn, "permissions boundary policy")
    missing: list[str] = []
    for arn, kind in kinds.items():
        if if_exists(lambda: iam.get_policy(PolicyArn=arn)) is None:  # noqa: B023  # called now
            missing.append(f"{kind} {arn} does not exist")
    for name in dict.fromkeys(g.group_name for g in inventory.groups):
        if if_exists(lambda: iam.get_group(GroupName=name, MaxItems=1)) is None:  # noqa: B023
            missing.append(f"group {name} does not exist")
    return tuple(missing)
