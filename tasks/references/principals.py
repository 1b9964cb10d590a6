"""The AWS principals a policy statement names, in the shapes AWS accepts."""

from __future__ import annotations

from typing import Any


def aws_principals(statement: dict[str, Any]) -> list[str]:
    """The `Principal.AWS` entries of a statement ("*" counts as one)."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    named = principal.get("AWS", [])
    return [named] if isinstance(named, str) else list(named)


def actions(statement: dict[str, Any]) -> list[str]:
    named = statement.get("Action", [])
    return [named] if isinstance(named, str) else list(named)


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)
