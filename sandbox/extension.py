"""Extensions to moto's IAM backend for the embedded sandbox.

moto 5.2 lacks several IAM actions the offboarding engine calls, and its ``DeleteUser`` only
refuses while policies remain. :func:`install` patches moto in place (idempotently):

* service-specific credentials (Create/List/Update/Reset/Delete), stored on moto's users;
* ``PutUserPermissionsBoundary`` / ``DeleteUserPermissionsBoundary``, visible in ``GetUser``;
* ``GenerateServiceLastAccessedDetails`` / ``GetServiceLastAccessedDetails``;
* a ``DeleteUser`` that answers ``DeleteConflict`` while anything is still attached;
* a process-wide :class:`RequestLog` of every request the server handles;
* a fault injector (:func:`inject_fault`) answering chosen errors before moto runs.

The patches rely on moto internals (``IamResponse`` action methods, the serializer's
attribute picking, ``DomainDispatcherApplication``), which is why moto is pinned to 5.2.x.
"""

from __future__ import annotations

import functools
import json
import re
import string
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote
from xml.sax.saxutils import escape

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.core.serialize import never_return
from moto.core.utils import get_service_model, utcnow
from moto.iam.exceptions import (
    DeleteConflictException,
    IAMException,
    InvalidInput,
    LimitExceededException,
    NotFoundException,
    ValidationError,
)
from moto.iam.models import IAMBackend, ManagedPolicy, User, iam_backends
from moto.iam.responses import IamResponse
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

__all__ = [
    "MAX_CREDENTIALS_PER_SERVICE",
    "SUPPORTED_CREDENTIAL_SERVICES",
    "RecordedCall",
    "RequestLog",
    "ServiceSpecificCredential",
    "clear_faults",
    "delete_conflict",
    "inject_fault",
    "install",
    "pending_faults",
    "record_service_access",
    "request_log",
    "service_credentials",
    "user_permissions_boundary",
]

T = TypeVar("T")

# AWS only issues service-specific credentials for these services.
SUPPORTED_CREDENTIAL_SERVICES = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
MAX_CREDENTIALS_PER_SERVICE = 2
DEFAULT_MAX_ITEMS = 100

_INSTALL_LOCK = threading.Lock()
# Guards check-then-insert on sandbox state; moto's own backends are not locked.
_STATE_LOCK = threading.RLock()
_INSTALLED_FLAG = "_offboard_sandbox_installed"


class ServiceNotSupportedException(IAMException):
    code = "NotSupportedService"


# --------------------------------------------------------------------------------------------
# Service-specific credentials
# --------------------------------------------------------------------------------------------


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
    """The user's service-specific credentials by id, created on first use.

    Living on moto's ``User`` object means a moto reset or a user deletion drops them too.
    """
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


def _page(
    items: Sequence[T], marker: str | None, max_items: int | None
) -> tuple[list[T], str | None]:
    """Index-based paging with AWS's Marker/MaxItems/IsTruncated contract."""
    if marker:
        if not marker.isdigit():
            raise InvalidInput(f"Invalid Marker: {marker}")
        start = int(marker)
    else:
        start = 0
    limit = int(max_items) if max_items else DEFAULT_MAX_ITEMS
    if limit < 1:
        raise InvalidInput("MaxItems must be at least 1.")
    end = start + limit
    return list(items[start:end]), (str(end) if end < len(items) else None)


