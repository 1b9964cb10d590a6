"""SNS topic policies that name principals, in one region, and taking principals out of one."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = ("sns:ListTopics", "sns:GetTopicAttributes", "sns:SetTopicAttributes")


def topic_references(region: str) -> Read:
    client = regional_client("sns", region)
    pages = client.get_paginator("list_topics").paginate()
    topics = [topic["TopicArn"] for page in pages for topic in page.get("Topics", [])]

    def read(arn: str) -> list[Reference]:
        policy = client.get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy")
        return references_in("sns", region, arn, json.loads(policy)) if policy else []

    return merged(each(topics, lambda arn: read_or_refused("sns", region, arn, lambda: read(arn))))


def default_topic_policy(topic_arn: str) -> dict[str, Any]:
    """The policy SNS gives a new topic: its own account may use it, nobody else."""
    account = topic_arn.split(":")[4]
    return {
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [
            {
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes",
                    "SNS:SetTopicAttributes",
                    "SNS:AddPermission",
                    "SNS:RemovePermission",
                    "SNS:DeleteTopic",
                    "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic",
                    "SNS:Publish",
                ],
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
            }
        ],
    }


def clean_topic(topic_arn: str, names: set[str]) -> Rewrite | None:
    client = regional_client("sns", region_of(topic_arn))
    policy = client.get_topic_attributes(TopicArn=topic_arn)["Attributes"].get("Policy")
    if not policy:
        return None
    change = rewritten(json.loads(policy), names)
    if change is None:
        return None
    if not change.new["Statement"]:
        # A topic always has a policy: with nothing left, it gets the one a new topic has.
        change = Rewrite(old=change.old, new=default_topic_policy(topic_arn))
    client.set_topic_attributes(
        TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(change.new)
    )
    return change
