"""SQS queue policies that name principals, in one region."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.clients import regional_client
from tasks.references.found import Read, Reference, references_in

PERMISSIONS = ("sqs:ListQueues", "sqs:GetQueueAttributes")


def sqs_client(region: str) -> Any:
    return regional_client("sqs", region)


def queue_references(region: str) -> Read:
    client = sqs_client(region)
    found: list[Reference] = []
    for page in client.get_paginator("list_queues").paginate():
        for url in page.get("QueueUrls", []):
            attributes = client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["Policy", "QueueArn"]
            )["Attributes"]
            if "Policy" in attributes:
                document = json.loads(attributes["Policy"])
                found += references_in("sqs", region, attributes["QueueArn"], document)
    return found, []