def _create_service_specific_credential(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName"))
    service_name = self._get_param("ServiceName")
    if service_name not in SUPPORTED_CREDENTIAL_SERVICES:
        raise ServiceNotSupportedException(
            f"No such service {service_name} is supported for Service Specific Credentials"
        )
    with _STATE_LOCK:
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
    page, marker = _page(views, self._get_param("Marker"), self._get_int_param("MaxItems"))
    result: dict[str, Any] = {"ServiceSpecificCredentials": page, "IsTruncated": bool(marker)}
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
    with _STATE_LOCK:
        service_credentials(user).pop(cred.service_specific_credential_id, None)
    return EmptyResult()


# --------------------------------------------------------------------------------------------
# User permissions boundary
# --------------------------------------------------------------------------------------------

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
    # moto's serializer reads User.PermissionsBoundary from this attribute.
    user.__dict__["permissions_boundary"] = boundary


def _put_user_permissions_boundary(self: IamResponse) -> ActionResult:
    user = self.backend.get_user(self._get_param("UserName"))
    _set_boundary(user, _boundary_for(self.backend, self._get_param("PermissionsBoundary")))
    return EmptyResult()


def _delete_user_permissions_boundary(self: IamResponse) -> ActionResult:
    # AWS succeeds when no boundary is set, so this does too.
    _set_boundary(self.backend.get_user(self._get_param("UserName")), None)
    return EmptyResult()


def _wrap_create_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
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


# --------------------------------------------------------------------------------------------
# Service last accessed
# --------------------------------------------------------------------------------------------

# Friendly names for the namespaces the engine's fixtures use; others fall back to the namespace.
SERVICE_NAMES: dict[str, str] = {
    "cassandra": "Amazon Keyspaces",
    "cloudwatch": "Amazon CloudWatch",
    "codecommit": "AWS CodeCommit",
    "dynamodb": "Amazon DynamoDB",
    "ec2": "Amazon EC2",
    "iam": "AWS Identity and Access Management",
    "kms": "AWS Key Management Service",
    "lambda": "AWS Lambda",
    "logs": "Amazon CloudWatch Logs",
    "s3": "Amazon S3",
    "secretsmanager": "AWS Secrets Manager",
    "sns": "Amazon SNS",
    "sqs": "Amazon SQS",
    "sts": "AWS Security Token Service",
}

_GRANULARITIES = ("SERVICE_LEVEL", "ACTION_LEVEL")


@dataclass
class LastAccessedJob:
    job_id: str
    job_type: str
    created: datetime
    completed: datetime
    services: list[dict[str, Any]] = field(default_factory=list)


def _last_accessed(backend: IAMBackend) -> dict[tuple[str, str], datetime]:
    # Kept on the backend so a moto reset clears it.
    accesses: dict[tuple[str, str], datetime] = backend.__dict__.setdefault("last_accessed", {})
    return accesses


def _jobs(backend: IAMBackend) -> dict[str, LastAccessedJob]:
    jobs: dict[str, LastAccessedJob] = backend.__dict__.setdefault("service_last_accessed_jobs", {})
    return jobs


def record_service_access(
    account_id: str, user_arn: str, namespace: str, when: datetime | None = None
) -> None:
    """Note that ``user_arn`` used ``namespace`` at ``when`` (default: now).

    Later ``GenerateServiceLastAccessedDetails`` jobs report it as ``LastAuthenticated``.
    """
    partition = user_arn.split(":")[1] if user_arn.count(":") >= 5 else "aws"
    backend = iam_backends[account_id][partition]
    with _STATE_LOCK:
        _last_accessed(backend)[(user_arn, namespace.lower())] = when or utcnow()


def _document_namespaces(document: Any) -> set[str]:
    """Service namespaces granted by the Allow statements of one policy document."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            try:
                document = json.loads(unquote(document))
            except ValueError:
                return set()
    if not isinstance(document, dict):
        return set()
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    found: set[str] = set()
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if isinstance(action, str) and ":" in action:
                namespace = action.split(":", 1)[0].strip().lower()
                if namespace and namespace != "*":
                    found.add(namespace)
    return found


def _default_document(policy: ManagedPolicy) -> Any:
    for version in policy.versions:
        if version.is_default:
            return version.document
    return None


def _subject(backend: IAMBackend, arn: str) -> tuple[list[Any], list[str]]:
    """Policy documents that apply to ``arn`` and the entity ARNs whose accesses count."""
    for user in list(backend.users.values()):
        if user.arn == arn:
            groups = backend.get_groups_for_user(user.name)
            docs: list[Any] = list(user.policies.values())
            docs += [_default_document(p) for p in user.managed_policies.values()]
            for group in groups:
                docs += list(group.policies.values())
                docs += [_default_document(p) for p in group.managed_policies.values()]
            return docs, [arn]
    for group in list(backend.groups.values()):
        if group.arn == arn:
            docs = list(group.policies.values())
            docs += [_default_document(p) for p in group.managed_policies.values()]
            return docs, [member.arn for member in group.users]
    for role in list(backend.roles.values()):
        if role.arn == arn:
            docs = list(role.policies.values())
            docs += [_default_document(p) for p in role.managed_policies.values()]
            return docs, [arn]
    policy = backend.managed_policies.get(arn)
    if policy is not None:
        holders = [u.arn for u in backend.users.values() if arn in u.managed_policies]
        holders += [r.arn for r in backend.roles.values() if arn in r.managed_policies]
        return [_default_document(policy)], holders
    raise NotFoundException(f"The entity {arn} cannot be found.")


def _service_entries(backend: IAMBackend, arn: str) -> list[dict[str, Any]]:
    documents, entities = _subject(backend, arn)
    namespaces: set[str] = set()
    for document in documents:
        namespaces |= _document_namespaces(document)
    with _STATE_LOCK:
        accesses = [
            (entity, namespace, when)
            for (entity, namespace), when in _last_accessed(backend).items()
            if entity in entities
        ]
    namespaces |= {namespace for _, namespace, _ in accesses}
    entries = []
    for namespace in sorted(namespaces):
        entry: dict[str, Any] = {
            "ServiceName": SERVICE_NAMES.get(namespace, namespace),
            "ServiceNamespace": namespace,
            "TotalAuthenticatedEntities": 0,
        }
        hits = sorted((when, entity) for entity, ns, when in accesses if ns == namespace)
        if hits:
            last_when, last_entity = hits[-1]
            entry.update(
                {
                    "LastAuthenticated": last_when,
                    "LastAuthenticatedEntity": last_entity,
                    "LastAuthenticatedRegion": "us-east-1",
                    "TotalAuthenticatedEntities": len({entity for _, entity in hits}),
                }
            )
        entries.append(entry)
    return entries


def _generate_service_last_accessed_details(self: IamResponse) -> ActionResult:
    arn = self._get_param("Arn")
    granularity = self._get_param("Granularity") or "SERVICE_LEVEL"
    if granularity not in _GRANULARITIES:
        raise InvalidInput(f"Invalid Granularity: {granularity}")
    if not arn or not str(arn).startswith("arn:"):
        raise InvalidInput(f"ARN {arn} is not valid.")
    # The report is computed at once: the job is COMPLETED by the time anyone asks.
    now = utcnow()
    job = LastAccessedJob(
        job_id=str(mock_random.uuid4()),
        job_type=granularity,
        created=now,
        completed=now,
        services=_service_entries(self.backend, arn),
    )
    with _STATE_LOCK:
        _jobs(self.backend)[job.job_id] = job
    return ActionResult({"JobId": job.job_id})


def _get_service_last_accessed_details(self: IamResponse) -> ActionResult:
    job_id = self._get_param("JobId")
    job = _jobs(self.backend).get(job_id)
    if job is None:
        raise NotFoundException(f"No job found with id {job_id}.")
    page, marker = _page(job.services, self._get_param("Marker"), self._get_int_param("MaxItems"))
    result: dict[str, Any] = {
        "JobStatus": "COMPLETED",
        "JobType": job.job_type,
        "JobCreationDate": job.created,
        "JobCompletionDate": job.completed,
        "ServicesLastAccessed": page,
        "IsTruncated": bool(marker),
    }
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


# --------------------------------------------------------------------------------------------
# Strict DeleteUser
# --------------------------------------------------------------------------------------------


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


def _wrap_delete_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_user(self: IamResponse) -> ActionResult:
        user = self.backend.get_user(self._get_param("UserName"))
        problem = delete_conflict(self.backend, user)
        if problem is not None:
            raise DeleteConflictException(problem)
        return original(self)

    return delete_user


# --------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCall:
    """One request the sandbox answered."""

    seq: int
    service: str
    action: str | None
    status: int
    access_key_id: str | None
    method: str
    path: str
    at: datetime


class RequestLog:
    """Thread-safe, in-memory log of handled requests, oldest first.

    ``mark()`` returns a position that survives ``clear()``, so ``since(mark)`` is always the
    calls made after the mark that are still in the log. Only the newest ``max_calls`` are
    kept, so a long-running sandbox does not grow without bound.
    """

    def __init__(self, max_calls: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._calls: deque[RecordedCall] = deque(maxlen=max_calls)
        self._next_seq = 0

    def record(
        self,
        *,
        service: str,
        action: str | None,
        status: int,
        access_key_id: str | None = None,
        method: str = "POST",
        path: str = "/",
    ) -> RecordedCall:
        with self._lock:
            call = RecordedCall(
                seq=self._next_seq,
                service=service,
                action=action,
                status=status,
                access_key_id=access_key_id,
                method=method,
                path=path,
                at=utcnow(),
            )
            self._next_seq += 1
            self._calls.append(call)
            return call

    def calls(self, *, service: str | None = None, action: str | None = None) -> list[RecordedCall]:
        with self._lock:
            snapshot = list(self._calls)
        return [
            c
            for c in snapshot
            if (service is None or c.service == service) and (action is None or c.action == action)
        ]

    def actions(self, *, service: str | None = None) -> list[str]:
        """Action names in order, skipping requests that carried none."""
        return [c.action for c in self.calls(service=service) if c.action]

    def count(self, action: str, *, service: str | None = None) -> int:
        return len(self.calls(service=service, action=action))

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def mark(self) -> int:
        with self._lock:
            return self._next_seq

    def since(self, mark: int) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self._calls if c.seq >= mark]

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)


_REQUEST_LOG = RequestLog()


def request_log() -> RequestLog:
    """The process-wide log; moto's state is process-wide too, so one log serves all."""
    return _REQUEST_LOG


_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/\s,]+)/[^/]*/([^/]*)/([^/]*)/")


