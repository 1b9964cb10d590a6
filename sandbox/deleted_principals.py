"""After DeleteUser, resource policies that named the user show its unique id, as in AWS.

AWS keeps a policy's principal by the user's unique id (``AIDA...``), so once the user is gone
the policy shows that id in place of the ARN, and a new user of the same name is not the one
the policy names. moto stores policies as given; this rewrites every ``Principal.AWS`` entry
equal to the deleted user's ARN, in the user's account and every region moto holds state for:
IAM role trust policies, S3 bucket, KMS key, SQS queue, SNS topic, Secrets Manager, Lambda
function and ECR repository policies. Other bytes of a policy are left as stored unless it
named the user. KMS grants keep the grantee as written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.core.responses import ActionResult
from moto.ecr.models import ecr_backends
from moto.iam.responses import IamResponse
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

__all__ = ["replace_principal", "show_unique_id_after_delete", "wrap_delete_user"]


def _renamed(principal: Any, arn: str, unique_id: str) -> tuple[Any, bool]:
    if not isinstance(principal, dict) or "AWS" not in principal:
        return principal, False
    named = principal["AWS"]
    if isinstance(named, str):
        return ({**principal, "AWS": unique_id}, True) if named == arn else (principal, False)
    if arn not in named:
        return principal, False
    return {**principal, "AWS": [unique_id if n == arn else n for n in named]}, True


def replace_principal(document: dict[str, Any], arn: str, unique_id: str) -> bool:
    """Rewrite ``document`` in place; True when it named ``arn``."""
    found = document.get("Statement", [])
    statements = [found] if isinstance(found, dict) else found
    changed = False
    for statement in statements:
        principal, renamed = _renamed(statement.get("Principal"), arn, unique_id)
        if renamed:
            statement["Principal"] = principal
            changed = True
    return changed


def _rewritten_text(text: str | bytes | None, arn: str, unique_id: str) -> str | None:
    """The policy text with the principal replaced, or None when it did not name it."""
    if not text:
        return None
    raw = text.decode() if isinstance(text, bytes) else text
    if arn not in raw:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return json.dumps(document) if replace_principal(document, arn, unique_id) else None


def _regional(backends: Any, account_id: str) -> Iterator[Any]:
    # Only regions already holding state: reading an absent one would create it.
    if account_id in backends:
        yield from list(backends[account_id].values())


def _rewrite_attribute(holder: Any, name: str, arn: str, unique_id: str, *, raw: bool) -> None:
    new = _rewritten_text(getattr(holder, name, None), arn, unique_id)
    if new is not None:
        setattr(holder, name, new.encode() if raw else new)


def show_unique_id_after_delete(iam: Any, arn: str, unique_id: str) -> None:
    """Every resource policy of the account naming ``arn`` names ``unique_id`` instead."""
    account = iam.account_id
    for role in iam.roles.values():
        _rewrite_attribute(role, "assume_role_policy_document", arn, unique_id, raw=False)
    for backend in _regional(s3_backends, account):
        for bucket in backend.buckets.values():
            _rewrite_attribute(bucket, "policy", arn, unique_id, raw=True)
    for backend in _regional(kms_backends, account):
        for key in backend.keys.values():
            _rewrite_attribute(key, "policy", arn, unique_id, raw=False)
    for backend in _regional(sqs_backends, account):
        for queue in backend.queues.values():
            _rewrite_attribute(queue, "policy", arn, unique_id, raw=False)
    for backend in _regional(sns_backends, account):
        for topic in backend.topics.values():
            replace_principal(topic._policy_json, arn, unique_id)
    for backend in _regional(secretsmanager_backends, account):
        for secret in backend.secrets.values():
            _rewrite_attribute(secret, "policy", arn, unique_id, raw=False)
    for backend in _regional(ecr_backends, account):
        for repository in backend.repositories.values():
            _rewrite_attribute(repository, "policy", arn, unique_id, raw=False)
    for backend in _regional(lambda_backends, account):
        for versions in backend._lambdas._functions.values():
            for function in [versions["latest"], *versions["versions"]]:
                replace_principal({"Statement": function.policy.statements}, arn, unique_id)


def wrap_delete_user(original: Callable[[IamResponse], ActionResult]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_user(self: IamResponse) -> ActionResult:
        user = self.backend.get_user(self._get_param("UserName"))
        arn, unique_id = user.arn, user.id
        result = original(self)
        show_unique_id_after_delete(self.backend, arn, unique_id)
        return result

    return delete_user
