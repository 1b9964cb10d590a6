"""Key policies naming a user: found per region, cleaned, never left without an administrator."""

from __future__ import annotations

import json

import boto3
import pytest

from tasks.references.kms_keys import KeyWouldLoseEveryAdministrator, clean_key, key_references

USER = "arn:aws:iam::123456789012:user/alice"
ROOT = "arn:aws:iam::123456789012:root"


def _key(sandbox, region: str, *statements: dict[str, object]):  # type: ignore[no-untyped-def]
    kms = boto3.client(
        "kms",
        endpoint_url=sandbox.endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    arn = kms.create_key(Policy=policy)["KeyMetadata"]["Arn"]
    return kms, arn


def _allow(sid: str, principal: str, action: str) -> dict[str, object]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": action,
        "Resource": "*",
    }


def test_a_key_is_cleaned_of_the_user_and_keeps_root(sandbox) -> None:  # type: ignore[no-untyped-def]
    root = _allow("Root", ROOT, "kms:*")
    kms, arn = _key(sandbox, "eu-west-1", root, _allow("Alice", USER, "kms:Decrypt"))
    found, refused = key_references("eu-west-1")
    assert refused == []
    assert [(r.principal, r.resource_arn) for r in found if r.resource_arn == arn] == [
        (ROOT, arn),
        (USER, arn),
    ]
    assert arn not in {r.resource_arn for r in key_references("us-east-1")[0]}
    change = clean_key(arn, {USER})
    assert change is not None
    assert change.new["Statement"] == [root]
    stored = json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    assert stored["Statement"] == [root]
    assert clean_key(arn, {USER}) is None


def test_a_key_whose_only_administrator_is_the_user_is_not_rewritten(sandbox) -> None:  # type: ignore[no-untyped-def]
    kms, arn = _key(sandbox, "us-east-1", _allow("Admin", USER, "kms:*"))
    before = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    with pytest.raises(KeyWouldLoseEveryAdministrator):
        clean_key(arn, {USER})
    assert kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"] == before