def _parse_authorization(header: str | None) -> tuple[str | None, str | None]:
    """(access key id, signing service) from a SigV4 Authorization header."""
    match = _CREDENTIAL_SCOPE.search(header or "")
    if match is None:
        return None, None
    return match.group(1), match.group(3)


class _RequestContext:
    """What the action layer learns about the request the WSGI layer is answering."""

    def __init__(self) -> None:
        self.service: str | None = None
        self.action: str | None = None


_LOCAL = threading.local()


def _current_context() -> _RequestContext | None:
    ctx: _RequestContext | None = getattr(_LOCAL, "ctx", None)
    return ctx


def _wrap_wsgi_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """Record every request at the WSGI edge, whatever service or outcome."""

    @functools.wraps(original)
    def __call__(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        ctx = _RequestContext()
        statuses: list[str] = []

        def capturing_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        _LOCAL.ctx = ctx
        try:
            result = original(self, environ, capturing_start_response)
        except Exception:
            statuses.append("500")
            raise
        finally:
            _LOCAL.ctx = None
            _record_wsgi(environ, ctx, statuses)
        return result

    return __call__


def _record_wsgi(environ: dict[str, Any], ctx: _RequestContext, statuses: list[str]) -> None:
    access_key, signing_service = _parse_authorization(environ.get("HTTP_AUTHORIZATION"))
    path = str(environ.get("PATH_INFO", "/"))
    service = ctx.service or signing_service
    if service is None:
        service = "moto-api" if path.startswith("/moto-api") else "unknown"
    try:
        status = int(statuses[-1].split()[0]) if statuses else 0
    except ValueError:
        status = 0
    _REQUEST_LOG.record(
        service=service,
        action=ctx.action,
        status=status,
        access_key_id=access_key,
        method=str(environ.get("REQUEST_METHOD", "")),
        path=path,
    )


# --------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    service: str
    action: str
    code: str
    status: int
    message: str
    remaining: int


class _FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, service: str, action: str) -> _Fault | None:
        """Consume one shot of the oldest matching fault, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.service == service and fault.action == action:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> dict[str, int]:
        with self._lock:
            totals: dict[str, int] = {}
            for fault in self._faults:
                totals[fault.action] = totals.get(fault.action, 0) + fault.remaining
            return totals


_FAULTS = _FaultInjector()


def inject_fault(
    action: str,
    code: str,
    count: int = 1,
    status: int = 400,
    message: str | None = None,
    *,
    service: str = "iam",
) -> None:
    """Make the next ``count`` requests for ``action`` (e.g. "DeleteUser") fail with ``code``.

    The error is answered before moto sees the request, so no state changes. Faults for the
    same action queue up in order. Note that botocore retries throttling and 5xx errors on its
    own: each retry consumes one shot.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    _FAULTS.add(
        _Fault(
            service=service,
            action=action,
            code=code,
            status=status,
            message=message or f"Injected fault: {code}",
            remaining=count,
        )
    )


