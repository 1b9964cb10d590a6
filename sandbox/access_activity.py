"""What IAM users did: service, action and region per user, access-key and password last use.

Requests signed with a user's own access key are recorded as that user's activity (see
:mod:`sandbox.request_hooks`); tests and demos can add backdated activity with
:func:`record_service_access` and :func:`record_password_use`. Records live on moto's IAM
backends, so a moto reset forgets them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from moto.iam.models import AccessKey, AccessKeyLastUsed, IAMBackend, User, iam_backends

from sandbox.credential_scope import CredentialScope

__all__ = [
    "AccessEvent",
    "KeyOwner",
    "ServiceAccess",
    "accesses_of",
    "find_key_owner",
    "move_entity_activity",
    "record_key_use",
    "record_password_use",
    "record_service_access",
]

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

# SigV4 signing names that differ from the service's IAM namespace, which is what reports show.
_NAMESPACE_OF_SIGNING_NAME = {"monitoring": "cloudwatch", "email": "ses"}

_LOCK = threading.Lock()


@dataclass(frozen=True)
class AccessEvent:
    when: datetime
    region: str


@dataclass
class ServiceAccess:
    """One entity's latest use of one service, and of each action it called there."""

    last: AccessEvent
    actions: dict[str, AccessEvent] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyOwner:
    backend: IAMBackend
    user: User
    key: AccessKey


def _as_utc(when: datetime | None) -> datetime:
    # Timestamps are compared across records and serialized with a literal "Z", so all are
    # kept as aware UTC; naive ones are taken to be UTC already, as moto's are.
    if when is None:
        return datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _records(backend: IAMBackend) -> dict[tuple[str, str], ServiceAccess]:
    records: dict[tuple[str, str], ServiceAccess] = backend.__dict__.setdefault(
        "service_access", {}
    )
    return records


def _record(
    backend: IAMBackend,
    entity_arn: str,
    namespace: str,
    event: AccessEvent,
    action: str | None,
) -> None:
    with _LOCK:
        records = _records(backend)
        access = records.get((entity_arn, namespace))
        if access is None:
            access = records[(entity_arn, namespace)] = ServiceAccess(last=event)
        elif event.when >= access.last.when:
            access.last = event
        if action:
            previous = access.actions.get(action)
            if previous is None or event.when >= previous.when:
                access.actions[action] = event


def accesses_of(
    backend: IAMBackend, entity_arns: list[str]
) -> list[tuple[str, str, ServiceAccess]]:
    """(entity ARN, namespace, access) for every service those entities used; a snapshot."""
    wanted = set(entity_arns)
    with _LOCK:
        return [
            (entity, namespace, ServiceAccess(access.last, dict(access.actions)))
            for (entity, namespace), access in _records(backend).items()
            if entity in wanted
        ]


def move_entity_activity(backend: IAMBackend, old_arn: str, new_arn: str) -> None:
    """File everything recorded for ``old_arn`` under ``new_arn``, for a renamed entity.

    Records already under ``new_arn`` belonged to a deleted namesake and are dropped.
    """
    if old_arn == new_arn:
        return
    with _LOCK:
        records = _records(backend)
        for entity, namespace in list(records):
            if entity == new_arn:
                del records[(entity, namespace)]
        for entity, namespace in list(records):
            if entity == old_arn:
                records[(new_arn, namespace)] = records.pop((entity, namespace))


def record_service_access(
    account_id: str,
    user_arn: str,
    namespace: str,
    when: datetime | None = None,
    *,
    region: str = DEFAULT_REGION,
    action: str | None = None,
) -> None:
    """Note that ``user_arn`` used ``namespace`` (and ``action`` there) at ``when`` (default now).

    Later ``GenerateServiceLastAccessedDetails`` jobs report it; an older ``when`` than one
    already recorded does not replace it.
    """
    partition = user_arn.split(":")[1] if user_arn.count(":") >= 5 else "aws"
    backend = iam_backends[account_id][partition]
    _record(backend, user_arn, namespace.lower(), AccessEvent(_as_utc(when), region), action)


def find_key_owner(access_key_id: str) -> KeyOwner | None:
    """The IAM user holding ``access_key_id`` in any account, or None (e.g. temporary keys)."""
    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            key = backend.access_keys.get(access_key_id)
            if key is None or key.user_name is None:
                continue
            user = backend.users.get(key.user_name)
            # A key left behind by a deleted user must not count for a newer namesake.
            if user is not None and any(k is key for k in user.access_keys):
                return KeyOwner(backend=backend, user=user, key=key)
    return None


def record_key_use(
    owner: KeyOwner, scope: CredentialScope, action: str | None, when: datetime | None = None
) -> None:
    """Record a request signed with the owner's key: the key's last use and the user's access."""
    event = AccessEvent(_as_utc(when), scope.region)
    signing_name = scope.service.lower()
    namespace = _NAMESPACE_OF_SIGNING_NAME.get(signing_name, signing_name)
    # GetAccessKeyLastUsed answers from moto's own attribute.
    owner.key.last_used = AccessKeyLastUsed(
        timestamp=event.when, service=namespace, region=scope.region
    )
    _record(owner.backend, owner.user.arn, namespace, event, action)


def record_password_use(
    user_name: str, when: datetime | None, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Set when ``user_name`` last signed in with their password (GetUser's PasswordLastUsed).

    None clears it, as for a user who never signed in.
    """
    backend = iam_backends[account_id]["aws"]
    user = backend.users.get(user_name)
    if user is None:
        raise LookupError(f"No IAM user {user_name!r} in account {account_id}")
    # moto's serializer reads User.PasswordLastUsed from this attribute.
    user.__dict__["password_last_used"] = None if when is None else _as_utc(when)
