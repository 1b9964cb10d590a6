"""The reference scan over HTTP: a user named in five kinds of resource policy in two regions is
found once per resource, each region and service is read once, refusals are findings, and the
cleaner takes out exactly the user's principals."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from config.settings import REFERENCE_SERVICES, SettingsError, get_settings
from sandbox.auth import enforce_iam_authorization
from sandbox.extension import clear_faults, inject_fault
from tasks.aws import ClientFactory, set_client_factory
from tasks.errors import InvalidInputError
from tasks.permissions import engine_policy
from tasks.references.clean import KeyWouldLoseEveryAdministrator, clean_resource
from tasks.references.iam_roles import TRUSTS_NOBODY
from tasks.references.scan import ReferenceScan, scan_references
from tests.helpers import engine_settings

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
REGIONS = ("us-east-1", "eu-west-1")


def _allow(sid: str, principals: list[str] | str, action: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": action,
        "Resource": "*",
    }


def _zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", source)
    return buffer.getvalue()


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


class Named:
    """A user and a colleague named in a bucket, key, queue and secret policy per region and in
    a role's trust policy; ``arns`` is every resource made, by service."""

    def __init__(self, sandbox: Any) -> None:
        tag = uuid.uuid4().hex[:8]
        self.user = f"arn:aws:iam::{ACCOUNT}:user/alice-{tag}"
        self.other = f"arn:aws:iam::{ACCOUNT}:user/bob-{tag}"
        self.arns: dict[str, list[str]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        iam = sandbox.client("iam")
        self.grants: list[str] = []
        self.kept_grants: list[str] = []
        lambda_trust = {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
        self.lambda_role = iam.create_role(
            RoleName=f"handler-{tag}", AssumeRolePolicyDocument=json.dumps(_doc(lambda_trust))
        )["Role"]["Arn"]
        assume = {k: v for k, v in _allow("Alice", self.user, "sts:AssumeRole").items()}
        del assume["Resource"]
        trust = _doc(assume)
        role = iam.create_role(RoleName=f"deploy-{tag}", AssumeRolePolicyDocument=json.dumps(trust))
        self._add("iam", role["Role"]["Arn"], trust)
        s3 = sandbox.client("s3")
        for region in REGIONS:
            bucket = f"data-{tag}-{region}"
            config = {} if region == "us-east-1" else {"LocationConstraint": region}
            s3.create_bucket(
                Bucket=bucket, **({"CreateBucketConfiguration": config} if config else {})
            )
            policy = _doc(
                _allow("Readers", [self.user, self.other], "s3:GetObject")
                | {"Resource": f"arn:aws:s3:::{bucket}/*"}
            )
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
            self._add("s3", f"arn:aws:s3:::{bucket}", policy)

            kms = sandbox.client("kms", region_name=region)
            key_policy = _doc(
                _allow("Root", ROOT, "kms:*"), _allow("Use", self.user, "kms:Decrypt")
            )
            key = kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
            self._add("kms", key, key_policy)

            sqs = sandbox.client("sqs", region_name=region)
            url = sqs.create_queue(QueueName=f"jobs-{tag}")["QueueUrl"]
            queue_policy = _doc(
                _allow("Alice", self.user, "sqs:SendMessage"),
                _allow("Bob", [self.other], "sqs:ReceiveMessage"),
            )
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(queue_policy)})
            self._add("sqs", f"arn:aws:sqs:{region}:{ACCOUNT}:jobs-{tag}", queue_policy)

            secrets = sandbox.client("secretsmanager", region_name=region)
            secret = secrets.create_secret(Name=f"db-{tag}", SecretString="hidden")["ARN"]
            secret_policy = _doc(_allow("Read", self.user, "secretsmanager:GetSecretValue"))
            secrets.put_resource_policy(SecretId=secret, ResourcePolicy=json.dumps(secret_policy))
            self._add("secretsmanager", secret, secret_policy)

            sns = sandbox.client("sns", region_name=region)
            topic = sns.create_topic(Name=f"alerts-{tag}")["TopicArn"]
            topic_policy = _doc(
                _allow("Owner", ROOT, "SNS:GetTopicAttributes"),
                _allow("Publishers", [self.user, self.other], "SNS:Publish"),
            )
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(topic_policy)
            )
            self._add("sns", topic, topic_policy)

            ecr = sandbox.client("ecr", region_name=region)
            repository = ecr.create_repository(repositoryName=f"team/app-{tag}")["repository"]
            pull = {k: v for k, v in _allow("Pull", self.user, "ecr:BatchGetImage").items()}
            del pull["Resource"]
            ecr.set_repository_policy(
                repositoryName=repository["repositoryName"], policyText=json.dumps(_doc(pull))
            )
            self._add("ecr", repository["repositoryArn"], _doc(pull))

            lam = sandbox.client("lambda", region_name=region)
            function = lam.create_function(
                FunctionName=f"handler-{tag}",
                Runtime="python3.11",
                Role=self.lambda_role,
                Handler="main.handler",
                Code={"ZipFile": _zipped("def handler(event, context):\n    return 1\n")},
            )["FunctionArn"]
            lam.add_permission(
                FunctionName=function,
                StatementId="AliceInvokes",
                Action="lambda:InvokeFunction",
                Principal=self.user,
            )
            lam.add_permission(
                FunctionName=function,
                StatementId="AccountInvokes",
                Action="lambda:InvokeFunction",
                Principal=ACCOUNT,
            )
            self._add(
                "lambda", function, json.loads(lam.get_policy(FunctionName=function)["Policy"])
            )

            grant = kms.create_grant(KeyId=key, GranteePrincipal=self.user, Operations=["Decrypt"])
            self.grants.append(grant["GrantId"])
            kept = kms.create_grant(KeyId=key, GranteePrincipal=self.other, Operations=["Encrypt"])
            self.kept_grants.append(kept["GrantId"])
            self.arns.setdefault("kms-grants", []).append(key)

    def _add(self, service: str, arn: str, document: dict[str, Any]) -> None:
        self.arns.setdefault(service, []).append(arn)
        self.documents[arn] = document

    def all_arns(self) -> set[str]:
        return {arn for arns in self.arns.values() for arn in arns}


