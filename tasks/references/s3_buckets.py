"""S3 bucket policies that name principals (bucket listing is global; each bucket has a region),
and taking principals out of one."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import global_client, regional_client
from tasks.references.found import Read, merged, not_scanned, references_in, refused
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = (
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
)


def _region(client: Any, bucket: dict[str, Any]) -> str:
    # ListBuckets names each bucket's region when asked with a page size; GetBucketLocation
    # where it does not.
    region = bucket.get("BucketRegion")
    if region is None:
        region = client.get_bucket_location(Bucket=bucket["Name"])["LocationConstraint"]
    return str(region or "us-east-1")


def _read_bucket(client: Any, bucket: dict[str, Any], regions: set[str] | None) -> Read:
    name = bucket["Name"]
    arn = f"arn:aws:s3:::{name}"
    region: str | None = None
    try:
        region = _region(client, bucket)
        if regions is not None and region not in regions:
            return [], []
        policy = regional_client("s3", region).get_bucket_policy(Bucket=name)["Policy"]
    except ClientError as error:
        if error_code(error) == "NoSuchBucketPolicy":
            return [], []
        if not refused(error):
            raise
        return [], [not_scanned("s3", arn, region, error)]
    return references_in("s3", region, arn, json.loads(policy)), []


def bucket_references(regions: set[str] | None = None) -> Read:
    """Every bucket's policy, or only those of buckets in ``regions``."""
    client = global_client("s3")
    pages = client.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1000})
    buckets = [bucket for page in pages for bucket in page.get("Buckets", [])]
    return merged(each(buckets, lambda bucket: _read_bucket(client, bucket, regions)))


def clean_bucket(bucket_arn: str, names: set[str]) -> Rewrite | None:
    name = bucket_arn.split(":::", 1)[1]
    region = _region(global_client("s3"), {"Name": name})
    client = regional_client("s3", region)
    try:
        old: dict[str, Any] = json.loads(client.get_bucket_policy(Bucket=name)["Policy"])
    except ClientError as error:
        if error_code(error) == "NoSuchBucketPolicy":
            return None
        raise
    change = rewritten(old, names)
    if change is None:
        return None
    if change.new["Statement"]:
        client.put_bucket_policy(Bucket=name, Policy=json.dumps(change.new))
    else:
        # S3 refuses a policy without statements: the policy goes instead.
        client.delete_bucket_policy(Bucket=name)
    return change
