"""Queue policies naming a user are found in every region asked for, over HTTP."""

from __future__ import annotations

import json

import boto3

from tasks.references.sqs_queues import queue_references

USER = "arn:aws:iam::123456789012:user/alice"
OTHER = "arn:aws:iam::123456789012:user/bob"


def test_queue_policies_in_two_regions_are_read(sandbox) -> None:  # type: ignore[no-untyped-def]
    for region in ("us-east-1", "eu-west-1"):
        sqs = boto3.client(
            "sqs",
            endpoint_url=sandbox.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        url = sqs.create_queue(QueueName=f"jobs-{region}")["QueueUrl"]
        sqs.create_queue(QueueName=f"unshared-{region}")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Alice",
                    "Effect": "Allow",
                    "Principal": {"AWS": USER},
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [OTHER]},
                    "Action": ["sqs:ReceiveMessage"],
                    "Resource": "*",
                },
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    for region in ("us-east-1", "eu-west-1"):
        found = queue_references(region)
        assert [(r.principal, r.statement, r.actions) for r in found] == [
            (USER, "Alice", ["sqs:SendMessage"]),
            (OTHER, "1", ["sqs:ReceiveMessage"]),
        ]
        assert {r.resource_arn for r in found} == {
            f"arn:aws:sqs:{region}:123456789012:jobs-{region}"
        }
        assert {r.region for r in found} == {region}
