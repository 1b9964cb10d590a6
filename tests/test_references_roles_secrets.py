"""Role trust policies and secret policies naming a user are found, over HTTP."""

from __future__ import annotations

import json

import boto3

from tasks.references.iam_roles import role_references
from tasks.references.secrets import secret_references

USER = "arn:aws:iam::123456789012:user/alice"


def _trust(principal: dict[str, str]) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_role_trusting_the_user_is_found(sandbox, iam) -> None:  # type: ignore[no-untyped-def]
    arn = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=_trust({"AWS": USER}))[
        "Role"
    ]["Arn"]
    iam.create_role(
        RoleName="lambda-exec", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )
    found, refused = role_references()
    assert refused == []
    assert [(r.principal, r.statement) for r in found if r.resource_arn == arn] == [(USER, "0")]
    assert not any(r.resource_arn.endswith("/lambda-exec") for r in found)


def test_secret_policies_are_read_per_region(sandbox) -> None:  # type: ignore[no-untyped-def]
    arns = {}
    for region in ("us-east-1", "eu-west-1"):
        client = boto3.client(
            "secretsmanager",
            endpoint_url=sandbox.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        arns[region] = client.create_secret(Name="db", SecretString="hidden")["ARN"]
        client.create_secret(Name="unshared", SecretString="hidden")
        statement = {
            "Sid": "Read",
            "Effect": "Allow",
            "Principal": {"AWS": USER},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
        client.put_resource_policy(
            SecretId="db", ResourcePolicy=json.dumps({"Statement": [statement]})
        )
    for region, arn in arns.items():
        found, refused = secret_references(region)
        assert refused == []
        named = [r for r in found if r.resource_arn in arns.values()]
        assert [(r.principal, r.resource_arn, r.region) for r in named] == [(USER, arn, region)]