def clear_faults() -> None:
    """Drop every pending injected fault."""
    _FAULTS.clear()


def pending_faults() -> dict[str, int]:
    """Shots left per action."""
    return _FAULTS.pending()


def _fault_response(resp: BaseResponse, fault: _Fault) -> TYPE_RESPONSE:
    request_id = str(mock_random.uuid4())
    headers: dict[str, str] = {"x-amzn-RequestId": request_id}
    model = get_service_model(resp.boto3_service_name)
    if model.protocol in ("json", "rest-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-ErrorType"] = fault.code
        body = json.dumps({"__type": fault.code, "message": fault.message})
        return fault.status, headers, body
    namespace = model.metadata.get("xmlNamespace")
    xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
    fault_type = "Receiver" if fault.status >= 500 else "Sender"
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type>"
        f"<Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers["Content-Type"] = "text/xml"
    return fault.status, headers, body


def _action_of(resp: BaseResponse) -> str | None:
    try:
        action = resp._get_action()
    except Exception:  # an unroutable request has no action; moto answers it itself
        return None
    return str(action) if action else None


def _wrap_call_action(original: Callable[[BaseResponse], TYPE_RESPONSE]) -> Callable[..., Any]:
    """Tell the request log which action ran, and answer injected faults instead of moto."""

    @functools.wraps(original)
    def call_action(self: BaseResponse) -> TYPE_RESPONSE:
        service = self.service_name or ""
        action = _action_of(self)
        ctx = _current_context()
        if ctx is not None:
            ctx.service, ctx.action = service, action
        fault = _FAULTS.take(service, action) if action else None
        if ctx is not None:
            return _fault_response(self, fault) if fault else original(self)
        # Outside the server (moto's in-process mocks) the action layer records the call.
        access_key, _ = _parse_authorization(self.headers.get("Authorization"))
        status = 500
        try:
            response = _fault_response(self, fault) if fault else original(self)
            status = int(response[0])
            return response
        finally:
            _REQUEST_LOG.record(
                service=service,
                action=action,
                status=status,
                access_key_id=access_key,
                method=str(getattr(self, "method", "")),
                path=str(getattr(self, "path", "/")),
            )

    return call_action


