"""What one reference scan costs: API calls per region and service, and wall time, on a sandbox
holding 50 buckets, 50 KMS keys, 50 roles and 20 SNS topics, SQS queues and secrets.

    python bench/bench_references.py [--latency-ms 20]

The sandbox runs in its own process (``python -m sandbox``). The resources are spread over two
regions and every one has a policy naming a user, so each is read in full. The calls are
ReferenceScan.calls_by_region, as the engine counted them; the table is what README.md's
"Reference scan cost" section shows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_offboard import free_port, start_sandbox  # noqa: E402

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/leaver"
REGIONS = ("us-east-1", "eu-west-1")


def _client(endpoint: str, service: str, region: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _policy(action: str, resource: str | None = "*") -> str:
    statement: dict[str, Any] = {
        "Sid": "Leaver",
        "Effect": "Allow",
        "Principal": {"AWS": USER},
        "Action": action,
    }
    if resource:
        statement["Resource"] = resource
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def seed(endpoint: str, counts: dict[str, int]) -> None:
    """Resources spread over REGIONS, each with a policy naming USER."""
    iam = _client(endpoint, "iam", "us-east-1")
    for i in range(counts["roles"]):
        iam.create_role(
            RoleName=f"bench-role-{i}", AssumeRolePolicyDocument=_policy("sts:AssumeRole", None)
        )
    s3 = _client(endpoint, "s3", "us-east-1")
    for i in range(counts["buckets"]):
        region = REGIONS[i % len(REGIONS)]
        bucket = f"bench-bucket-{i}"
        extra = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_bucket_policy(
            Bucket=bucket, Policy=_policy("s3:GetObject", f"arn:aws:s3:::{bucket}/*")
        )
    root = {
        "Sid": "Root",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    key_policy = json.loads(_policy("kms:Decrypt"))
    key_policy["Statement"].insert(0, root)
    for i in range(counts["keys"]):
        kms = _client(endpoint, "kms", REGIONS[i % len(REGIONS)])
        kms.create_key(Policy=json.dumps(key_policy))
    for i in range(counts["topics"]):
        sns = _client(endpoint, "sns", REGIONS[i % len(REGIONS)])
        topic = sns.create_topic(Name=f"bench-topic-{i}")["TopicArn"]
        sns.set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=_policy("SNS:Publish", topic)
        )
    for i in range(counts["queues"]):
        sqs = _client(endpoint, "sqs", REGIONS[i % len(REGIONS)])
        url = sqs.create_queue(QueueName=f"bench-queue-{i}")["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _policy("sqs:SendMessage")})
    for i in range(counts["secrets"]):
        secrets = _client(endpoint, "secretsmanager", REGIONS[i % len(REGIONS)])
        arn = secrets.create_secret(Name=f"bench-secret-{i}", SecretString="hidden")["ARN"]
        secrets.put_resource_policy(
            SecretId=arn, ResourcePolicy=_policy("secretsmanager:GetSecretValue")
        )


def _service(operation: str) -> str:
    return operation.split(":", 1)[0]


def print_table(by_region: dict[str, dict[str, int]], scan_services: list[str]) -> None:
    print("| Region | Service | Calls | Operations |")
    print("|---|---|---:|---|")
    for region, calls in by_region.items():
        per_service: dict[str, Counter[str]] = {}
        for operation, count in calls.items():
            per_service.setdefault(_service(operation), Counter())[operation] = count
        for service, operations in sorted(per_service.items()):
            detail = ", ".join(f"{op.split(':', 1)[1]} {n}" for op, n in sorted(operations.items()))
            print(f"| {region} | {service} | {sum(operations.values())} | {detail} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buckets", type=int, default=50)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--roles", type=int, default=50)
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=0, help="delay of every AWS call")
    args = parser.parse_args()
    counts = {
        name: getattr(args, name)
        for name in ("buckets", "keys", "roles", "topics", "queues", "secrets")
    }

    port = free_port()
    sandbox = start_sandbox(port, latency_ms=args.latency_ms)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        seed(endpoint, counts)
        print(f"seeded {counts} over {', '.join(REGIONS)} in {time.monotonic() - started:.1f} s")
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        from tasks.references.scan import scan_references

        started = time.monotonic()
        scan = scan_references.fn(regions=REGIONS)
        seconds = time.monotonic() - started
        named = len({(r.service, r.resource_arn) for r in scan.naming(USER)})
        print(
            f"scan: {len(scan.found)} statements naming principals, {named} resources naming "
            f"the user, {len(scan.not_scanned)} not scanned; {sum(scan.calls.values())} calls "
            f"in {seconds:.2f} s (latency {args.latency_ms:g} ms per call)"
        )
        print()
        print_table(scan.calls_by_region, scan.services)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
