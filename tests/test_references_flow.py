"""Resource policies naming a user, end to end against the sandbox over HTTP: plan and review
list them, the run deletes the user, `offboard references clean` takes exactly its principal out
of them (other principals and statements kept as they were) and a second clean changes nothing;
a KMS key that would lose every administrator is left as it was while the others are cleaned."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.guards.kms import NAME as KMS_GUARD
from tests.helpers import audit_records, engine_settings, mutating

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(autouse=True)
def two_regions() -> Iterator[None]:
    with engine_settings(reference_regions=json.dumps(list(REGIONS))):
        yield


def allow(sid: str, principals: list[str], action: str, resource: str = "*") -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": action,
        "Resource": resource,
    }


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def mutations(calls: list[Any]) -> list[str]:
    """Mutating calls of any service but STS (S3's REST calls by method)."""
    named = [f"{c.service}:{c.action}" for c in calls if c.action and mutating([c.action])]
    named += [f"s3:{c.method} {c.path}" for c in calls if c.service == "s3" and c.method != "GET"]
    return [n for n in named if not n.startswith("sts:")]


@dataclass
class Named:
    """A user named by five resource policies in two regions, beside another principal."""

    sandbox: Any
    user: str
    arn: str
    user_id: str
    other: str
    bucket: str
    key_arn: str
    role: str
    queue_url: str
    secret_arn: str
    before: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.arn.split(':')[4]}:role/{self.role}"

    @property
    def queue_arn(self) -> str:
        attributes = self.sqs().get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        return str(attributes["Attributes"]["QueueArn"])

    def sqs(self) -> Any:
        return self.sandbox.client("sqs", region_name="eu-west-1")

    def documents(self) -> dict[str, dict[str, Any] | None]:
        """Every document as its service returns it now (None: no policy)."""
        s3 = self.sandbox.client("s3", region_name="eu-west-1")
        kms = self.sandbox.client("kms", region_name="us-east-1")
        iam = self.sandbox.client("iam")
        secrets = self.sandbox.client("secretsmanager", region_name="us-east-1")
        trust: Any = iam.get_role(RoleName=self.role)["Role"]["AssumeRolePolicyDocument"]
        queue = self.sqs().get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["Policy"])
        secret = secrets.get_resource_policy(SecretId=self.secret_arn).get("ResourcePolicy")
        return {
            "s3": json.loads(s3.get_bucket_policy(Bucket=self.bucket)["Policy"]),
            "kms": json.loads(
                kms.get_key_policy(KeyId=self.key_arn, PolicyName="default")["Policy"]
            ),
            "iam": json.loads(unquote(trust)) if isinstance(trust, str) else trust,
            "sqs": json.loads(queue["Attributes"]["Policy"])
            if "Policy" in queue.get("Attributes", {})
            else None,
            "secretsmanager": json.loads(secret) if secret else None,
        }

    @property
    def arns(self) -> set[str]:
        return {
            f"arn:aws:s3:::{self.bucket}",
            self.key_arn,
            self.role_arn,
            self.queue_arn,
            self.secret_arn,
        }


