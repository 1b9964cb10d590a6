"""Resource policy rewriting and the KMS orphan rule, on documents shaped as AWS returns them."""

from __future__ import annotations

import json

from tasks.references.kms_admins import would_orphan
from tasks.references.rewrite import without_principal

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
UNIQUE = "AIDAEXAMPLEALICE0001"
OTHER = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _statement(sid: str, principal: object, action: object = "s3:GetObject") -> dict[str, object]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": "*",
    }


def test_a_sole_principal_statement_goes_and_others_stay_as_written() -> None:
    kept = _statement("Bob", {"AWS": OTHER})
    document = {"Version": "2012-10-17", "Statement": [_statement("Alice", {"AWS": UNIQUE}), kept]}
    rewritten = without_principal(document, {USER, UNIQUE})
    assert rewritten is not None
    assert rewritten["Statement"] == [kept]
    assert json.dumps(rewritten["Statement"][0]) == json.dumps(kept)


def test_a_shared_statement_keeps_its_other_principals_in_order() -> None:
    service = {"AWS": [OTHER, USER, ROOT], "Service": "lambda.amazonaws.com"}
    document = {"Statement": [_statement("Shared", service)]}
    rewritten = without_principal(document, {USER, UNIQUE})
    assert rewritten is not None
    assert rewritten["Statement"][0]["Principal"] == {
        "AWS": [OTHER, ROOT],
        "Service": "lambda.amazonaws.com",
    }
    # The input is not modified: the old document goes to the audit trail as read.
    assert document["Statement"][0]["Principal"]["AWS"] == [OTHER, USER, ROOT]


def test_a_document_that_no_longer_names_the_user_is_left_alone() -> None:
    document = {"Statement": [_statement("Bob", {"AWS": OTHER}), _statement("Any", "*")]}
    assert without_principal(document, {USER, UNIQUE}) is None


def test_a_single_statement_object_is_read_too() -> None:
    document = {"Statement": _statement("Alice", {"AWS": USER})}
    assert without_principal(document, {USER}) == {"Statement": []}


def _key_policy(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_the_user_as_only_administrator_without_root_orphans_the_key() -> None:
    policy = _key_policy(
        _statement("Admin", {"AWS": USER}, ["kms:Describe*", "kms:Put*"]),
        _statement("Use", {"AWS": OTHER}, ["kms:Encrypt", "kms:Decrypt"]),
    )
    assert would_orphan(policy, ACCOUNT, {USER, UNIQUE})


def test_a_key_that_trusts_the_account_root_does_not_orphan() -> None:
    policy = _key_policy(
        _statement("Root", {"AWS": ROOT}, "kms:*"),
        _statement("Admin", {"AWS": USER}, "kms:PutKeyPolicy"),
    )
    assert not would_orphan(policy, ACCOUNT, {USER, UNIQUE})
    by_account_id = _key_policy(
        _statement("Root", {"AWS": ACCOUNT}, "kms:*"),
        _statement("Admin", {"AWS": USER}, "kms:*"),
    )
    assert not would_orphan(by_account_id, ACCOUNT, {USER})


def test_another_administrator_or_a_root_without_put_key_policy() -> None:
    shared = _key_policy(_statement("Admins", {"AWS": [USER, OTHER]}, "kms:PutKeyPolicy"))
    assert not would_orphan(shared, ACCOUNT, {USER})
    root_reads_only = _key_policy(
        _statement("Root", {"AWS": ROOT}, "kms:Describe*"),
        _statement("Admin", {"AWS": USER}, "kms:*"),
    )
    assert would_orphan(root_reads_only, ACCOUNT, {USER})


def test_a_deny_or_a_key_the_user_does_not_administer() -> None:
    denied = {"Effect": "Deny", "Principal": {"AWS": USER}, "Action": "kms:*", "Resource": "*"}
    assert not would_orphan(_key_policy(denied), ACCOUNT, {USER})
    others = _key_policy(_statement("Admin", {"AWS": OTHER}, "kms:*"))
    assert not would_orphan(others, ACCOUNT, {USER})
