"""Which services an IAM entity's policies grant, and whose activity counts for it.

These decide the services a last-accessed report lists even when nobody used them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.iam.exceptions import NotFoundException
from moto.iam.models import IAMBackend, ManagedPolicy

__all__ = ["document_namespaces", "granted_namespaces", "report_subject"]


def document_namespaces(document: Any) -> set[str]:
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


def report_subject(backend: IAMBackend, arn: str) -> tuple[list[Any], list[str]]:
    """Policy documents that apply to ``arn`` and the entity ARNs whose accesses count.

    ``arn`` may name a user, group, role or managed policy, as in AWS.
    """
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


def granted_namespaces(documents: list[Any]) -> set[str]:
    namespaces: set[str] = set()
    for document in documents:
        namespaces |= document_namespaces(document)
    return namespaces
