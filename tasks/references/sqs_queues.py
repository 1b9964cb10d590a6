"""SQS queue policies that name principals, in one region."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.clients import regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.parallel import each

PERMISSIONS = ("sqs:ListQueues", "sqs:GetQueueAttributes")


def sqs_client(region: str) -> Any:
    return regional_client("sqs", region)


def queue_references(region: str) -> Read:
    client = sqs_client(region)
    pages = client.get_paginator("list_queues").paginate()
    urls = [url for page in pages for url in page.get("QueueUrls", [])]

    def read(url: str) -> list[Reference]:
        attributes = client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["Policy", "QueueArn"]
        )["Attributes"]
        if "Policy" not in attributes:
            return []
        document = json.loads(attributes["Policy"])
        return references_in("sqs", region, attributes["QueueArn"], document)

    # A refused queue is named by its URL: its ARN comes with the attributes it was refused.
    return merged(each(urls, lambda url: read_or_refused("sqs", region, url, lambda: read(url))))
