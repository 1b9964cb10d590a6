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
        found, refused = queue_references(region)
        assert refused == []
        found = [r for r in found if r.resource_arn.endswith(f":jobs-{region}")]
        assert [(r.principal, r.statement, r.actions) for r in found] == [
            (USER, "Alice", ["sqs:SendMessage"]),
            (OTHER, "1", ["sqs:ReceiveMessage"]),
        ]
        assert {r.resource_arn for r in found} == {
            f"arn:aws:sqs:{region}:123456789012:jobs-{region}"
        }
        assert {r.region for r in found} == {region}


def test_clean_takes_out_only_the_user_and_a_second_clean_writes_nothing(sandbox) -> None:  # type: ignore[no-untyped-def]
    from tasks.references.sqs_clean import clean_queue

    sqs = boto3.client(
        "sqs",
        endpoint_url=sandbox.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    alone = {
        "Sid": "Alice",
        "Effect": "Allow",
        "Principal": {"AWS": USER},
        "Action": "sqs:SendMessage",
        "Resource": "*",
    }
    shared = {
        "Sid": "Both",
        "Effect": "Allow",
        "Principal": {"AWS": [USER, OTHER]},
        "Action": "sqs:ReceiveMessage",
        "Resource": "*",
    }
    other = {
        "Sid": "Bob",
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": "sqs:DeleteMessage",
        "Resource": "*",
    }
    policy = {"Version": "2012-10-17", "Statement": [alone, shared, other]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    arn = "arn:aws:sqs:eu-west-1:123456789012:jobs"

    change = clean_queue(arn, {USER})
    assert change is not None
    assert change.old == policy
    stored = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert stored["Statement"] == [{**shared, "Principal": {"AWS": [OTHER]}}, other]
    assert clean_queue(arn, {USER}) is None
    again = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    assert json.loads(again["Policy"]) == stored
