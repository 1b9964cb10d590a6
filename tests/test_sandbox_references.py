"""The sandbox shows resource policies as AWS does: after DeleteUser a policy names the user's
unique id instead of its ARN (even once a new user takes the name), and Lambda permissions carry
principals in AWS's shape. Over HTTP."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

from tasks.references.clean import clean_resource
from tasks.references.scan import scan_references

ACCOUNT = "123456789012"
OTHER = f"arn:aws:iam::{ACCOUNT}:user/someone-else"
REGION = "eu-west-1"


def _doc(principals: str | list[str], action: str) -> dict[str, Any]:
    statement = {"Sid": "Named", "Effect": "Allow", "Principal": {"AWS": principals}}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Action": action}]}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


class Policies:
    """One resource of each kind whose policy names ``arn`` (shared with OTHER where it can)."""

    def __init__(self, sandbox: Any, arn: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        both = [arn, OTHER]
        self.iam = sandbox.client("iam")
        self.role = f"trusting-{tag}"
        self.iam.create_role(
            RoleName=self.role, AssumeRolePolicyDocument=json.dumps(_doc(arn, "sts:AssumeRole"))
        )
        self.s3 = sandbox.client("s3", region_name=REGION)
        self.bucket = f"shared-{tag}"
        self.s3.create_bucket(
            Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        bucket_policy = _doc(both, "s3:GetObject")
        bucket_policy["Statement"][0]["Resource"] = f"arn:aws:s3:::{self.bucket}/*"
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(bucket_policy))
        self.kms = sandbox.client("kms", region_name=REGION)
        root = {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
        key_policy = _doc(arn, "kms:Decrypt")
        key_policy["Statement"].insert(0, root)
        self.key = self.kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
        self.sqs = sandbox.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName=f"jobs-{tag}")["QueueUrl"]
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue, Attributes={"Policy": json.dumps(_doc(both, "sqs:SendMessage"))}
        )
        self.sns = sandbox.client("sns", region_name=REGION)
        self.topic = self.sns.create_topic(Name=f"alerts-{tag}")["TopicArn"]
        self.sns.set_topic_attributes(
            TopicArn=self.topic,
            AttributeName="Policy",
            AttributeValue=json.dumps(_doc(arn, "SNS:Publish")),
        )
        self.secrets = sandbox.client("secretsmanager", region_name=REGION)
        self.secret = self.secrets.create_secret(Name=f"db-{tag}", SecretString="hidden")["ARN"]
        self.secrets.put_resource_policy(
            SecretId=self.secret,
            ResourcePolicy=json.dumps(_doc(arn, "secretsmanager:GetSecretValue")),
        )
        self.ecr = sandbox.client("ecr", region_name=REGION)
        self.repository = f"team/app-{tag}"
        self.ecr.create_repository(repositoryName=self.repository)
        self.ecr.set_repository_policy(
            repositoryName=self.repository, policyText=json.dumps(_doc(arn, "ecr:BatchGetImage"))
        )
        self.lam = sandbox.client("lambda", region_name=REGION)
        lambda_trust = _doc("*", "sts:AssumeRole")
        lambda_trust["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
        role_arn = self.iam.create_role(
            RoleName=f"exec-{tag}", AssumeRolePolicyDocument=json.dumps(lambda_trust)
        )["Role"]["Arn"]
        self.function = self.lam.create_function(
            FunctionName=f"fn-{tag}",
            Runtime="python3.11",
            Role=role_arn,
            Handler="main.handler",
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
        self.lam.add_permission(
            FunctionName=self.function,
            StatementId="Named",
            Action="lambda:InvokeFunction",
            Principal=arn,
        )

    def principals(self) -> dict[str, Any]:
        """Each kind's named principals, as its own API returns them now."""
        role = self.iam.get_role(RoleName=self.role)["Role"]["AssumeRolePolicyDocument"]
        documents = {
            "iam": role,
            "s3": json.loads(self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"]),
            "kms": json.loads(
                self.kms.get_key_policy(KeyId=self.key, PolicyName="default")["Policy"]
            ),
            "sqs": json.loads(
                self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["Policy"])[
                    "Attributes"
                ]["Policy"]
            ),
            "sns": json.loads(
                self.sns.get_topic_attributes(TopicArn=self.topic)["Attributes"]["Policy"]
            ),
            "secretsmanager": json.loads(
                self.secrets.get_resource_policy(SecretId=self.secret)["ResourcePolicy"]
            ),
            "ecr": json.loads(
                self.ecr.get_repository_policy(repositoryName=self.repository)["policyText"]
            ),
            "lambda": json.loads(self.lam.get_policy(FunctionName=self.function)["Policy"]),
        }
        return {
            kind: [s["Principal"]["AWS"] for s in document["Statement"] if s.get("Sid") == "Named"]
            for kind, document in documents.items()
        }


