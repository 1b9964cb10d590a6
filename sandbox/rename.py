"""An UpdateUser (new name or path) that keeps everything the user has, as AWS does.

moto 5.2 keys a user's tags by ARN, so a new name or path drops them; the owner name recorded
on access keys, signing certificates and SSH keys goes stale (so a renamed user's key no longer
finds its owner); and renaming onto an existing user silently replaces that user. The unique
id, policies, groups, login profile, MFA devices and the sandbox's own per-user state
(service-specific credentials, permissions boundary, password last use) live on the user
object and follow it as they are; activity recorded by ARN is moved to the new ARN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import EntityAlreadyExists
from moto.iam.models import IAMBackend, User
from moto.iam.responses import IamResponse

from sandbox.access_activity import move_entity_activity

__all__ = ["follow_user", "wrap_update_user"]


def follow_user(backend: IAMBackend, user: User, old_arn: str) -> None:
    """Bring what is kept by name or ARN in line with ``user``'s current name and path."""
    for key in user.access_keys:
        key.user_name = user.name
    for certificate in user.signing_certificates.values():
        certificate.user_name = user.name
    for ssh_key in user.ssh_public_keys:
        ssh_key.user_name = user.name
    new_arn = user.arn
    if new_arn == old_arn:
        return
    tags = backend.tagger.list_tags_for_resource(old_arn)["Tags"]
    backend.tagger.delete_all_tags_for_resource(old_arn)
    if tags:
        backend.tagger.tag_resource(new_arn, tags)
    move_entity_activity(backend, old_arn, new_arn)


def wrap_update_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_user(self: IamResponse) -> ActionResult:
        user = self.backend.get_user(self._get_param("UserName"))
        new_name = self._get_param("NewUserName")
        if new_name and new_name != user.name and new_name in self.backend.users:
            raise EntityAlreadyExists(f"User with name {new_name} already exists.")
        old_arn = user.arn
        result = original(self)
        follow_user(self.backend, user, old_arn)
        return result

    return update_user