@pytest.fixture
def named(sandbox, iam, user_name) -> Named:  # type: ignore[no-untyped-def]
    created = iam.create_user(UserName=user_name)["User"]
    iam.create_access_key(UserName=user_name)
    arn, account = created["Arn"], created["Arn"].split(":")[4]
    other = iam.create_user(UserName=f"{user_name}-other")["User"]["Arn"]
    root = f"arn:aws:iam::{account}:root"
    tag = uuid.uuid4().hex[:10]

    bucket = f"refs-{tag}"
    s3 = sandbox.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    bucket_doc = doc(
        allow("Shared", [arn, other], "s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        allow("OtherOnly", [other], "s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_doc))

    kms = sandbox.client("kms", region_name="us-east-1")
    key_doc = doc(allow("Root", [root], "kms:*"), allow("UserUse", [arn], "kms:Decrypt"))
    key_arn = kms.create_key(Policy=json.dumps(key_doc))["KeyMetadata"]["Arn"]

    role = f"refs-deploy-{tag}"
    trust_doc = doc(allow("Assume", [arn, other], "sts:AssumeRole"))
    trust_doc["Statement"][0].pop("Resource")
    sandbox.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_doc))

    sqs = sandbox.client("sqs", region_name="eu-west-1")
    queue_url = sqs.create_queue(QueueName=f"refs-{tag}")["QueueUrl"]
    queue_doc = doc(
        allow("UserSend", [arn], "sqs:SendMessage"), allow("OtherSend", [other], "sqs:SendMessage")
    )
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(queue_doc)})

    secrets = sandbox.client("secretsmanager", region_name="us-east-1")
    secret_arn = secrets.create_secret(Name=f"refs-{tag}", SecretString="hidden")["ARN"]
    secret_doc = doc(
        allow("UserRead", [arn], "secretsmanager:GetSecretValue"),
        allow("OtherRead", [other], "secretsmanager:GetSecretValue"),
    )
    secrets.put_resource_policy(SecretId=secret_arn, ResourcePolicy=json.dumps(secret_doc))

    found = Named(
        sandbox,
        user_name,
        arn,
        created["UserId"],
        other,
        bucket,
        key_arn,
        role,
        queue_url,
        secret_arn,
    )
    found.before = {
        "s3": bucket_doc,
        "kms": key_doc,
        "iam": trust_doc,
        "sqs": queue_doc,
        "secretsmanager": secret_doc,
    }
    return found


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_plan_and_review_list_the_five_references_with_their_resource_arns(named: Named):
    planned = run_cli("plan", named.user, "--json")
    assert planned.exit_code == 0, planned.output
    references = json.loads(planned.stdout)["references"]
    found = {(r["service"], r["resource_arn"]) for r in references["found"]}
    assert {arn for _, arn in found} == named.arns
    assert {s for s, _ in found} == {"s3", "kms", "iam", "sqs", "secretsmanager"}
    assert set(references["regions"]) == set(REGIONS)
    by_arn = {r["resource_arn"]: r for r in references["found"]}
    assert by_arn[named.key_arn]["statement"] == "UserUse"
    assert by_arn[named.key_arn]["actions"] == ["kms:Decrypt"]
    assert by_arn[named.key_arn]["effect"] == "Allow"

    reviewed = run_cli("review", named.user, "--json")
    assert reviewed.exit_code == 0, reviewed.output
    listed = json.loads(reviewed.stdout)["references"]["found"]
    assert {r["resource_arn"] for r in listed} == named.arns

    table = run_cli("plan", named.user)
    assert table.exit_code == 0, table.output
    assert named.key_arn in table.output and "UserUse" in table.output


