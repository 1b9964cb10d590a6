"""What the inventory records about each attachment: ids for the steps, details for snapshots.

No model here holds a secret: IAM's list calls never return one, and the engine never asks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from tasks.frozen import Frozen

LOGIN_PROFILE_ID = "login-profile"


class Item(Protocol):
    @property
    def id(self) -> str: ...


class LoginProfileItem(Frozen):
    create_date: datetime | None = None
    password_reset_required: bool = False

    @property
    def id(self) -> str:
        # The login profile has no id of its own; this stands for it.
        return LOGIN_PROFILE_ID


class AccessKeyItem(Frozen):
    access_key_id: str
    status: str
    create_date: datetime | None = None

    @property
    def id(self) -> str:
        return self.access_key_id


class SigningCertificateItem(Frozen):
    certificate_id: str
    status: str
    upload_date: datetime | None = None
    body: str

    @property
    def id(self) -> str:
        return self.certificate_id


class SSHPublicKeyItem(Frozen):
    ssh_public_key_id: str
    status: str
    upload_date: datetime | None = None
    # ListSSHPublicKeys omits the body; the snapshot fetches it.
    body: str | None = None

    @property
    def id(self) -> str:
        return self.ssh_public_key_id


class ServiceCredentialItem(Frozen):
    service_specific_credential_id: str
    service_name: str
    service_user_name: str | None = None
    status: str
    create_date: datetime | None = None

    @property
    def id(self) -> str:
        return self.service_specific_credential_id


MFAKind = Literal["virtual", "hardware", "fido"]


def mfa_kind(serial: str) -> MFAKind:
    """Virtual devices are arn:…:mfa/NAME, FIDO keys arn:…:u2f/…; anything else is hardware."""
    if serial.startswith("arn:") and ":mfa/" in serial:
        return "virtual"
    if serial.startswith("arn:") and ":u2f/" in serial:
        return "fido"
    return "hardware"


class MFADeviceItem(Frozen):
    serial_number: str
    enable_date: datetime | None = None

    @property
    def kind(self) -> MFAKind:
        return mfa_kind(self.serial_number)

    @property
    def id(self) -> str:
        return self.serial_number


class InlinePolicyItem(Frozen):
    policy_name: str
    # ListUserPolicies gives names only; the snapshot fetches each document.
    document: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.policy_name


class AttachedPolicyItem(Frozen):
    policy_arn: str
    policy_name: str

    @property
    def id(self) -> str:
        return self.policy_arn


class GroupItem(Frozen):
    group_name: str
    arn: str | None = None
    path: str = "/"

    @property
    def id(self) -> str:
        return self.group_name
