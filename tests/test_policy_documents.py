"""Policy documents rewritten as data: principals replaced or removed, nothing else touched."""

from __future__ import annotations

from typing import Any

from tasks.policy_documents import names_principal, remove_principal, replace_principal

GONE = "arn:aws:iam::123456789012:user/staff/bob"
KEPT = "arn:aws:iam::123456789012:role/deployer"
NEW = "arn:aws:iam::123456789012:user/staff/robert"


def _bucket_policy(aws: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": aws}, "Action": "s3:Get*"},
            {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:List*"},
        ],
    }


def test_remove_principal_from_a_list_keeps_the_others_and_the_rest_of_the_document() -> None:
    document = _bucket_policy([GONE, KEPT])
    after, count = remove_principal(document, GONE)
    assert count == 1
    assert after["Statement"][0]["Principal"] == {"AWS": [KEPT]}
    assert after["Statement"][1] == document["Statement"][1]
    assert not names_principal(after, GONE) and names_principal(after, KEPT)
    # The input is not modified.
    assert document["Statement"][0]["Principal"]["AWS"] == [GONE, KEPT]


def test_removing_the_only_principal_drops_the_statement() -> None:
    after, count = remove_principal(_bucket_policy(GONE), GONE)
    assert count == 1
    assert [statement["Sid"] for statement in after["Statement"]] == ["Public"]


def test_a_single_statement_document_stays_single_when_it_keeps_a_principal() -> None:
    document = {"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": [GONE, KEPT]}}}
    after, count = remove_principal(document, GONE)
    assert count == 1
    assert after["Statement"] == {"Effect": "Deny", "NotPrincipal": {"AWS": [KEPT]}}


def test_other_principal_kinds_in_the_same_statement_keep_it() -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": GONE, "Service": "ec2.amazonaws.com"}}
    after, count = remove_principal({"Statement": [statement]}, GONE)
    assert count == 1
    assert after["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}
    ]


def test_replace_principal_keeps_a_string_a_string_and_does_not_duplicate() -> None:
    after, count = replace_principal(_bucket_policy(GONE), GONE, NEW)
    assert count == 1
    assert after["Statement"][0]["Principal"] == {"AWS": NEW}
    both, count = replace_principal(_bucket_policy([GONE, NEW]), GONE, NEW)
    assert count == 1
    assert both["Statement"][0]["Principal"] == {"AWS": [NEW]}


def test_a_document_not_naming_the_principal_is_returned_unchanged() -> None:
    document = _bucket_policy([KEPT])
    after, count = remove_principal(document, GONE)
    assert count == 0
    assert after == document
