"""identitystore as AWS answers it, where moto 5.2 differs.

* ``DeleteUser`` / ``DeleteGroupMembership`` of an unknown id answer ``ResourceNotFoundException``
  (moto accepts them silently); a deleted user's group memberships go with it.
* Users keep the ``Extensions`` they were created with (``aws:identitystore:enterprise`` holds
  the employee number) and the ``ExternalIds`` an identity provider gave them
  (:func:`set_external_ids`, since only SCIM provisioning sets those in AWS); ``DescribeUser`` and
  ``ListUsers`` return them (extensions only when asked for), and ``GetUserId`` finds a user by
  an external id.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moto.identitystore.exceptions import ResourceNotFoundException
from moto.identitystore.models import IdentityStoreBackend, IdentityStoreData
from moto.identitystore.responses import IdentityStoreResponse

__all__ = ["clear_identity_store_extras", "install_identity_store", "set_external_ids"]


@dataclass
class _UserExtras:
    extensions: dict[str, Any] = field(default_factory=dict)
    external_ids: list[dict[str, str]] = field(default_factory=list)


# By user id (a UUID, unique across stores); process-wide like moto's state.
_EXTRAS: dict[str, _UserExtras] = {}
_LOCK = threading.Lock()


def clear_identity_store_extras() -> None:
    with _LOCK:
        _EXTRAS.clear()


def set_external_ids(user_id: str, external_ids: Sequence[tuple[str, str]]) -> None:
    """Give a user the ``(issuer, id)`` pairs an identity provider would have provisioned."""
    with _LOCK:
        extras = _EXTRAS.setdefault(user_id, _UserExtras())
        extras.external_ids = [{"Issuer": issuer, "Id": ext} for issuer, ext in external_ids]


def _extras(user_id: str) -> _UserExtras:
    with _LOCK:
        return _EXTRAS.get(user_id) or _UserExtras()


def _store(resp: IdentityStoreResponse) -> IdentityStoreData | None:
    backend: IdentityStoreBackend = resp.identitystore_backend
    return backend.identity_stores.get(resp._get_param("IdentityStoreId") or "")


def _not_found(kind: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(message=f"{kind} not found.", resource_type=kind)


def _with_extras(user: dict[str, Any], wanted: Sequence[str]) -> dict[str, Any]:
    extras = _extras(str(user.get("UserId")))
    shown = {name: value for name, value in extras.extensions.items() if name in wanted}
    return {
        **user,
        "ExternalIds": extras.external_ids or None,
        "Extensions": shown or None,
    }


Action = Callable[[IdentityStoreResponse], str]


def _create_user(original: Action) -> Action:
    @functools.wraps(original)
    def create_user(self: IdentityStoreResponse) -> str:
        answer = original(self)
        extensions = self._get_param("Extensions") or {}
        if extensions:
            with _LOCK:
                _EXTRAS.setdefault(json.loads(answer)["UserId"], _UserExtras()).extensions = dict(
                    extensions
                )
        return answer

    return create_user


def _describe_user(original: Action) -> Action:
    @functools.wraps(original)
    def describe_user(self: IdentityStoreResponse) -> str:
        user = json.loads(original(self))
        return json.dumps(_with_extras(user, self._get_param("Extensions") or ()))

    return describe_user


def _list_users(original: Action) -> Action:
    @functools.wraps(original)
    def list_users(self: IdentityStoreResponse) -> str:
        answer = json.loads(original(self))
        wanted = self._get_param("Extensions") or ()
        answer["Users"] = [_with_extras(user, wanted) for user in answer["Users"]]
        return json.dumps(answer)

    return list_users


def _get_user_id(original: Action) -> Action:
    @functools.wraps(original)
    def get_user_id(self: IdentityStoreResponse) -> str:
        wanted = (self._get_param("AlternateIdentifier") or {}).get("ExternalId")
        if not wanted:
            return original(self)
        store = _store(self)
        for user_id in store.users if store else ():
            if wanted in _extras(user_id).external_ids:
                return json.dumps(
                    {"UserId": user_id, "IdentityStoreId": self._get_param("IdentityStoreId")}
                )
        raise _not_found("USER")

    return get_user_id


def _delete_user(original: Action) -> Action:
    @functools.wraps(original)
    def delete_user(self: IdentityStoreResponse) -> str:
        store = _store(self)
        user_id = self._get_param("UserId")
        if store is None or user_id not in store.users:
            raise _not_found("USER")
        answer = original(self)
        # No membership may name a user that is gone.
        for membership_id, membership in list(store.group_memberships.items()):
            if membership["MemberId"].get("UserId") == user_id:
                del store.group_memberships[membership_id]
        with _LOCK:
            _EXTRAS.pop(user_id, None)
        return answer

    return delete_user


def _delete_group_membership(original: Action) -> Action:
    @functools.wraps(original)
    def delete_group_membership(self: IdentityStoreResponse) -> str:
        store = _store(self)
        if store is None or self._get_param("MembershipId") not in store.group_memberships:
            raise _not_found("GROUP_MEMBERSHIP")
        return original(self)

    return delete_group_membership


_WRAPPERS: dict[str, Callable[[Action], Action]] = {
    "create_user": _create_user,
    "describe_user": _describe_user,
    "list_users": _list_users,
    "get_user_id": _get_user_id,
    "delete_user": _delete_user,
    "delete_group_membership": _delete_group_membership,
}


def install_identity_store() -> None:
    """Patch moto's identitystore responses (called once, from sandbox.extension.install)."""
    for name, wrap in _WRAPPERS.items():
        setattr(IdentityStoreResponse, name, wrap(getattr(IdentityStoreResponse, name)))
