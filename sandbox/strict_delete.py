"""A DeleteUser as strict as AWS: ``DeleteConflict`` while anything is still attached.

moto's own DeleteUser only refuses while policies remain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import DeleteConflictException
from moto.iam.models import IAMBackend, User
from moto.iam.responses import IamResponse

from sandbox.service_credentials import service_credentials

__all__ = ["delete_conflict", "wrap_delete_user"]


def delete_conflict(backend: IAMBackend, user: User) -> str | None:
    """Why AWS would refuse to delete ``user`` right now, or None when it may go.

    Checked in the order the engine removes things, so the message names the next step.
    """
    checks: list[tuple[bool, str]] = [
        (bool(user.password), "must delete login profile first"),
        (bool(user.access_keys), "must delete access keys first"),
        (bool(user.signing_certificates), "must delete signing certificates first"),
        (bool(user.ssh_public_keys), "must delete SSH public keys first"),
        (bool(service_credentials(user)), "must delete service specific credentials first"),
        (bool(user.mfa_devices), "must delete MFA device first"),
        (bool(user.policies), "must delete policies first"),
        (bool(user.managed_policies), "must detach all policies first"),
        (bool(backend.get_groups_for_user(user.name)), "must remove user from all groups first"),
    ]
    for blocked, reason in checks:
        if blocked:
            return f"Cannot delete entity, {reason}."
    return None


def wrap_delete_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_user(self: IamResponse) -> ActionResult:
        user = self.backend.get_user(self._get_param("UserName"))
        problem = delete_conflict(self.backend, user)
        if problem is not None:
            raise DeleteConflictException(problem)
        return original(self)

    return delete_user