def _without(user: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements as a reader expects them after the clean, written out longhand."""
    kept = []
    for statement in document["Statement"]:
        named = statement["Principal"]["AWS"]
        if named == user:
            continue
        if isinstance(named, list) and user in named:
            statement = {**statement, "Principal": {"AWS": [p for p in named if p != user]}}
        kept.append(statement)
    if not kept and statement["Action"] == "sts:AssumeRole":
        # IAM needs a statement: a role the user alone could assume is left trusting nobody.
        kept = [TRUSTS_NOBODY]
    return kept


@pytest.fixture
def named(sandbox: Any) -> Named:
    return Named(sandbox)


def test_a_user_named_in_five_services_in_two_regions_is_found_at_each_resource(
    named: Named,
) -> None:
    scan = scan_references.fn(regions=REGIONS)
    assert scan.account_id == ACCOUNT
    assert scan.regions == sorted(REGIONS)
    assert scan.services == list(REFERENCE_SERVICES)
    found = {(r.service, r.resource_arn) for r in scan.naming(named.user)}
    expected = {(service, arn) for service, arns in named.arns.items() for arn in arns}
    assert found == expected
    by_arn = {(r.service, r.resource_arn): r for r in scan.naming(named.user)}
    key = by_arn["kms", named.arns["kms"][1]]
    assert (key.region, key.statement, key.effect, key.actions) == (
        "eu-west-1",
        "Use",
        "Allow",
        ["kms:Decrypt"],
    )
    assert by_arn["s3", named.arns["s3"][1]].region == "eu-west-1"
    assert by_arn["iam", named.arns["iam"][0]].region == "global"
    grant = by_arn["kms-grants", named.arns["kms"][0]]
    assert (grant.statement, grant.actions) == (named.grants[0], ["kms:Decrypt"])
    function = by_arn["lambda", named.arns["lambda"][0]]
    assert (function.statement, function.actions) == ("AliceInvokes", ["lambda:InvokeFunction"])
    # The colleague is found where named too, and by either identity the user is one lookup.
    assert {(r.service, r.resource_arn) for r in scan.naming(named.other)} == {
        *(("s3", arn) for arn in named.arns["s3"]),
        *(("sqs", arn) for arn in named.arns["sqs"]),
        *(("sns", arn) for arn in named.arns["sns"]),
        *(("kms-grants", arn) for arn in named.arns["kms"]),
    }
    assert scan.naming(named.user, "AIDANOBODY") == scan.naming(named.user)
    assert scan.not_scanned == []


def test_each_region_and_service_is_listed_once_and_the_calls_are_counted(named: Named) -> None:
    scan = scan_references.fn(regions=REGIONS)
    calls = scan.calls
    listings = (
        "sqs:ListQueues",
        "secretsmanager:ListSecrets",
        "sns:ListTopics",
        "lambda:ListFunctions",
        "ecr:DescribeRepositories",
    )
    for listing in listings:
        assert calls[listing] == len(REGIONS), listing
        assert all(scan.calls_by_region[region][listing] == 1 for region in REGIONS)
    # Key policies and grants are two services, each listing the keys once per region.
    assert all(scan.calls_by_region[region]["kms:ListKeys"] == 2 for region in REGIONS)
    assert calls["s3:ListBuckets"] == 1
    assert calls["iam:ListRoles"] >= 1
    assert scan.calls_by_region["global"]["s3:ListBuckets"] == 1
    # One policy read per key, queue and secret; no DescribeRegions when regions are given.
    keys = sum(1 for r in scan.found if r.service == "kms" and r.statement == "Root")
    assert calls["kms:GetKeyPolicy"] >= keys >= 2
    assert "ec2:DescribeRegions" not in calls
    # ListBuckets names each bucket's region: no GetBucketLocation per bucket.
    assert "s3:GetBucketLocation" not in calls
    assert calls["s3:GetBucketPolicy"] >= len(named.arns["s3"])
    assert sum(calls.values()) == sum(sum(c.values()) for c in scan.calls_by_region.values())


def test_the_scan_is_json_and_comes_back_equal(named: Named) -> None:
    scan = scan_references.fn(regions=REGIONS, services=("sqs", "kms"))
    assert scan.services == ["kms", "sqs"]
    assert {r.service for r in scan.found} == {"kms", "sqs"}
    assert set(scan.calls) <= {"kms:ListKeys", "kms:GetKeyPolicy", "sqs:ListQueues"} | {
        "sqs:GetQueueAttributes"
    }
    assert ReferenceScan.model_validate_json(scan.model_dump_json()) == scan


def test_settings_narrow_regions_and_services_and_reject_unknown_names(named: Named) -> None:
    with engine_settings(reference_regions='["eu-west-1"]', reference_services='["sqs"]'):
        scan = scan_references.fn()
    assert (scan.regions, scan.services) == (["eu-west-1"], ["sqs"])
    assert {r.resource_arn for r in scan.naming(named.user)} == {named.arns["sqs"][1]}
    with (
        engine_settings(reference_services='["sqs", "dynamodb"]'),
        pytest.raises(SettingsError) as bad,
    ):
        get_settings()
    message = str(bad.value)
    assert "OFFBOARD_REFERENCE_SERVICES" in message and "'dynamodb'" in message
    assert "\n" not in message
    with pytest.raises(InvalidInputError, match="'ssm'"):
        scan_references.fn(regions=REGIONS, services=("ssm",))
    with (
        engine_settings(reference_regions='["Europe"]'),
        pytest.raises(SettingsError, match="Europe"),
    ):
        get_settings()


def test_without_regions_every_enabled_region_is_read(sandbox: Any, named: Named) -> None:
    mark = sandbox.requests.mark()
    scan = scan_references.fn(services=("sqs",))
    assert set(REGIONS) <= set(scan.regions)
    assert scan.calls["ec2:DescribeRegions"] == 1
    assert scan.calls["sqs:ListQueues"] == len(scan.regions)
    assert set(named.arns["sqs"]) <= {r.resource_arn for r in scan.naming(named.user)}
    listed = [c for c in sandbox.requests.since(mark) if c.action == "ListQueues"]
    assert len(listed) == len(scan.regions)


def test_a_refused_policy_or_listing_is_reported_not_scanned(named: Named) -> None:
    try:
        inject_fault("GetKeyPolicy", "AccessDeniedException", service="kms")
        inject_fault("ListQueues", "AccessDenied", service="sqs", status=403)
        scan = scan_references.fn(regions=("eu-west-1",), services=("kms", "sqs"))
    finally:
        clear_faults()
    gaps = {(g.service, g.region, g.reason) for g in scan.not_scanned}
    assert gaps == {
        ("kms", "eu-west-1", "AccessDeniedException"),
        ("sqs", "eu-west-1", "AccessDenied"),
    }
    key_gap = next(g for g in scan.not_scanned if g.service == "kms")
    assert key_gap.resource_arn.startswith("arn:aws:kms:eu-west-1:")
    assert key_gap.resource_arn not in {r.resource_arn for r in scan.found}
    assert [g.resource_arn for g in scan.not_scanned if g.service == "sqs"] == ["*"]


def test_clean_takes_out_only_the_user_and_a_second_clean_writes_nothing(
    sandbox: Any, named: Named
) -> None:
    scan = scan_references.fn(regions=REGIONS)
    targets = sorted({(r.service, r.resource_arn) for r in scan.naming(named.user)})
    assert len(targets) == 1 + 8 * len(REGIONS)
    for service, arn in targets:
        cleaned = clean_resource.fn(service, arn, (named.user,))
        assert cleaned.old_document is not None and cleaned.new_document is not None
        if service == "kms-grants":
            ids = [
                [g["GrantId"] for g in d["Grants"]]
                for d in (cleaned.old_document, cleaned.new_document)
            ]
            index = named.arns["kms"].index(arn)
            assert ids == [
                [named.grants[index], named.kept_grants[index]],
                [named.kept_grants[index]],
            ]
            continue
        assert cleaned.old_document == named.documents[arn], arn
        assert cleaned.new_document["Statement"] == _without(named.user, cleaned.old_document), arn
    after = scan_references.fn(regions=REGIONS)
    assert after.naming(named.user) == []
    # The colleague and the account root are where they were, statement for statement.
    assert sorted(json.dumps(r.model_dump()) for r in after.naming(named.other)) == sorted(
        json.dumps(r.model_dump()) for r in scan.naming(named.other)
    )
    roots = [r for r in after.found if r.principal == ROOT and r.resource_arn in named.all_arns()]
    assert len(roots) == 3 * len(REGIONS)
    s3 = sandbox.client("s3")
    bucket = named.arns["s3"][0].split(":::")[1]
    stored = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    expected = named.documents[named.arns["s3"][0]]["Statement"][0]
    assert json.dumps(stored["Statement"][0]) == json.dumps(
        {**expected, "Principal": {"AWS": [named.other]}}
    )
    for service, arn in targets:
        again = clean_resource.fn(service, arn, (named.user,))
        assert (again.old_document, again.new_document) == (None, None), arn


def test_clean_refuses_a_key_that_would_lose_every_administrator(sandbox: Any) -> None:
    user = f"arn:aws:iam::{ACCOUNT}:user/only-admin-{uuid.uuid4().hex[:8]}"
    kms = sandbox.client("kms", region_name="eu-west-1")
    arn = kms.create_key(Policy=json.dumps(_doc(_allow("Admin", user, "kms:*"))))["KeyMetadata"][
        "Arn"
    ]
    before = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    with pytest.raises(KeyWouldLoseEveryAdministrator):
        clean_resource.fn("kms", arn, (user,))
    assert kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"] == before
    with pytest.raises(InvalidInputError, match="'dynamodb'"):
        clean_resource.fn("dynamodb", arn, (user,))


@pytest.fixture
def engine(sandbox: Any) -> Iterator[Callable[[dict[str, Any]], None]]:
    """The engine's clients sign as a user holding only the policy it is granted."""
    iam = sandbox.client("iam")
    name = f"engine-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )

    def grant(policy: dict[str, Any]) -> None:
        iam.put_user_policy(UserName=name, PolicyName="engine", PolicyDocument=json.dumps(policy))

    set_client_factory(ClientFactory(session=session))
    try:
        yield grant
    finally:
        set_client_factory(None)
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName=name, PolicyName="engine")
        iam.delete_user(UserName=name)


