"""Service-specific credentials (CodeCommit and Keyspaces passwords), which moto lacks.

They live on moto's ``User`` objects, so a moto reset or a user deletion drops them too.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.iam.exceptions import (
    IAMException,
    LimitExceededException,
    NotFoundException,
    ValidationError,
)
from moto.iam.models import User
from moto.iam.responses import IamResponse
from moto.moto_api._internal import mock_random

from sandbox.paging import page

__all__ = [
    "IAM_ACTIONS",
    "MAX_CREDENTIALS_PER_SERVICE",
    "SUPPORTED_CREDENTIAL_SERVICES",
    "ServiceNotSupportedException",
    "ServiceSpecificCredential",
    "service_credentials",
]

# AWS only issues service-specific credentials for these services.
SUPPORTED_CREDENTIAL_SERVICES = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
MAX_CREDENTIALS_PER_SERVICE = 2

# Guards the quota's check-then-insert; moto's own backends are not locked.
_LOCK = threading.RLock()


class ServiceNotSupportedException(IAMException):
    code = "NotSupportedService"


@dataclass
class ServiceSpecificCredential:
    """Sandbox state for one credential; the owner is the moto user holding it."""

    service_specific_credential_id: str
    service_name: str
    service_user_name: str
    service_password: str
    status: str
    create_date: datetime


def service_credentials(user: User) -> dict[str, ServiceSpecificCredential]:
    """The user's service-specific credentials by id, created on first use."""
    creds: dict[str, ServiceSpecificCredential] = user.__dict__.setdefault(
        "service_specific_credentials", {}
    )
    return creds


def _random_chars(alphabet: str, length: int) -> str:
    # moto's random honours the moto-api seed, so ids are reproducible when seeded.
    return "".join(mock_random.choice(alphabet) for _ in range(length))


def _new_credential_id() -> str:
    return "ACCA" + _random_chars(string.ascii_uppercase + string.digits, 17)


def _new_service_password() -> str:
    return _random_chars(string.ascii_letters + string.digits + "+/", 44)


def _credential_view(
    cred: ServiceSpecificCredential, user: User, *, with_password: bool
) -> dict[str, Any]:
    # The owner is read from the user at answer time so a renamed user stays consistent.
    view: dict[str, Any] = {
        "UserName": user.name,
        "Status": cred.status,
        "ServiceUserName": cred.service_user_name,
        "CreateDate": cred.create_date,
        "ServiceSpecificCredentialId": cred.service_specific_credential_id,
        "ServiceName": cred.service_name,
    }
    if with_password:
        view["ServicePassword"] = cred.service_password
    return view


def _caller_user(resp: IamResponse) -> User:
    """The user owning the request's access key, as AWS assumes when UserName is omitted."""
    user = resp.backend.get_user_from_access_key_id(resp.get_access_key())
    if user is None:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return user


def _target_user(resp: IamResponse) -> User:
    user_name = resp._get_param("UserName")
    return resp.backend.get_user(user_name) if user_name else _caller_user(resp)


def _find_credential(resp: IamResponse) -> tuple[User, ServiceSpecificCredential]:
    cred_id = resp._get_param("ServiceSpecificCredentialId")
    user_name = resp._get_param("UserName")
    # Without a UserName the sandbox looks through every user rather than only the caller.
    users = [resp.backend.get_user(user_name)] if user_name else list(resp.backend.users.values())
    for user in users:
        cred = service_credentials(user).get(cred_id)
        if cred is not None:
            return user, cred
    raise NotFoundException(f"The Service Specific Credential with id {cred_id} cannot be found.")


def _create_service_specific_credential(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName"))
    service_name = self._get_param("ServiceName")
    if service_name not in SUPPORTED_CREDENTIAL_SERVICES:
        raise ServiceNotSupportedException(
            f"No such service {service_name} is supported for Service Specific Credentials"
        )
    with _LOCK:
        creds = service_credentials(user)
        in_use = sum(1 for c in creds.values() if c.service_name == service_name)
        if in_use >= MAX_CREDENTIALS_PER_SERVICE:
            raise LimitExceededException(
                "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                f"{MAX_CREDENTIALS_PER_SERVICE}"
            )
        cred = ServiceSpecificCredential(
            service_specific_credential_id=_new_credential_id(),
            service_name=service_name,
            service_user_name=f"{user.name}-at-{user.account_id}",
            service_password=_new_service_password(),
            status="Active",
            create_date=utcnow(),
        )
        creds[cred.service_specific_credential_id] = cred
    return ActionResult(
        {"ServiceSpecificCredential": _credential_view(cred, user, with_password=True)}
    )


def _list_service_specific_credentials(self: IamResponse) -> ActionResult:
    service_name = self._get_param("ServiceName")
    if self._get_bool_param("AllUsers", False) and not self._get_param("UserName"):
        users: Iterable[User] = list(self.backend.users.values())
    else:
        users = [_target_user(self)]
    views = [
        _credential_view(cred, user, with_password=False)
        for user in users
        for cred in list(service_credentials(user).values())
        if service_name is None or cred.service_name == service_name
    ]
    items, marker = page(views, self._get_param("Marker"), self._get_int_param("MaxItems"))
    result: dict[str, Any] = {"ServiceSpecificCredentials": items, "IsTruncated": bool(marker)}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _update_service_specific_credential(self: IamResponse) -> ActionResult:
    status = self._get_param("Status")
    if status not in ("Active", "Inactive"):
        raise ValidationError(f"Invalid Status: {status}")
    _, cred = _find_credential(self)
    cred.status = status
    return EmptyResult()


def _reset_service_specific_credential(self: IamResponse) -> ActionResult:
    user, cred = _find_credential(self)
    cred.service_password = _new_service_password()
    return ActionResult(
        {"ServiceSpecificCredential": _credential_view(cred, user, with_password=True)}
    )


def _delete_service_specific_credential(self: IamResponse) -> ActionResult:
    user, cred = _find_credential(self)
    with _LOCK:
        service_credentials(user).pop(cred.service_specific_credential_id, None)
    return EmptyResult()


# IamResponse method name -> implementation, for sandbox.extension.install().
IAM_ACTIONS: dict[str, Callable[[IamResponse], ActionResult]] = {
    "create_service_specific_credential": _create_service_specific_credential,
    "list_service_specific_credentials": _list_service_specific_credentials,
    "update_service_specific_credential": _update_service_specific_credential,
    "reset_service_specific_credential": _reset_service_specific_credential,
    "delete_service_specific_credential": _delete_service_specific_credential,
}