def test_after_the_run_clean_removes_exactly_the_user_and_a_second_clean_changes_nothing(
    sandbox, named: Named
):
    ran = run_cli("run", named.user, "--yes")
    assert ran.exit_code == 0, ran.output

    cleaned = run_cli("references", "clean", named.user, "--yes", "--json")
    assert cleaned.exit_code == 0, cleaned.output
    report = json.loads(cleaned.stdout)
    assert {r["resource_arn"] for r in report["resources"]} == named.arns
    assert {r["outcome"] for r in report["resources"]} == {"cleaned"}
    assert named.arn in report["principals"] and named.user_id in report["principals"]

    after = named.documents()
    before = named.before
    shared, other_only = before["s3"]["Statement"]
    assert after["s3"]["Statement"] == [
        {**shared, "Principal": {"AWS": [named.other]}},
        other_only,
    ]
    assert after["kms"]["Statement"] == [before["kms"]["Statement"][0]]
    assert after["iam"]["Statement"] == [
        {**before["iam"]["Statement"][0], "Principal": {"AWS": [named.other]}}
    ]
    assert after["sqs"] is not None and after["sqs"]["Statement"] == [before["sqs"]["Statement"][1]]
    assert after["secretsmanager"] is not None
    assert after["secretsmanager"]["Statement"] == [before["secretsmanager"]["Statement"][1]]

    # Each resource audited with its old document; the snapshot keeps them all.
    records = [r for r in audit_records(report["run_id"]) if r.step == "references"]
    assert {r.resources[0] for r in records if r.outcome == "done"} == named.arns
    # After the deletion AWS (and the sandbox) shows the user as its unique id.
    shown = json.loads(json.dumps(before["kms"]).replace(named.arn, named.user_id))
    key_record = next(r for r in records if r.resources == (named.key_arn,))
    assert json.loads((key_record.message or "").removeprefix("old document: ")) == shown
    snapshot = json.loads(Path(report["snapshot"]["location"]).read_text())
    old = {c["resource_arn"]: c["old_document"] for c in snapshot["cleaned"]}
    assert old[named.key_arn] == shown

    mark = sandbox.requests.mark()
    again = run_cli("references", "clean", named.user, "--yes", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resources"] == []
    assert mutations(sandbox.requests.since(mark)) == []
    assert named.documents() == after


def test_a_unique_id_shown_in_place_of_a_deleted_user_is_cleaned_by_that_id(
    sandbox, iam, user_name
):
    """AWS shows a deleted user's principal as its unique id (AIDA…): clean by that id."""
    user = iam.create_user(UserName=user_name)["User"]
    assert run_cli("run", user_name, "--yes").exit_code == 0
    secrets = sandbox.client("secretsmanager", region_name="eu-west-1")
    arn = secrets.create_secret(Name=f"refs-id-{uuid.uuid4().hex[:8]}", SecretString="x")["ARN"]
    keep = allow("Ops", ["arn:aws:iam::123456789012:role/ops"], "secretsmanager:*")
    policy = doc(allow("Gone", [user["UserId"]], "secretsmanager:GetSecretValue"), keep)
    secrets.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy))

    scanned = run_cli("references", "scan", user["UserId"], "--json")
    assert scanned.exit_code == 0, scanned.output
    assert [r["resource_arn"] for r in json.loads(scanned.stdout)["found"]] == [arn]

    dry = run_cli("references", "clean", user["UserId"], "--dry-run", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["outcome"] == "planned"
    assert json.loads(secrets.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == policy

    done = run_cli("references", "clean", user["UserId"], "--yes")
    assert done.exit_code == 0, done.output
    stored = json.loads(secrets.get_resource_policy(SecretId=arn)["ResourcePolicy"])
    assert stored["Statement"] == [keep]


def test_a_key_that_would_lose_every_administrator_is_left_and_the_others_are_cleaned(
    sandbox, iam, user_name
):
    created = iam.create_user(UserName=user_name)["User"]
    kms = sandbox.client("kms", region_name="us-east-1")
    key_doc = doc(allow("Admin", [created["Arn"]], "kms:*"))
    key = kms.create_key(Policy=json.dumps(key_doc))["KeyMetadata"]["Arn"]
    secrets = sandbox.client("secretsmanager", region_name="us-east-1")
    secret = secrets.create_secret(Name=f"refs-kms-{uuid.uuid4().hex[:8]}", SecretString="x")["ARN"]
    secrets.put_resource_policy(
        SecretId=secret,
        ResourcePolicy=json.dumps(doc(allow("Read", [created["Arn"]], "secretsmanager:*"))),
    )
    ran = run_cli("run", user_name, "--yes", "--override", KMS_GUARD, "--reason", "retiring")
    assert ran.exit_code == 0, ran.output
    before = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]

    cleaned = run_cli("references", "clean", user_name, "--yes", "--json")

    assert cleaned.exit_code == 1, cleaned.output
    report = json.loads(cleaned.stdout)
    outcomes = {r["resource_arn"]: r["outcome"] for r in report["resources"]}
    assert outcomes == {key: "refused", secret: "cleaned"}
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == before
    assert not secrets.get_resource_policy(SecretId=secret).get("ResourcePolicy")
    refused = [r for r in audit_records(report["run_id"]) if r.resources == (key,)]
    assert [(r.outcome, r.error_code) for r in refused] == [
        ("skipped", "KeyWouldLoseEveryAdministrator")
    ]


def test_bad_input_a_live_user_and_no_terminal_are_refused_with_no_mutating_call(
    sandbox, iam, user_name
):
    iam.create_user(UserName=user_name)
    mark = sandbox.requests.mark()

    bad = run_cli("references", "clean", "no spaces!", "--yes")
    assert bad.exit_code == 2 and "invalid user 'no spaces!'" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    assert sandbox.requests.since(mark) == []

    live = run_cli("references", "clean", user_name, "--yes")
    assert live.exit_code == 2 and "still exists" in live.output, live.output
    unknown = run_cli("references", "clean", f"{user_name}-never", "--yes")
    assert unknown.exit_code == 2 and "unique id" in unknown.output, unknown.output
    prompt = run_cli("references", "clean", user_name)
    assert prompt.exit_code == 2 and "--yes" in prompt.output
    assert mutations(sandbox.requests.since(mark)) == []
