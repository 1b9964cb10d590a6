"""One statement of a resource policy that names a principal, and what a reader was refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tasks.errors import error_code
from tasks.references.principals import actions, aws_principals, statements

# How each service says the caller may not read something: a finding, not a failure.
REFUSED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnauthorizedOperation",
        "Forbidden",
    }
)


class Reference(BaseModel):
    service: str
    region: str
    resource_arn: str
    statement: str  # its Sid, or its index when it has none (a KMS grant: its grant id)
    effect: str
    actions: list[str]
    principal: str


def references_in(
    service: str, region: str, resource_arn: str, document: dict[str, Any]
) -> list[Reference]:
    return [
        Reference(
            service=service,
            region=region,
            resource_arn=resource_arn,
            statement=str(statement.get("Sid") or index),
            effect=str(statement.get("Effect", "")),
            actions=actions(statement),
            principal=principal,
        )
        for index, statement in enumerate(statements(document))
        for principal in aws_principals(statement)
    ]


class NotScanned(BaseModel):
    """A resource (or a whole service in a region) whose policy the engine was refused:
    reported, so a reader knows the gap."""

    service: str
    resource_arn: str
    reason: str  # the error code, e.g. AccessDeniedException
    region: str | None = None
    # The IAM action refused, e.g. kms:GetKeyPolicy: what the engine's policy may be missing.
    action: str | None = None


# API operations whose IAM action is named otherwise.
ACTION_OF_OPERATION = {"ListBuckets": "ListAllMyBuckets"}


def not_scanned(
    service: str, resource_arn: str, region: str | None, error: ClientError
) -> NotScanned:
    operation = error.operation_name
    prefix = service.split("-", 1)[0]  # kms-grants are kms: actions
    action = f"{prefix}:{ACTION_OF_OPERATION.get(operation, operation)}" if operation else None
    reason = str(error_code(error))
    return NotScanned(
        service=service, resource_arn=resource_arn, reason=reason, region=region, action=action
    )


def refused(error: ClientError) -> bool:
    return error_code(error) in REFUSED_CODES


# What a reader returns: the statements naming principals, and what it could not read.
Read = tuple[list[Reference], list[NotScanned]]


def read_or_refused(
    service: str, region: str, resource_arn: str, read: Callable[[], list[Reference]]
) -> Read:
    """One resource's references, or the resource as not scanned when the read is refused."""
    try:
        return read(), []
    except ClientError as error:
        if not refused(error):
            raise
        return [], [not_scanned(service, resource_arn, region, error)]


def merged(reads: list[Read]) -> Read:
    found: list[Reference] = []
    missed: list[NotScanned] = []
    for references, gaps in reads:
        found += references
        missed += gaps
    return found, missed


def index_by_principal(found: list[Reference]) -> dict[str, list[Reference]]:
    """Principal (ARN or unique id, as the policy names it) → the statements naming it.
    Built once per account; each user of a batch is looked up in it."""
    index: dict[str, list[Reference]] = {}
    for reference in found:
        index.setdefault(reference.principal, []).append(reference)
    return index
