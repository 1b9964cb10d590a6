"""Lambda function policies (resource-based permissions) that name principals, in one region,
and removing the permissions that name them.

Lambda has no call to write a function policy: permissions are added and removed one statement
(StatementId) at a time, and each names one principal, so cleaning removes whole statements.
The unqualified function's policy is read; aliases and versions have policies of their own.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.parallel import each
from tasks.references.principals import aws_principals, statements
from tasks.references.rewrite import Rewrite

PERMISSIONS = ("lambda:ListFunctions", "lambda:GetPolicy", "lambda:RemovePermission")
NOT_FOUND = "ResourceNotFoundException"


def _policy(client: Any, function_arn: str) -> dict[str, Any] | None:
    try:
        answer = client.get_policy(FunctionName=function_arn)
    except ClientError as error:
        if error_code(error) == NOT_FOUND:
            return None
        raise
    policy: dict[str, Any] = json.loads(answer["Policy"])
    return policy


def function_references(region: str) -> Read:
    client = regional_client("lambda", region)
    pages = client.get_paginator("list_functions").paginate()
    functions = [
        function["FunctionArn"] for page in pages for function in page.get("Functions", [])
    ]

    def read(arn: str) -> list[Reference]:
        policy = _policy(client, arn)
        return references_in("lambda", region, arn, policy) if policy else []

    return merged(
        each(functions, lambda arn: read_or_refused("lambda", region, arn, lambda: read(arn)))
    )


def _only_names(statement: dict[str, Any], names: set[str]) -> bool:
    """The statement's principals are all among ``names`` (and it names no service)."""
    principal = statement.get("Principal")
    named = aws_principals(statement)
    others = set(principal) - {"AWS"} if isinstance(principal, dict) else set()
    return bool(named) and set(named) <= names and not others


def clean_function(function_arn: str, names: set[str]) -> Rewrite | None:
    client = regional_client("lambda", region_of(function_arn))
    old = _policy(client, function_arn)
    if old is None:
        return None
    kept: list[dict[str, Any]] = []
    removed = 0
    for statement in statements(old):
        if not _only_names(statement, names) or not statement.get("Sid"):
            kept.append(statement)
            continue
        try:
            client.remove_permission(FunctionName=function_arn, StatementId=statement["Sid"])
        except ClientError as error:
            # Removed since it was read: what was asked for.
            if error_code(error) != NOT_FOUND:
                raise
        removed += 1
    if not removed:
        return None
    return Rewrite(old=old, new={**old, "Statement": kept})
