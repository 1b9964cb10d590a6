"""Extensions to moto for the embedded IAM sandbox, installed by :func:`install`.

moto 5.2 lacks several IAM actions the offboarding engine calls, and its ``DeleteUser`` only
refuses while policies remain. :func:`install` patches moto in place (idempotently) with:

* service-specific credentials (:mod:`sandbox.service_credentials`);
* user permissions boundaries, visible in ``GetUser`` (:mod:`sandbox.permissions_boundary`);
* service last-accessed reports with a polled job lifecycle (:mod:`sandbox.last_accessed`),
  fed by what users do with their own access keys (:mod:`sandbox.access_activity`);
* a ``DeleteUser`` that answers ``DeleteConflict`` while anything is attached
  (:mod:`sandbox.strict_delete`), after which resource policies that named the user show its
  unique id (:mod:`sandbox.deleted_principals`);
* user ids shaped as AWS's (``AIDA...``, :mod:`sandbox.user_ids`);
* a ListBuckets that names each bucket's region and pages as AWS does when asked with a
  parameter (:mod:`sandbox.s3_bucket_regions`);
* Lambda function policies with principals shaped as AWS writes them
  (:mod:`sandbox.lambda_principals`);
* an ``UpdateUser`` that keeps the user's tags and sandbox state under the new name or path
  (:mod:`sandbox.rename`);
* a DescribeRegions that lists the caller's partition only (:mod:`sandbox.ec2_regions`);
* authorization errors of JSON services in JSON (``AccessDeniedException``,
  :mod:`sandbox.json_denials`);
* signature checks of body-less REST requests (Lambda's) that hash the empty payload the
  client signed (:mod:`sandbox.signed_payload`);
* time conditions (``DateGreaterThan`` ... on ``aws:CurrentTime``) honoured when IAM
  authorization is enforced (:mod:`sandbox.policy_conditions`, :mod:`sandbox.auth`);
* a process-wide request log (:mod:`sandbox.request_log`) and injected faults
  (:mod:`sandbox.faults`), hooked into every request by :mod:`sandbox.request_hooks`.

The patches rely on moto internals (``IamResponse`` action methods, the serializer's
attribute picking, ``DomainDispatcherApplication``, ``IAMPolicyStatement``), which is why moto
is pinned to 5.2.x.
"""

from __future__ import annotations

import threading

from moto.core.responses import BaseResponse
from moto.core.serialize import never_return
from moto.iam.access_control import IAMPolicyStatement
from moto.iam.responses import IamResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from sandbox.access_activity import record_password_use, record_service_access
from sandbox.deleted_principals import wrap_delete_user as show_unique_id_after_delete
from sandbox.ec2_regions import install_partition_regions
from sandbox.faults import (
    clear_faults,
    inject_fault,
    inject_fault_rate,
    injected_fault_counts,
    pending_faults,
)
from sandbox.json_denials import install_json_denials
from sandbox.lambda_principals import install_lambda_principals
from sandbox.last_accessed import IAM_ACTIONS as LAST_ACCESSED_ACTIONS
from sandbox.last_accessed import (
    fail_next_last_accessed_jobs,
    reset_last_accessed_jobs,
    set_last_accessed_job_polls,
)
from sandbox.permissions_boundary import IAM_ACTIONS as BOUNDARY_ACTIONS
from sandbox.permissions_boundary import (
    LIST_USERS_BOUNDARY_KEY,
    user_permissions_boundary,
    wrap_create_user,
)
from sandbox.policy_conditions import (
    sandbox_now,
    set_sandbox_clock,
    wrap_is_action_permitted,
)
from sandbox.rename import wrap_update_user
from sandbox.request_hooks import wrap_call_action, wrap_wsgi_call
from sandbox.request_log import RecordedCall, RequestLog, request_log
from sandbox.s3_bucket_regions import install_bucket_regions
from sandbox.service_credentials import IAM_ACTIONS as CREDENTIAL_ACTIONS
from sandbox.service_credentials import (
    MAX_CREDENTIALS_PER_SERVICE,
    SUPPORTED_CREDENTIAL_SERVICES,
    ServiceSpecificCredential,
    service_credentials,
)
from sandbox.signed_payload import install_signed_payload
from sandbox.strict_delete import delete_conflict, wrap_delete_user
from sandbox.user_ids import wrap_create_user as aws_shaped_user_id

__all__ = [
    "MAX_CREDENTIALS_PER_SERVICE",
    "SUPPORTED_CREDENTIAL_SERVICES",
    "RecordedCall",
    "RequestLog",
    "ServiceSpecificCredential",
    "clear_faults",
    "delete_conflict",
    "fail_next_last_accessed_jobs",
    "inject_fault",
    "inject_fault_rate",
    "injected_fault_counts",
    "install",
    "pending_faults",
    "record_password_use",
    "record_service_access",
    "request_log",
    "reset_last_accessed_jobs",
    "sandbox_now",
    "service_credentials",
    "set_last_accessed_job_polls",
    "set_sandbox_clock",
    "user_permissions_boundary",
]

_INSTALL_LOCK = threading.Lock()
_INSTALLED_FLAG = "_offboard_sandbox_installed"


def install() -> None:
    """Patch moto once per process; later calls do nothing."""
    with _INSTALL_LOCK:
        if getattr(IamResponse, _INSTALLED_FLAG, False):
            return
        for actions in (CREDENTIAL_ACTIONS, BOUNDARY_ACTIONS, LAST_ACCESSED_ACTIONS):
            for name, action in actions.items():
                setattr(IamResponse, name, action)
        IamResponse.create_user = wrap_create_user(  # type: ignore[method-assign]
            aws_shaped_user_id(IamResponse.create_user)
        )
        IamResponse.delete_user = wrap_delete_user(  # type: ignore[method-assign]
            show_unique_id_after_delete(IamResponse.delete_user)
        )
        IamResponse.update_user = wrap_update_user(IamResponse.update_user)  # type: ignore[method-assign]
        install_lambda_principals()
        install_bucket_regions()
        install_signed_payload()
        install_partition_regions()
        install_json_denials()
        IAMPolicyStatement.is_action_permitted = wrap_is_action_permitted(  # type: ignore[method-assign]
            IAMPolicyStatement.is_action_permitted
        )
        # AWS leaves the boundary out of ListUsers, as moto already does for Tags.
        IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER[LIST_USERS_BOUNDARY_KEY] = never_return
        BaseResponse.call_action = wrap_call_action(BaseResponse.call_action)  # type: ignore[method-assign]
        DomainDispatcherApplication.__call__ = wrap_wsgi_call(  # type: ignore[method-assign]
            DomainDispatcherApplication.__call__
        )
        setattr(IamResponse, _INSTALLED_FLAG, True)
