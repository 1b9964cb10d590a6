"""The KMS guard: a user who alone administers a key that does not trust the account root holds
the run with no mutating call; the override with a reason deletes and audits it; a key that also
trusts the root, or has another administrator, does not hold. Against the sandbox over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.guards.kms import NAME, sole_admin_keys
from flows.offboard_user import run_offboarding
from flows.report import Category, FailureKind, Outcome
from tasks.references.found import Reference
from tests.helpers import audit_records, engine_settings, mutating

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(autouse=True)
def two_regions() -> Iterator[None]:
    with engine_settings(reference_regions=json.dumps(list(REGIONS))):
        yield


def statement(sid: str, principals: list[str], actions: str | list[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions,
        "Resource": "*",
    }


def make_key(sandbox, region: str, *statements: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    kms = sandbox.client("kms", region_name=region)
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return str(kms.create_key(Policy=policy)["KeyMetadata"]["Arn"])


def make_user(iam, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    user = iam.create_user(UserName=name)["User"]
    iam.create_access_key(UserName=name)
    return dict(user)


def all_mutations(calls: list[Any]) -> list[str]:
    """Mutating calls of any service (S3's REST calls by their method)."""
    found = [f"{c.service}:{c.action}" for c in calls if c.action and mutating([c.action])]
    found += [f"s3:{c.method} {c.path}" for c in calls if c.service == "s3" and c.method != "GET"]
    return [f for f in found if not f.startswith("sts:")]


def test_the_user_alone_administering_a_key_holds_the_run_with_no_mutating_call(
    sandbox, iam, user_name
):
    user = make_user(iam, user_name)
    key = make_key(sandbox, "eu-west-1", statement("Admin", [user["Arn"]], "kms:*"))
    mark = sandbox.requests.mark()

    report = run_offboarding(user_name=user_name)

    assert report.outcome == Outcome.held_kms_sole_admin
    assert report.category is Category.held and report.exit_code == 3
    failure = report.failure
    assert failure is not None and failure.kind is FailureKind.held and failure.guard == NAME
    assert failure.error_code == "KmsSoleAdministrator" and key in failure.message
    calls = sandbox.requests.since(mark)
    assert all_mutations(calls) == []
    # A single run reads only what its guards need: KMS, besides IAM itself.
    assert {c.service for c in calls} == {"iam", "sts", "kms"}
    # The run asks who it is once; the scan takes the account from that answer.
    assert [c.action for c in calls if c.service == "sts"] == ["GetCallerIdentity"]
    assert iam.get_user(UserName=user_name)["User"]["UserId"] == user["UserId"]
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"][0]["Status"] == "Active"
    records = audit_records(report.run_id)
    assert [(r.action, r.outcome) for r in records if r.step == "guard"] == [("guard.hold", "held")]
    assert key in (records[-1].message or "")
    assert report.references is not None and report.references.services == ("kms",)
    assert {r.resource_arn for r in report.references.found} == {key}


def test_the_override_with_a_reason_deletes_the_user_and_audits_it(sandbox, iam, user_name):
    user = make_user(iam, user_name)
    key = make_key(sandbox, "us-east-1", statement("Admin", [user["Arn"]], "kms:PutKeyPolicy"))

    report = run_offboarding(
        user_name=user_name, override_guards=(NAME,), reason="key is being retired"
    )

    assert report.outcome == "deleted", report.failure
    assert report.guards_overridden == (NAME,)
    override = [r for r in audit_records(report.run_id) if r.action == "guard.override"]
    assert len(override) == 1 and override[0].reason == "key is being retired"
    assert key in (override[0].message or "") and NAME in (override[0].message or "")
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}


@pytest.mark.parametrize(
    "other",
    ["arn:aws:iam::{account}:root", "{account}", "arn:aws:iam::{account}:role/key-admins"],
    ids=["root-arn", "root-account-id", "another-administrator"],
)
def test_a_key_that_trusts_the_root_or_has_another_administrator_does_not_hold(
    sandbox, iam, user_name, other
):
    user = make_user(iam, user_name)
    account = user["Arn"].split(":")[4]
    make_key(
        sandbox,
        "eu-west-1",
        statement("Others", [other.format(account=account)], "kms:*"),
        statement("Admin", [user["Arn"]], "kms:*"),
    )

    report = run_offboarding(user_name=user_name)

    assert report.outcome == "deleted", report.failure
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}


def test_the_cli_exits_3_and_names_the_override(sandbox, iam, user_name):
    user = make_user(iam, user_name)
    make_key(sandbox, "us-east-1", statement("Admin", [user["Arn"]], ["kms:Put*", "kms:Get*"]))
    runner = CliRunner()

    held = runner.invoke(app, ["run", user_name, "--yes"])
    assert held.exit_code == 3, held.output
    assert "KMS" in held.output and f"--override {NAME}" in held.output
    assert "not changed" in held.output

    done = runner.invoke(
        app, ["run", user_name, "--yes", "--override", NAME, "--reason", "key retired"]
    )
    assert done.exit_code == 0, done.output
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}


