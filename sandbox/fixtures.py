"""Users carrying every attachment kind the offboarding engine has to remove.

Works against any IAM endpoint with the sandbox's extensions (service-specific credentials and
permissions boundaries), through an ordinary boto3 IAM client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

# cryptography is a hard dependency of moto (its IAM models import it to validate signing
# certificates), so a real self-signed certificate can always be generated here.
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

__all__ = [
    "CREDENTIAL_SERVICES",
    "DEMO_EMPLOYEE_IDS",
    "DEMO_USERS",
    "LoadedUser",
    "certificate_pem",
    "create_loaded_user",
    "seed_demo_users",
    "ssh_public_key_body",
]

# The services AWS issues service-specific credentials for, used round-robin.
CREDENTIAL_SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com")

# (user name, path, department): the users `--seed-demo` and `offboard demo` work with.
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("alice.departed", "/staff/", "engineering"),
    ("bob.onleave", "/staff/", "finance"),
    ("carol.contractor", "/contractors/", "platform"),
)
# HR's employee ids of the demo users, in the tag README's examples and the example leave
# calendar match them by (the default OFFBOARD_EMPLOYEE_TAG_KEY).
DEMO_EMPLOYEE_TAG_KEY = "employee_id"
DEMO_EMPLOYEE_IDS: dict[str, str] = {
    "alice.departed": "E-1001",
    "bob.onleave": "E-1002",
    "carol.contractor": "E-1003",
}

FIXTURE_PASSWORD = "Sandbox-Passw0rd!"
MFA_CODES = ("123456", "654321")

# Actions per policy, cycled, so last-accessed reports name several services.
_INLINE_ACTIONS: tuple[tuple[str, ...], ...] = (
    ("s3:GetObject", "s3:ListBucket"),
    ("dynamodb:GetItem", "dynamodb:Query"),
    ("sqs:SendMessage",),
)
_MANAGED_ACTIONS: tuple[tuple[str, ...], ...] = (
    ("ec2:DescribeInstances",),
    ("codecommit:GitPull",),
    ("logs:PutLogEvents",),
)
_BOUNDARY_ACTIONS = ("s3:*", "dynamodb:*", "sqs:*", "ec2:*", "codecommit:*", "logs:*")


@dataclass(frozen=True)
class LoadedUser:
    """Everything :func:`create_loaded_user` created, by id or name."""

    user_name: str
    user_arn: str
    path: str
    tags: tuple[tuple[str, str], ...]
    access_key_ids: tuple[str, ...]
    signing_certificate_id: str
    ssh_public_key_id: str
    service_credential_ids: tuple[str, ...]
    mfa_serial: str
    inline_policy_names: tuple[str, ...]
    managed_policy_arns: tuple[str, ...]
    group_names: tuple[str, ...]
    boundary_arn: str


def _policy(actions: tuple[str, ...]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


@lru_cache(maxsize=1)
def _private_key() -> rsa.RSAPrivateKey:
    # One key per process: generating RSA keys is the slow part, and IAM never sees it.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(common_name: str) -> str:
    """A fresh self-signed X.509 certificate, distinct per call (own serial and subject)."""
    key = _private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@lru_cache(maxsize=1)
def _ssh_public_key_blob() -> str:
    blob = (
        _private_key()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return blob.decode("ascii")


def ssh_public_key_body(comment: str = "sandbox") -> str:
    """A valid ``ssh-rsa AAAA... comment`` public key (2048-bit, as IAM requires)."""
    return f"{_ssh_public_key_blob()} {comment}"


def create_loaded_user(
    iam: IAMClient,
    name: str,
    *,
    path: str = "/",
    groups: int = 2,
    inline: int = 2,
    managed: int = 2,
    access_keys: int = 2,
    service_credentials: int = 2,
    tags: Mapping[str, str] | None = None,
) -> LoadedUser:
    """Create ``name`` with tags, a login profile, access keys, a signing certificate, an SSH
    key, service-specific credentials, an enabled virtual MFA device, inline and attached
    managed policies, group memberships and a permissions boundary.

    Policy, group and MFA names derive from ``name`` so many users fit in one sandbox. IAM's
    quotas still apply: at most 2 access keys, and 2 credentials per service (so 4 in all).
    """
    tag_map = dict(tags) if tags is not None else {"Fixture": "loaded-user", "Owner": name}
    user = iam.create_user(
        UserName=name,
        Path=path,
        Tags=[{"Key": key, "Value": value} for key, value in tag_map.items()],
    )["User"]
    iam.create_login_profile(UserName=name, Password=FIXTURE_PASSWORD, PasswordResetRequired=False)

    key_ids = tuple(
        iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(access_keys)
    )
    cert_id = iam.upload_signing_certificate(UserName=name, CertificateBody=certificate_pem(name))[
        "Certificate"
    ]["CertificateId"]
    ssh_key_id = iam.upload_ssh_public_key(
        UserName=name, SSHPublicKeyBody=ssh_public_key_body(f"{name}@sandbox")
    )["SSHPublicKey"]["SSHPublicKeyId"]
    cred_ids = tuple(
        iam.create_service_specific_credential(
            UserName=name, ServiceName=CREDENTIAL_SERVICES[i % len(CREDENTIAL_SERVICES)]
        )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
        for i in range(service_credentials)
    )

    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=name,
        SerialNumber=serial,
        AuthenticationCode1=MFA_CODES[0],
        AuthenticationCode2=MFA_CODES[1],
    )

    inline_names = tuple(f"{name}-inline-{i + 1}" for i in range(inline))
    for i, policy_name in enumerate(inline_names):
        iam.put_user_policy(
            UserName=name,
            PolicyName=policy_name,
            PolicyDocument=_policy(_INLINE_ACTIONS[i % len(_INLINE_ACTIONS)]),
        )

    managed_arns: list[str] = []
    for i in range(managed):
        arn = iam.create_policy(
            PolicyName=f"{name}-managed-{i + 1}",
            PolicyDocument=_policy(_MANAGED_ACTIONS[i % len(_MANAGED_ACTIONS)]),
        )["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
        managed_arns.append(arn)

    group_names = tuple(f"{name}-group-{i + 1}" for i in range(groups))
    for group_name in group_names:
        iam.create_group(GroupName=group_name)
        iam.add_user_to_group(GroupName=group_name, UserName=name)

    boundary_arn = iam.create_policy(
        PolicyName=f"{name}-boundary", PolicyDocument=_policy(_BOUNDARY_ACTIONS)
    )["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary_arn)

    return LoadedUser(
        user_name=name,
        user_arn=user["Arn"],
        path=path,
        tags=tuple(tag_map.items()),
        access_key_ids=key_ids,
        signing_certificate_id=cert_id,
        ssh_public_key_id=ssh_key_id,
        service_credential_ids=cred_ids,
        mfa_serial=serial,
        inline_policy_names=inline_names,
        managed_policy_arns=tuple(managed_arns),
        group_names=group_names,
        boundary_arn=boundary_arn,
    )


def _user_exists(iam: IAMClient, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return False
        raise
    return True


def seed_demo_users(iam: IAMClient) -> list[str]:
    """Create the demo users (see :data:`DEMO_USERS`), skipping any that already exist.

    Returns every demo user name, in :data:`DEMO_USERS` order, created now or before.
    """
    names: list[str] = []
    for name, path, department in DEMO_USERS:
        if not _user_exists(iam, name):
            tags = {
                "Department": department,
                "Fixture": "demo",
                DEMO_EMPLOYEE_TAG_KEY: DEMO_EMPLOYEE_IDS[name],
            }
            create_loaded_user(iam, name, path=path, tags=tags)
        names.append(name)
    return names
