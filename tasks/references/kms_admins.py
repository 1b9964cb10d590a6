"""Whether deleting a user would leave a KMS key with nobody able to change its policy."""

from __future__ import annotations

import fnmatch
from typing import Any

from tasks.references.principals import actions, aws_principals, statements


def _grants_put_key_policy(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow" and any(
        fnmatch.fnmatchcase("kms:putkeypolicy", action.lower()) for action in actions(statement)
    )


def _is_root(principal: str, account_id: str) -> bool:
    return principal in (account_id, f"arn:aws:iam::{account_id}:root")


def would_orphan(policy: dict[str, Any], account_id: str, user_names: set[str]) -> bool:
    """True when the user (ARN or unique id) is the only non-root administrator of the key
    and the policy does not trust the account root, which could otherwise grant it back."""
    administrators: set[str] = set()
    for statement in statements(policy):
        if not _grants_put_key_policy(statement):
            continue
        named = aws_principals(statement)
        if any(_is_root(name, account_id) or name == "*" for name in named):
            return False
        administrators.update(named)
    return bool(administrators) and administrators <= user_names


def has_administrator(policy: dict[str, Any]) -> bool:
    """Someone (a principal or the account root) may still change the key's policy."""
    return any(
        _grants_put_key_policy(statement) and aws_principals(statement)
        for statement in statements(policy)
    )
