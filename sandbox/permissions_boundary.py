"""User permissions boundaries: Put/DeleteUserPermissionsBoundary and CreateUser's parameter.

moto's serializer reads ``User.PermissionsBoundary`` from the user's ``permissions_boundary``
attribute, so GetUser shows what is stored here without further patching.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import InvalidInput, NotFoundException
from moto.iam.models import IAMBackend, User
from moto.iam.responses import IamResponse

__all__ = [
    "IAM_ACTIONS",
    "LIST_USERS_BOUNDARY_KEY",
    "user_permissions_boundary",
    "wrap_create_user",
]

# AWS leaves the boundary out of ListUsers; the serializer key path to suppress it there.
LIST_USERS_BOUNDARY_KEY = "ListUsersResponse.Users.User.PermissionsBoundary"

_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$")


def user_permissions_boundary(user: User) -> dict[str, str] | None:
    """The boundary as serialized in ``User.PermissionsBoundary``, or None."""
    boundary: dict[str, str] | None = getattr(user, "permissions_boundary", None)
    return boundary


def _boundary_for(backend: IAMBackend, policy_arn: str | None) -> dict[str, str]:
    match = _POLICY_ARN.match(policy_arn or "")
    if match is None or policy_arn is None:
        raise InvalidInput(f"ARN {policy_arn} is not valid.")
    aws_managed = match.group(1) == "aws"
    # moto only knows AWS-managed policies when configured to load them; otherwise trust them.
    if policy_arn not in backend.managed_policies and (
        not aws_managed or backend.aws_managed_policies
    ):
        raise NotFoundException(f"Scope ARN: {policy_arn} does not exist or is not attachable.")
    return {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": policy_arn,
    }


def _set_boundary(user: User, boundary: dict[str, str] | None) -> None:
    user.__dict__["permissions_boundary"] = boundary


def _put_user_permissions_boundary(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName"))
    _set_boundary(user, _boundary_for(self.backend, self._get_param("PermissionsBoundary")))
    return EmptyResult()


def _delete_user_permissions_boundary(self: IamResponse) -> ActionResult:
    # AWS succeeds when no boundary is set, so this does too.
    _set_boundary(self.backend.get_user(self._get_param("UserName")), None)
    return EmptyResult()


def wrap_create_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    """CreateUser accepts PermissionsBoundary in AWS; moto ignores it."""

    @functools.wraps(original)
    def create_user(self: IamResponse) -> ActionResult:
        boundary_arn = self._get_param("PermissionsBoundary")
        boundary = _boundary_for(self.backend, boundary_arn) if boundary_arn else None
        result = original(self)
        if boundary is not None:
            _set_boundary(self.backend.get_user(self._get_param("UserName")), boundary)
        return result

    return create_user


# IamResponse method name -> implementation, for sandbox.extension.install().
IAM_ACTIONS: dict[str, Callable[[IamResponse], ActionResult]] = {
    "put_user_permissions_boundary": _put_user_permissions_boundary,
    "delete_user_permissions_boundary": _delete_user_permissions_boundary,
}
