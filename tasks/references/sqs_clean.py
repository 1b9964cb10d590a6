"""Taking principals out of one SQS queue policy; writes nothing when they are already gone."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.rewrite import Rewrite, rewritten
from tasks.references.sqs_queues import sqs_client

PERMISSIONS = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes")


def clean_queue(queue_arn: str, names: set[str]) -> Rewrite | None:
    """The queue's policy before (for the audit trail) and after, None when unchanged."""
    _, _, _, region, account, queue = queue_arn.split(":", 5)
    client = sqs_client(region)
    url = client.get_queue_url(QueueName=queue, QueueOwnerAWSAccountId=account)["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    old = attributes.get("Attributes", {}).get("Policy")
    if old is None:
        return None
    document: dict[str, Any] = json.loads(old)
    change = rewritten(document, names)
    if change is None:
        return None
    # A policy with no statement left is removed, as SQS expects rather than an empty list.
    policy = json.dumps(change.new) if change.new["Statement"] else ""
    client.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return change
