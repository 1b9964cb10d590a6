"""Frozen pydantic models the tasks hand to the flows: the user, its inventory, step results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.items import (
    AccessKeyItem,
    AttachedPolicyItem,
    GroupItem,
    InlinePolicyItem,
    Item,
    LoginProfileItem,
    MFADeviceItem,
    ServiceCredentialItem,
    SigningCertificateItem,
    SSHPublicKeyItem,
)

# IAM's own rule for user names.
USER_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def validate_user_name(name: str) -> str:
    if not USER_NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"invalid IAM user name {name!r}: use 1-64 letters, digits or +=,.@_- characters"
        )
    return name


UserName = Annotated[str, AfterValidator(validate_user_name)]


class Tag(Frozen):
    key: str
    value: str


class UserSummary(Frozen):
    """What GetUser says about the target."""

    user_name: UserName
    user_id: str
    arn: str
    path: str
    create_date: datetime
    password_last_used: datetime | None = None
    permissions_boundary_arn: str | None = None
    tags: tuple[Tag, ...] = ()
    # Calls spent resolving the user, reported apart from the deletion calls.
    api_calls: int = Field(default=0, ge=0)

    @property
    def account_id(self) -> str:
        return self.arn.split(":")[4]


class UserInventory(Frozen):
    """Everything the deletion steps will remove, by step name, with the details IAM lists."""

    user_name: UserName
    login_profile: tuple[LoginProfileItem, ...] = ()
    access_keys: tuple[AccessKeyItem, ...] = ()
    signing_certificates: tuple[SigningCertificateItem, ...] = ()
    ssh_public_keys: tuple[SSHPublicKeyItem, ...] = ()
    service_specific_credentials: tuple[ServiceCredentialItem, ...] = ()
    mfa_devices: tuple[MFADeviceItem, ...] = ()
    inline_policies: tuple[InlinePolicyItem, ...] = ()
    attached_policies: tuple[AttachedPolicyItem, ...] = ()
    groups: tuple[GroupItem, ...] = ()
    api_calls: int = Field(default=0, ge=0)

    def items(self, step: str) -> tuple[str, ...]:
        """The ids a step acts on; the final step's only item is the user itself."""
        if step == "user":
            return (self.user_name,)
        return tuple(item.id for item in self.details(step))

    def details(self, step: str) -> tuple[Item, ...]:
        """What the inventory listed for an attachment step (its field has the step's name)."""
        found: tuple[Item, ...] = getattr(self, step)
        return found

    def attachments(self) -> dict[str, tuple[str, ...]]:
        """Ids of the non-empty attachment kinds, in the procedure's order."""
        kinds = (name for name in type(self).model_fields if name not in {"user_name", "api_calls"})
        return {kind: ids for kind in kinds if (ids := self.items(kind))}

    @property
    def is_empty(self) -> bool:
        return not self.attachments()


class StepResult(Frozen):
    step: str
    user_name: UserName
    removed: tuple[str, ...] = ()
    already_absent: tuple[str, ...] = ()
    # NoSuchEntity on a retry of a delete whose earlier answer was lost: this run removed it.
    done_earlier: tuple[str, ...] = ()
    api_calls: int = Field(default=0, ge=0)
