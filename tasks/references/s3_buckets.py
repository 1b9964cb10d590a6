"""S3 bucket policies that name principals (bucket listing is global; each bucket has a region)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import current_factory
from tasks.references.found import NotScanned, Reference, references_in

PERMISSIONS = ("s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketPolicy")


def bucket_references() -> tuple[list[Reference], list[NotScanned]]:
    client: Any = current_factory().client("s3")
    found: list[Reference] = []
    refused: list[NotScanned] = []
    for page in client.get_paginator("list_buckets").paginate():
        for bucket in page.get("Buckets", []):
            name = bucket["Name"]
            arn = f"arn:aws:s3:::{name}"
            try:
                region = client.get_bucket_location(Bucket=name)["LocationConstraint"]
                policy = client.get_bucket_policy(Bucket=name)["Policy"]
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code == "NoSuchBucketPolicy":
                    continue
                if code == "AccessDenied":
                    refused.append(NotScanned(service="s3", resource_arn=arn, reason=code))
                    continue
                raise
            found += references_in("s3", region or "us-east-1", arn, json.loads(policy))
    return found, refused
