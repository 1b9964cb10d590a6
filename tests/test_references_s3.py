"""Bucket policies naming a user are found with their bucket's region, over HTTP."""

from __future__ import annotations

import json

import boto3

from tasks.references.found import index_by_principal
from tasks.references.s3_buckets import bucket_references

USER = "arn:aws:iam::123456789012:user/alice"
OTHER = "arn:aws:iam::123456789012:user/bob"


def _policy(bucket: str) -> str:
    statement = {
        "Sid": "Readers",
        "Effect": "Allow",
        "Principal": {"AWS": [USER, OTHER]},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_bucket_policies_in_two_regions_are_indexed_by_principal(sandbox) -> None:  # type: ignore[no-untyped-def]
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="east-data")
    s3.create_bucket(
        Bucket="west-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.create_bucket(Bucket="no-policy")
    for bucket in ("east-data", "west-data"):
        s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket))

    found, refused = bucket_references()
    assert refused == []
    mine = {"arn:aws:s3:::east-data", "arn:aws:s3:::west-data", "arn:aws:s3:::no-policy"}
    index = index_by_principal([r for r in found if r.resource_arn in mine])
    assert sorted((r.resource_arn, r.region) for r in index[USER]) == [
        ("arn:aws:s3:::east-data", "us-east-1"),
        ("arn:aws:s3:::west-data", "eu-west-1"),
    ]
    assert len(index[OTHER]) == 2
    assert set(index) == {USER, OTHER}
    # Narrowed to a region, the other region's buckets are not read.
    west, _ = bucket_references({"eu-west-1"})
    assert {r.resource_arn for r in west if r.resource_arn in mine} == {"arn:aws:s3:::west-data"}