def _ref(principal: str, actions: list[str], effect: str = "Allow", key: str = "k1") -> Reference:
    return Reference(
        service="kms",
        region="us-east-1",
        resource_arn=key,
        statement="0",
        effect=effect,
        actions=actions,
        principal=principal,
    )


def test_sole_administration_reads_wildcards_unique_ids_and_ignores_deny_and_other_services():
    user = ("arn:aws:iam::111122223333:user/alice", "AIDAEXAMPLEUNIQUEID01")
    account = "111122223333"
    assert sole_admin_keys([_ref(user[0], ["*"])], account, user) == ["k1"]
    assert sole_admin_keys([_ref(user[1], ["KMS:PUTKEYPOLICY"])], account, user) == ["k1"]
    # Only decrypts: not an administrator, nothing to orphan.
    assert sole_admin_keys([_ref(user[0], ["kms:Decrypt"])], account, user) == []
    # A Deny grants nothing; another principal's Allow makes the user not the only one.
    denied = [
        _ref(user[0], ["kms:*"]),
        _ref("arn:aws:iam::111122223333:user/bob", ["kms:*"], "Deny"),
    ]
    assert sole_admin_keys(denied, account, user) == ["k1"]
    shared = [_ref(user[0], ["kms:*"]), _ref("arn:aws:iam::111122223333:user/bob", ["kms:*"])]
    assert sole_admin_keys(shared, account, user) == []
    # A root allowed to administer the key can grant it back; one allowed to decrypt cannot.
    rooted = [_ref(user[0], ["kms:*"]), _ref(f"arn:aws:iam::{account}:root", ["kms:*"])]
    assert sole_admin_keys(rooted, account, user) == []
    decrypting = [_ref(user[0], ["kms:*"]), _ref(f"arn:aws:iam::{account}:root", ["kms:Decrypt"])]
    assert sole_admin_keys(decrypting, account, user) == ["k1"]
    s3 = _ref(user[0], ["*"]).model_copy(update={"service": "s3"})
    assert sole_admin_keys([s3], account, user) == []


def test_a_batch_of_20_users_scans_each_region_and_service_once(sandbox, iam, user_name):
    """One KMS scan for the whole batch: ListKeys once per region, each key's policy once; the
    user alone administering a key is held, the other 19 are deleted."""
    from flows.batch_models import BatchSelection, BatchTarget
    from flows.offboard_batch import run_batch

    names = [f"{user_name[:40]}-{i}" for i in range(20)]
    users = [make_user(iam, name) for name in names]
    key = make_key(sandbox, "eu-west-1", statement("Admin", [users[0]["Arn"]], "kms:*"))
    keys = {
        region: len(sandbox.client("kms", region_name=region).list_keys()["Keys"])
        for region in REGIONS
    }
    mark = sandbox.requests.mark()

    with engine_settings(iam_calls_per_second="0"):
        report = run_batch(
            BatchSelection(users=tuple(BatchTarget(user_name=n) for n in names)), reason="left"
        )

    asked = [c for c in sandbox.requests.since(mark) if c.action == "GetCallerIdentity"]
    # The plan asks the engine's identity once; the scan and the 20 runs reuse it.
    assert len(asked) == 1
    calls = [c for c in sandbox.requests.since(mark) if c.service == "kms"]
    listed = sorted(c.region or "-" for c in calls if c.action == "ListKeys")
    assert listed == sorted(REGIONS)
    for region in REGIONS:
        read = [c for c in calls if c.action == "GetKeyPolicy" and c.region == region]
        assert len(read) == keys[region], region
    assert {c.action for c in calls} == {"ListKeys", "GetKeyPolicy"}
    # Reported apart from the users' own calls.
    assert report.reference_scan_calls["kms:ListKeys"] == len(REGIONS)
    assert report.reference_scan_calls["kms:GetKeyPolicy"] == sum(keys.values())
    outcomes = {u.report.user_name: u.report.outcome for u in report.users}
    assert outcomes.pop(names[0]) == Outcome.held_kms_sole_admin
    assert set(outcomes.values()) == {Outcome.deleted}
    held = next(u.report for u in report.users if u.report.user_name == names[0])
    assert held.failure is not None and key in held.failure.message
    assert iam.get_user(UserName=names[0])["User"]["UserName"] == names[0]


def test_a_kms_scan_that_fails_holds_the_run_naming_the_kms_action(sandbox, iam, user_name):
    from sandbox.faults import clear_faults, inject_fault

    make_user(iam, user_name)
    # KMS keeps failing, so the scan fails after its retries: the guard cannot tell, and holds.
    inject_fault("ListKeys", "KMSInternalException", count=1000, status=500, service="kms")
    try:
        report = run_offboarding(user_name=user_name)
    finally:
        clear_faults()

    assert report.outcome == Outcome.held_kms_sole_admin
    assert report.failure is not None and "kms:ListKeys" in report.failure.message
    assert "iam:ListKeys" not in report.failure.message
    assert iam.get_user(UserName=user_name)["User"]["UserName"] == user_name