def test_under_iam_enforcement_the_engine_policy_scans_and_cleans_and_less_is_reported(
    sandbox: Any, named: Named, engine: Callable[[dict[str, Any]], None]
) -> None:
    """With exactly the engine policy nothing is refused; without a read action, the resources
    it reads are reported as not scanned, naming the action, and the scan still completes."""
    reads = {
        "kms:GetKeyPolicy",
        "kms:ListGrants",
        "s3:GetBucketPolicy",
        "sns:GetTopicAttributes",
        "secretsmanager:GetResourcePolicy",
        "lambda:GetPolicy",
        "ecr:GetRepositoryPolicy",
        "sqs:ListQueues",
    }
    policy = engine_policy()
    engine(
        {
            **policy,
            "Statement": [
                {**s, "Action": [a for a in s["Action"] if a not in reads]}
                for s in policy["Statement"]
            ],
        }
    )
    with enforce_iam_authorization():
        narrowed = scan_references.fn(regions=REGIONS)
    refused = {
        (g.action, g.reason)
        for g in narrowed.not_scanned
        if g.resource_arn in named.all_arns() or g.resource_arn == "*"
    }
    assert {action for action, _ in refused} == reads
    assert {reason for _, reason in refused} <= {"AccessDenied", "AccessDeniedException"}
    assert {r.service for r in narrowed.naming(named.user)} == {"iam"}

    engine(policy)
    mark = sandbox.requests.mark()
    with enforce_iam_authorization():
        scan = scan_references.fn(regions=REGIONS)
        targets = sorted({(r.service, r.resource_arn) for r in scan.naming(named.user)})
        cleaned = [clean_resource.fn(service, arn, (named.user,)) for service, arn in targets]
    assert scan.not_scanned == []
    assert len(targets) == 1 + 8 * len(REGIONS)
    assert all(c.old_document is not None for c in cleaned)
    assert [c for c in sandbox.requests.since(mark) if c.status == 403] == []


def test_every_service_the_settings_accept_has_a_reader_and_a_cleaner() -> None:
    from tasks.references.clean import CLEANERS
    from tasks.references.scan import GLOBAL_READERS, REGIONAL_READERS

    readers = set(GLOBAL_READERS) | set(REGIONAL_READERS)
    assert readers == set(REFERENCE_SERVICES) == set(CLEANERS)
    assert not set(GLOBAL_READERS) & set(REGIONAL_READERS)