# --------------------------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------------------------

_IAM_ACTIONS: dict[str, Callable[[IamResponse], ActionResult]] = {
    "create_service_specific_credential": _create_service_specific_credential,
    "list_service_specific_credentials": _list_service_specific_credentials,
    "update_service_specific_credential": _update_service_specific_credential,
    "reset_service_specific_credential": _reset_service_specific_credential,
    "delete_service_specific_credential": _delete_service_specific_credential,
    "put_user_permissions_boundary": _put_user_permissions_boundary,
    "delete_user_permissions_boundary": _delete_user_permissions_boundary,
    "generate_service_last_accessed_details": _generate_service_last_accessed_details,
    "get_service_last_accessed_details": _get_service_last_accessed_details,
}


def install() -> None:
    """Patch moto once per process; later calls do nothing."""
    with _INSTALL_LOCK:
        if getattr(IamResponse, _INSTALLED_FLAG, False):
            return
        for name, action in _IAM_ACTIONS.items():
            setattr(IamResponse, name, action)
        IamResponse.create_user = _wrap_create_user(IamResponse.create_user)  # type: ignore[method-assign]
        IamResponse.delete_user = _wrap_delete_user(IamResponse.delete_user)  # type: ignore[method-assign]
        # AWS leaves the boundary out of ListUsers, as moto already does for Tags.
        IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER[
            "ListUsersResponse.Users.User.PermissionsBoundary"
        ] = never_return
        BaseResponse.call_action = _wrap_call_action(BaseResponse.call_action)  # type: ignore[method-assign]
        DomainDispatcherApplication.__call__ = _wrap_wsgi_call(  # type: ignore[method-assign]
            DomainDispatcherApplication.__call__
        )
        setattr(IamResponse, _INSTALLED_FLAG, True)