def test_after_delete_user_every_resource_policy_names_the_unique_id(
    sandbox: Any, iam: Any, user_name: str
) -> None:
    user = iam.create_user(UserName=user_name)["User"]
    arn, unique_id = user["Arn"], user["UserId"]
    assert unique_id.startswith("AIDA")
    policies = Policies(sandbox, arn)
    shared = {"s3", "sqs"}
    before = policies.principals()
    assert before == {kind: [[arn, OTHER] if kind in shared else arn] for kind in before}

    iam.delete_user(UserName=user_name)
    after = policies.principals()
    assert after == {kind: [[unique_id, OTHER] if kind in shared else unique_id] for kind in after}
    # The key's other statement is as it was.
    key_policy = json.loads(
        policies.kms.get_key_policy(KeyId=policies.key, PolicyName="default")["Policy"]
    )
    assert key_policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}

    # A new user of the same name is not the one the policies name.
    iam.create_user(UserName=user_name)
    assert policies.principals() == after


def test_a_deleted_users_references_are_found_and_cleaned_by_unique_id(
    sandbox: Any, iam: Any, user_name: str
) -> None:
    user = iam.create_user(UserName=user_name)["User"]
    policies = Policies(sandbox, user["Arn"])
    iam.delete_user(UserName=user_name)
    scan = scan_references.fn(regions=(REGION,))
    named = scan.naming(user["Arn"], user["UserId"])
    assert {r.principal for r in named} == {user["UserId"]}
    assert len({(r.service, r.resource_arn) for r in named}) == 8
    for reference in named:
        cleaned = clean_resource.fn(
            reference.service, reference.resource_arn, (user["Arn"], user["UserId"])
        )
        assert cleaned.old_document is not None, reference
    assert scan_references.fn(regions=(REGION,)).naming(user["Arn"], user["UserId"]) == []
    bucket = json.loads(policies.s3.get_bucket_policy(Bucket=policies.bucket)["Policy"])
    assert bucket["Statement"][0]["Principal"] == {"AWS": [OTHER]}


def test_lambda_permissions_carry_principals_as_aws_writes_them(sandbox: Any, iam: Any) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:user/invoker-{uuid.uuid4().hex[:8]}"
    policies = Policies(sandbox, arn)
    lam = policies.lam
    for sid, principal in (("Account", ACCOUNT), ("Service", "s3.amazonaws.com"), ("Anyone", "*")):
        lam.add_permission(
            FunctionName=policies.function,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal=principal,
        )
    statements = json.loads(lam.get_policy(FunctionName=policies.function)["Policy"])["Statement"]
    assert {s["Sid"]: s["Principal"] for s in statements} == {
        "Named": {"AWS": arn},
        "Account": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Service": {"Service": "s3.amazonaws.com"},
        "Anyone": "*",
    }
    # The request log names Lambda's calls as IAM actions do (lambda:GetPolicy).
    assert sandbox.requests.count("GetPolicy", service="lambda") >= 1


def test_list_buckets_with_a_page_size_names_regions_and_pages_as_aws(sandbox: Any) -> None:
    s3 = sandbox.client("s3")
    tag = uuid.uuid4().hex[:8]
    made = {f"paged-{tag}-{i}": ("us-east-1" if i % 2 else REGION) for i in range(5)}
    for bucket, region in made.items():
        config = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": config} if config else {}))
    pages = list(
        s3.get_paginator("list_buckets").paginate(
            Prefix=f"paged-{tag}-", PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page["Buckets"]) for page in pages] == [2, 2, 1]
    listed = {b["Name"]: b["BucketRegion"] for page in pages for b in page["Buckets"]}
    assert listed == made
    # Without a parameter, the answer is moto's own, as AWS's is (no region named).
    plain = s3.list_buckets()["Buckets"]
    assert {b["Name"] for b in plain} >= set(made)
    assert all("BucketRegion" not in b for b in plain)


def test_under_enforcement_json_services_refuse_in_json_and_lambda_signatures_check(
    sandbox: Any, iam: Any, user_name: str
) -> None:
    """A denied KMS or Lambda call carries AccessDeniedException, SQS AccessDenied; a signed
    body-less Lambda GET is let through; DescribeRegions lists the aws partition only."""
    import boto3
    from botocore.exceptions import ClientError

    from sandbox.auth import enforce_iam_authorization

    iam.create_user(UserName=user_name)
    allow = {"Effect": "Allow", "Action": ["lambda:ListFunctions", "ec2:*"], "Resource": "*"}
    iam.put_user_policy(
        UserName=user_name,
        PolicyName="some",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=sandbox.endpoint)

    codes = {}
    with enforce_iam_authorization():
        functions = client("lambda").list_functions()["Functions"]
        regions = [r["RegionName"] for r in client("ec2").describe_regions()["Regions"]]
        for service, call in (
            ("kms", lambda c: c.list_keys()),
            ("lambda", lambda c: c.get_policy(FunctionName="absent")),
            ("sqs", lambda c: c.list_queues()),
        ):
            try:
                call(client(service))
            except ClientError as error:
                codes[service] = error.response["Error"]["Code"]
    assert isinstance(functions, list)
    assert REGION in regions and not any(r.startswith(("cn-", "us-gov-")) for r in regions)
    assert codes == {
        "kms": "AccessDeniedException",
        "lambda": "AccessDeniedException",
        "sqs": "AccessDenied",
    }
