"""Removing one principal from a resource policy document, keeping everything else as it was."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from tasks.references.principals import aws_principals, statements


def without_principal(document: dict[str, Any], names: set[str]) -> dict[str, Any] | None:
    """The document with every entry in `names` (ARN or unique id) taken out of `Principal.AWS`.

    A statement whose only principal was the user goes. Returns None when nothing named the user,
    so a second clean is a no-op and writes nothing.
    """
    kept: list[dict[str, Any]] = []
    changed = False
    for statement in statements(document):
        named = aws_principals(statement)
        if not any(name in names for name in named):
            kept.append(statement)
            continue
        changed = True
        remaining = [name for name in named if name not in names]
        rewritten = copy.deepcopy(statement)
        principal = rewritten["Principal"]
        if remaining:
            # Keep the list shape the author used; other principals stay in their order.
            principal["AWS"] = remaining
        else:
            del principal["AWS"]
        if principal:
            kept.append(rewritten)
    if not changed:
        return None
    result = copy.deepcopy(document)
    result["Statement"] = kept
    return result


@dataclass(frozen=True)
class Rewrite:
    """A policy as it was read and as it is written back."""

    old: dict[str, Any]
    new: dict[str, Any]


def rewritten(document: dict[str, Any], names: set[str]) -> Rewrite | None:
    new = without_principal(document, names)
    return None if new is None else Rewrite(old=document, new=new)
