"""Taking principals out of one resource's policy after the user is gone. The old document is
returned for the audit trail and the snapshot; a second clean finds nothing and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from tasks.errors import InvalidInputError
from tasks.references.ecr_repositories import clean_repository
from tasks.references.iam_roles import clean_role
from tasks.references.kms_grants import clean_grants
from tasks.references.kms_keys import KeyWouldLoseEveryAdministrator, clean_key
from tasks.references.lambda_functions import clean_function
from tasks.references.rewrite import Rewrite
from tasks.references.s3_buckets import clean_bucket
from tasks.references.secrets import clean_secret
from tasks.references.sns_topics import clean_topic
from tasks.references.sqs_clean import clean_queue
from tasks.runtime import iam_task

__all__ = ["CLEANERS", "Cleaned", "KeyWouldLoseEveryAdministrator", "clean_resource"]

# The cleaners declare their own PERMISSIONS beside their calls.
PERMISSIONS: tuple[str, ...] = ()

CLEANERS: dict[str, Callable[[str, set[str]], Rewrite | None]] = {
    "iam": clean_role,
    "s3": clean_bucket,
    "kms": clean_key,
    "kms-grants": clean_grants,
    "sqs": clean_queue,
    "sns": clean_topic,
    "secretsmanager": clean_secret,
    "lambda": clean_function,
    "ecr": clean_repository,
}


class Cleaned(BaseModel):
    """One resource's policy before and after; both None when it no longer named anyone asked."""

    model_config = ConfigDict(frozen=True)

    service: str
    resource_arn: str
    old_document: dict[str, Any] | None
    new_document: dict[str, Any] | None


@iam_task(name="clean-reference")
def clean_resource(service: str, resource_arn: str, principals: tuple[str, ...]) -> Cleaned:
    """Remove ``principals`` (ARN and/or unique id) from every statement of the resource's
    policy; a statement whose only principal they were goes. Raises
    KeyWouldLoseEveryAdministrator rather than leave a KMS key unmanageable."""
    cleaner = CLEANERS.get(service)
    if cleaner is None:
        known = ", ".join(CLEANERS)
        raise InvalidInputError(f"no cleaner for service {service!r} (known: {known})")
    if not principals:
        raise InvalidInputError("no principal to remove")
    change = cleaner(resource_arn, set(principals))
    return Cleaned(
        service=service,
        resource_arn=resource_arn,
        old_document=change.old if change else None,
        new_document=change.new if change else None,
    )
