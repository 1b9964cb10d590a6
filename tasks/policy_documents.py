"""IAM policy documents as data: reading, rewriting and printing them. No AWS calls.

A document is the dict IAM stores (Version, Statement); a single statement may be a dict
instead of a list, and Resource / Principal values a string or a list of strings.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote


def _rewrite_value(value: str, old_arn: str, new_arn: str) -> str:
    """The new ARN for the old one; a trailing wildcard after the old ARN is kept."""
    if value == old_arn:
        return new_arn
    suffix = value[len(old_arn) :]
    if value.startswith(old_arn) and suffix and set(suffix) == {"*"}:
        return new_arn + suffix
    return value


def _statements(document: Mapping[str, Any]) -> list[Any]:
    statements = document.get("Statement")
    if isinstance(statements, list):
        return statements
    return [statements] if isinstance(statements, dict) else []


def rewrite_references(
    document: Mapping[str, Any], old_arn: str, new_arn: str
) -> tuple[dict[str, Any], int]:
    """A copy of `document` with Resource / NotResource entries naming `old_arn` rewritten,
    and how many entries changed. Every other part of the document is left as it was."""
    rewritten = copy.deepcopy(dict(document))
    changed = 0
    for statement in _statements(rewritten):
        if not isinstance(statement, dict):
            continue
        for key in ("Resource", "NotResource"):
            value = statement.get(key)
            if isinstance(value, str):
                new_value = _rewrite_value(value, old_arn, new_arn)
                if new_value != value:
                    statement[key] = new_value
                    changed += 1
            elif isinstance(value, list):
                values = [
                    _rewrite_value(item, old_arn, new_arn) if isinstance(item, str) else item
                    for item in value
                ]
                hits = sum(1 for a, b in zip(value, values, strict=True) if a != b)
                if hits:
                    # A list naming both ARNs already would otherwise name the new one twice.
                    statement[key] = _unique(values)
                    changed += hits
    return rewritten, changed


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def names_principal(document: Mapping[str, Any], arn: str) -> bool:
    """Whether a trust policy's Principal.AWS names `arn`."""
    for statement in _statements(document):
        if not isinstance(statement, dict):
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            continue
        named = principal.get("AWS")
        if named == arn or (isinstance(named, list) and arn in named):
            return True
    return False


def as_document(value: object) -> dict[str, Any]:
    """A policy document as a dict: botocore decodes most, a few arrive URL-encoded."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        text = value if value.lstrip().startswith("{") else unquote(value)
        loaded = json.loads(text)
        if isinstance(loaded, dict):
            return loaded
    raise ValueError(f"not a policy document: {value!r}")


def pretty(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def compact(document: Mapping[str, Any]) -> str:
    # IAM's size quotas count characters, so what is written carries no indentation.
    return json.dumps(document, separators=(",", ":"))


def diff_documents(before: str, after: str, label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{label} (before)",
        tofile=f"{label} (after)",
    )
    return "".join(lines)


def _principal_values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def replace_principal(
    document: Mapping[str, Any], old_arn: str, new_arn: str | None
) -> tuple[dict[str, Any], int]:
    """A copy of `document` with Principal / NotPrincipal ``AWS`` entries naming `old_arn`
    replaced by `new_arn` (removed when it is None), and how many entries changed.

    A statement whose AWS principals would become empty is dropped: an empty principal is
    not a valid policy, and the statement granted nothing to anyone else.
    """
    rewritten = copy.deepcopy(dict(document))
    changed = 0
    kept: list[Any] = []
    for statement in _statements(rewritten):
        if not isinstance(statement, dict):
            kept.append(statement)
            continue
        emptied = False
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            if not isinstance(principal, dict) or "AWS" not in principal:
                continue
            values = _principal_values(principal["AWS"])
            hits = sum(1 for value in values if value == old_arn)
            if not hits:
                continue
            changed += hits
            others = [value for value in values if value != old_arn]
            replaced = _unique(others + ([new_arn] if new_arn is not None else []))
            if replaced:
                was_list = isinstance(principal["AWS"], list)
                principal["AWS"] = replaced if was_list or len(replaced) > 1 else replaced[0]
            else:
                del principal["AWS"]
                emptied = not principal
        if not emptied:
            kept.append(statement)
    if changed:
        single = isinstance(document.get("Statement"), dict)
        rewritten["Statement"] = kept[0] if single and len(kept) == 1 else kept
    return rewritten, changed


def remove_principal(document: Mapping[str, Any], arn: str) -> tuple[dict[str, Any], int]:
    """A copy of `document` no longer naming `arn` as an AWS principal, and how many entries
    were removed (see `replace_principal`)."""
    return replace_principal(document, arn, None)
