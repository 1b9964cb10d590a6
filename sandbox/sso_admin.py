"""sso-admin as AWS answers it, where moto 5.2 differs: account assignment deletion and
permission set provisioning are asynchronous.

* ``DeleteAccountAssignment`` answers ``IN_PROGRESS`` with a request id; the assignment stays
  until ``DescribeAccountAssignmentDeletionStatus`` has answered ``IN_PROGRESS``
  :func:`set_assignment_deletion_polls` times, then ``SUCCEEDED`` (and it is gone), or
  ``FAILED`` with a reason for the next deletions :func:`fail_next_assignment_deletions` names
  (the assignment stays, as when AWS cannot remove it).
* ``CreateAccountAssignment`` answers ``IN_PROGRESS`` (the assignment is made at once);
  ``DescribeAccountAssignmentCreationStatus`` then answers ``SUCCEEDED``.
* ``ProvisionPermissionSet`` answers ``IN_PROGRESS``; ``DescribePermissionSetProvisioningStatus``
  (which moto lacks) answers ``IN_PROGRESS`` once, then ``SUCCEEDED``.
  :func:`provisioning_count` says how often a permission set was provisioned.
* A permission set created without ``SessionDuration`` has AWS's default, ``PT1H`` (moto stores
  the number 3600).
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.utils import unix_time
from moto.moto_api._internal import mock_random
from moto.ssoadmin.exceptions import ResourceNotFoundException
from moto.ssoadmin.models import AccountAssignment, SSOAdminBackend
from moto.ssoadmin.responses import SSOAdminResponse

__all__ = [
    "DEFAULT_DELETION_POLLS",
    "clear_sso_admin_requests",
    "fail_next_assignment_deletions",
    "install_sso_admin",
    "provisioning_count",
    "set_assignment_deletion_polls",
]

DEFAULT_DELETION_POLLS = 1
DEFAULT_FAILURE_REASON = "Received a 500 status code from the target account"


@dataclass
class _Deletion:
    assignment: AccountAssignment
    created: float
    polls_left: int
    failure: str | None


@dataclass
class _Provisioning:
    permission_set_arn: str
    account_id: str
    created: float
    polls_left: int = 1


class _Requests:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.deletions: dict[str, _Deletion] = {}
        self.provisionings: dict[str, _Provisioning] = {}
        self.provisioned: Counter[str] = Counter()
        self.deletion_polls = DEFAULT_DELETION_POLLS
        self.failures: list[str] = []


_REQUESTS = _Requests()


def clear_sso_admin_requests() -> None:
    with _REQUESTS.lock:
        _REQUESTS.clear()


def set_assignment_deletion_polls(polls: int) -> None:
    """How many status calls a new deletion answers IN_PROGRESS before it ends."""
    if polls < 0:
        raise ValueError("polls must be 0 or more")
    with _REQUESTS.lock:
        _REQUESTS.deletion_polls = polls


def fail_next_assignment_deletions(count: int, reason: str = DEFAULT_FAILURE_REASON) -> None:
    """The next ``count`` assignment deletions end FAILED with ``reason``."""
    with _REQUESTS.lock:
        _REQUESTS.failures.extend([reason] * count)


def provisioning_count(permission_set_arn: str) -> int:
    with _REQUESTS.lock:
        return _REQUESTS.provisioned[permission_set_arn]


def _status(deletion: _Deletion, request_id: str, status: str) -> dict[str, Any]:
    answer = deletion.assignment.to_json()
    answer.update(Status=status, RequestId=request_id, CreatedDate=deletion.created)
    if status == "FAILED":
        answer["FailureReason"] = deletion.failure
    return answer


Action = Callable[[SSOAdminResponse], str]


def _create_account_assignment(original: Action) -> Action:
    @functools.wraps(original)
    def create_account_assignment(self: SSOAdminResponse) -> str:
        # Done at once, but answered as AWS does: IN_PROGRESS, then (moto's own
        # DescribeAccountAssignmentCreationStatus) SUCCEEDED.
        answer = json.loads(original(self))
        answer["AccountAssignmentCreationStatus"]["Status"] = "IN_PROGRESS"
        return json.dumps(answer)

    return create_account_assignment


def _delete_account_assignment(original: Action) -> Action:
    @functools.wraps(original)
    def delete_account_assignment(self: SSOAdminResponse) -> str:
        params = json.loads(self.body)
        backend: SSOAdminBackend = self.ssoadmin_backend
        # ResourceNotFoundException when there is no such assignment, as moto answers.
        assignment = backend._find_account(
            params.get("InstanceArn"),
            params.get("TargetId"),
            params.get("TargetType"),
            params.get("PermissionSetArn"),
            params.get("PrincipalType"),
            params.get("PrincipalId"),
        )
        request_id = str(mock_random.uuid4())
        with _REQUESTS.lock:
            deletion = _Deletion(
                assignment=assignment,
                created=unix_time(),
                polls_left=_REQUESTS.deletion_polls,
                failure=_REQUESTS.failures.pop(0) if _REQUESTS.failures else None,
            )
            _REQUESTS.deletions[request_id] = deletion
        status = _status(deletion, request_id, "IN_PROGRESS")
        return json.dumps({"AccountAssignmentDeletionStatus": status})

    return delete_account_assignment


def _describe_account_assignment_deletion_status(original: Action) -> Action:
    @functools.wraps(original)
    def describe_account_assignment_deletion_status(self: SSOAdminResponse) -> str:
        request_id = self._get_param("AccountAssignmentDeletionRequestId")
        backend: SSOAdminBackend = self.ssoadmin_backend
        with _REQUESTS.lock:
            deletion = _REQUESTS.deletions.get(request_id)
            if deletion is None:
                raise ResourceNotFoundException(f"Request {request_id} not found")
            if deletion.polls_left > 0:
                deletion.polls_left -= 1
                status = "IN_PROGRESS"
            elif deletion.failure is not None:
                status = "FAILED"
            else:
                status = "SUCCEEDED"
                if deletion.assignment in backend.account_assignments:
                    backend.account_assignments.remove(deletion.assignment)
                    backend.deleted_account_assignments.append(deletion.assignment)
            answer = _status(deletion, request_id, status)
        return json.dumps({"AccountAssignmentDeletionStatus": answer})

    return describe_account_assignment_deletion_status


def _provision_permission_set(original: Action) -> Action:
    @functools.wraps(original)
    def provision_permission_set(self: SSOAdminResponse) -> str:
        answer = json.loads(original(self))["PermissionSetProvisioningStatus"]
        with _REQUESTS.lock:
            _REQUESTS.provisionings[answer["RequestId"]] = _Provisioning(
                permission_set_arn=answer["PermissionSetArn"],
                account_id=answer["AccountId"],
                created=answer["CreatedDate"],
            )
            _REQUESTS.provisioned[answer["PermissionSetArn"]] += 1
        answer["Status"] = "IN_PROGRESS"
        return json.dumps({"PermissionSetProvisioningStatus": answer})

    return provision_permission_set


def describe_permission_set_provisioning_status(self: SSOAdminResponse) -> str:
    request_id = self._get_param("ProvisionPermissionSetRequestId")
    with _REQUESTS.lock:
        request = _REQUESTS.provisionings.get(request_id)
        if request is None:
            raise ResourceNotFoundException(f"Request {request_id} not found")
        status = "IN_PROGRESS" if request.polls_left > 0 else "SUCCEEDED"
        request.polls_left = max(0, request.polls_left - 1)
    answer = {
        "Status": status,
        "RequestId": request_id,
        "AccountId": request.account_id,
        "PermissionSetArn": request.permission_set_arn,
        "CreatedDate": request.created,
    }
    return json.dumps({"PermissionSetProvisioningStatus": answer})


def iso_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


def _create_permission_set(original: Action) -> Action:
    @functools.wraps(original)
    def create_permission_set(self: SSOAdminResponse) -> str:
        answer = json.loads(original(self))
        arn = answer["PermissionSet"]["PermissionSetArn"]
        backend: SSOAdminBackend = self.ssoadmin_backend
        for permission_set in backend.permission_sets:
            if permission_set.permission_set_arn == arn and isinstance(
                permission_set.session_duration, int
            ):
                permission_set.session_duration = iso_duration(permission_set.session_duration)
                answer["PermissionSet"]["SessionDuration"] = permission_set.session_duration
        return json.dumps(answer)

    return create_permission_set


_WRAPPERS: dict[str, Callable[[Action], Action]] = {
    "create_account_assignment": _create_account_assignment,
    "delete_account_assignment": _delete_account_assignment,
    "describe_account_assignment_deletion_status": _describe_account_assignment_deletion_status,
    "provision_permission_set": _provision_permission_set,
    "create_permission_set": _create_permission_set,
}


def install_sso_admin() -> None:
    """Patch moto's sso-admin responses (called once, from sandbox.extension.install)."""
    for name, wrap in _WRAPPERS.items():
        setattr(SSOAdminResponse, name, wrap(getattr(SSOAdminResponse, name)))
    SSOAdminResponse.describe_permission_set_provisioning_status = (  # type: ignore[attr-defined]
        describe_permission_set_provisioning_status
    )
