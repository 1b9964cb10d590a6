"""Safety rails before destruction: review and activity guard, snapshot, protected principals,
and the audit trail of every run — against the sandbox, flows under Prefect's harness."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from audit.trail import default_trail, verify
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.errors import InvalidInputError
from tasks.snapshot import load_snapshot
from tests.helpers import as_procedure, audit_records, engine_settings, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


def use_key_for_s3(sandbox, iam, user_name: str) -> str:
    """Make the user active: an S3 call signed with one of its own access keys."""
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    s3.list_buckets()
    return key["AccessKeyId"]


def test_review_sees_s3_used_with_the_users_own_key(sandbox, iam, user_name):
    from tasks.inventory import take_inventory
    from tasks.review import review_access
    from tasks.user import resolve_user

    create_loaded_user(iam, user_name, access_keys=1)
    key_id = use_key_for_s3(sandbox, iam, user_name)
    review = review_access.fn(resolve_user(user_name), take_inventory.fn(user_name))

    assert review.complete
    assert "s3" in [s.namespace for s in review.used_services]
    key = next(k for k in review.access_keys if k.access_key_id == key_id)
    assert key.service == "s3" and key.last_used is not None
    assert review.active_within(7)
    assert review.last_activity and review.last_activity > datetime.now(UTC) - timedelta(minutes=5)


def test_guard_holds_a_recently_active_user_deactivated_and_deletes_nothing(
    sandbox, iam, user_name
):
    create_loaded_user(iam, user_name, access_keys=1)
    key_id = use_key_for_s3(sandbox, iam, user_name)
    mark = sandbox.requests.mark()

    report = run_offboarding(user_name=user_name)

    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure and report.failure.step == "guard"
    # Deactivate-and-hold: only the deny policy and the key switch-off, nothing deleted.
    assert set(iam_mutations(sandbox.requests.since(mark))) == {
        "PutUserPolicy",
        "TagUser",
        "UpdateAccessKey",
    }
    assert "offboard-deactivated" in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[key_id] == "Inactive"
    records = audit_records(report.run_id)
    assert [(r.action, r.outcome) for r in records if r.step == "guard"] == [("guard.hold", "held")]
    assert [r.step for r in records if r.outcome == "done"] == [
        "review",
        "deny_policy",
        "disable_keys",
    ]


def test_dry_run_reports_the_hold_without_any_mutating_call(sandbox, iam, user_name):
    create_loaded_user(iam, user_name, access_keys=1)
    use_key_for_s3(sandbox, iam, user_name)
    mark = sandbox.requests.mark()
    report = run_offboarding(user_name=user_name, dry_run=True)
    assert report.outcome == "held_recently_active"
    assert iam_mutations(sandbox.requests.since(mark)) == []


def test_guard_override_with_a_reason_deletes_and_is_audited(sandbox, iam, user_name):
    create_loaded_user(iam, user_name, access_keys=1)
    use_key_for_s3(sandbox, iam, user_name)
    with pytest.raises(InvalidInputError):
        run_offboarding(user_name=user_name, override_activity_guard=True)

    report = run_offboarding(
        user_name=user_name, override_activity_guard=True, reason="contractor ended today"
    )

    assert report.outcome == "deleted" and report.activity_guard_overridden
    records = audit_records(report.run_id)
    override = [r for r in records if r.action == "guard.override"]
    assert len(override) == 1 and override[0].reason == "contractor ended today"
    assert [r.step for r in records if r.outcome == "done"][-1] == "user"


def test_incomplete_review_holds_the_user(sandbox, iam, user_name):
    from sandbox.last_accessed import fail_next_last_accessed_jobs

    create_loaded_user(iam, user_name)
    fail_next_last_accessed_jobs(1)
    report = run_offboarding(user_name=user_name)
    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure and report.failure.error_code == "ReviewIncomplete"
    assert report.review is not None and not report.review.complete
    iam.get_user(UserName=user_name)


def test_snapshot_is_written_read_back_and_complete(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name, path="/staff/")
    report = run_offboarding(user_name=user_name, ticket="HR-7")
    assert report.outcome == "deleted" and report.snapshot is not None

    snapshot = load_snapshot(report.snapshot.location)
    assert snapshot.user.arn == loaded.user_arn and snapshot.user.path == "/staff/"
    assert snapshot.user.permissions_boundary_arn == loaded.boundary_arn
    assert {t.key for t in snapshot.user.tags} >= {k for k, _ in loaded.tags}
    inventory = snapshot.inventory
    assert all(p.document for p in inventory.inline_policies)
    assert all(k.body and k.body.startswith("ssh-rsa") for k in inventory.ssh_public_keys)
    assert inventory.signing_certificates[0].body.startswith("-----BEGIN CERTIFICATE")
    assert {c.service_name for c in inventory.service_specific_credentials}
    assert snapshot.review is not None
    records = audit_records(report.run_id)
    snap = [r for r in records if r.step == "snapshot"]
    assert snap[0].resources == (report.snapshot.location,)
    # The snapshot record precedes the first destructive step's record.
    steps = [r.step for r in records]
    assert steps.index("snapshot") < steps.index("login_profile")


def test_snapshot_in_s3_on_the_sandbox(sandbox, iam, user_name):
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket="offboard-snapshots")
    create_loaded_user(iam, user_name)
    with engine_settings(snapshot_store="s3://offboard-snapshots/prod"):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted"
    assert report.snapshot and report.snapshot.location.startswith("s3://offboard-snapshots/prod/")
    assert load_snapshot(report.snapshot.location).user.user_name == user_name


@pytest.mark.parametrize("store", ["/proc/offboard-cannot-write", "s3://no-such-bucket/x"])
def test_snapshot_that_cannot_be_written_stops_the_run_with_no_mutating_call(
    sandbox, iam, user_name, store
):
    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    with engine_settings(snapshot_store=store):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "failed"
    assert report.failure and report.failure.step == "snapshot"
    assert report.deactivation == ()
    assert iam_mutations(sandbox.requests.since(mark)) == []
    iam.get_user(UserName=user_name)
    failed = [r for r in audit_records(report.run_id) if r.outcome == "failed"]
    assert [r.step for r in failed] == ["snapshot"]


def test_restore_round_trip_recreates_every_restorable_field(sandbox, iam, user_name):
    from flows.restore_user import restore_user
    from tasks.inventory import take_inventory
    from tasks.snapshot import complete_inventory
    from tasks.user import resolve_user

    create_loaded_user(iam, user_name, path="/engineering/")
    iam.update_ssh_public_key(
        UserName=user_name,
        SSHPublicKeyId=iam.list_ssh_public_keys(UserName=user_name)["SSHPublicKeys"][0][
            "SSHPublicKeyId"
        ],
        Status="Inactive",
    )
    report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted" and report.snapshot
    before = load_snapshot(report.snapshot.location)

    first = restore_user(snapshot_location=report.snapshot.location)
    again = restore_user(snapshot_location=report.snapshot.location)

    user = resolve_user(user_name)
    after = complete_inventory(user_name, take_inventory.fn(user_name))
    assert (user.path, user.tags, user.permissions_boundary_arn) == (
        before.user.path,
        before.user.tags,
        before.user.permissions_boundary_arn,
    )

    def restorable(inventory):
        return {
            "groups": sorted(g.group_name for g in inventory.groups),
            "inline": sorted(
                (p.policy_name, json.dumps(p.document)) for p in inventory.inline_policies
            ),
            "managed": sorted(p.policy_arn for p in inventory.attached_policies),
            "ssh": sorted((k.body, k.status) for k in inventory.ssh_public_keys),
            "certs": sorted((c.body.strip(), c.status) for c in inventory.signing_certificates),
        }

    assert restorable(after) == restorable(before.inventory)
    assert all(step.restored for step in first.steps)
    assert not any(step.restored for step in again.steps)  # idempotent
    joined = "\n".join(first.not_restorable)
    assert "access key" in joined and "console password" in joined
    assert "MFA device" in joined and "service-specific credential" in joined


@pytest.mark.parametrize("rule", ["name", "path", "tag", "self"])
def test_protected_principals_are_refused_with_no_mutating_call(sandbox, iam, user_name, rule):
    name = "moto" if rule == "self" else user_name  # the sandbox's caller is user/moto
    path = "/breakglass/" if rule == "path" else "/"
    tags = {"offboard:protected": "true"} if rule == "tag" else None
    if rule == "self":
        try:
            iam.get_user(UserName=name)
        except iam.exceptions.NoSuchEntityException:
            iam.create_user(UserName=name)
    else:
        create_loaded_user(iam, name, path=path, tags=tags)
    mark = sandbox.requests.mark()
    with engine_settings(
        protected_user_names=json.dumps([user_name] if rule == "name" else []),
        protected_path_prefixes='["/breakglass/"]',
    ):
        report = run_offboarding(user_name=name)
    assert report.outcome == "refused"
    expected = {
        "name": "protected_user_names",
        "path": "/breakglass/",
        "tag": "offboard:protected",
        "self": "own identity",
    }[rule]
    assert report.failure and expected in report.failure.message
    assert iam_mutations(sandbox.requests.since(mark)) == []
    iam.get_user(UserName=name)


def test_every_run_is_audited_step_by_step_with_actor_and_target(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name, access_keys=2)
    report = run_offboarding(user_name=user_name, reason="left", ticket="HR-1")
    # Write-ahead intents are checked in tests/test_write_ahead.py; here the outcomes.
    records = [r for r in audit_records(report.run_id) if r.outcome != "intent"]
    assert as_procedure([r.step for r in records]) == [
        "review",
        "snapshot",
        "login_profile",
        "access_keys",
        "signing_certificates",
        "ssh_public_keys",
        "service_specific_credentials",
        "mfa_devices",
        "inline_policies",
        "attached_policies",
        "groups",
        "user",
    ]
    keys = next(r for r in records if r.step == "access_keys")
    assert keys.action == "iam:DeleteAccessKey" and set(keys.resources) == set(
        loaded.access_key_ids
    )
    assert all(r.actor == report.actor and r.actor for r in records)
    assert all(r.target.user_id == report.user.user_id for r in records)
    assert all(r.reason == "left" and r.ticket == "HR-1" for r in records)
    assert verify(default_trail().path).ok


def test_failed_step_is_audited_as_failed(sandbox, iam, user_name):
    from tests.helpers import inject_client_error

    create_loaded_user(iam, user_name)
    with inject_client_error("DetachUserPolicy", "AccessDenied", 99, 403):
        report = run_offboarding(user_name=user_name)
    failed = [r for r in audit_records(report.run_id) if r.outcome == "failed"]
    assert [(r.step, r.error_code, r.action) for r in failed] == [
        ("attached_policies", "AccessDenied", "iam:DetachUserPolicy")
    ]


def test_eight_concurrent_flows_share_one_audit_file_and_the_chain_holds(sandbox, iam, user_name):
    names = [f"{user_name[:50]}-{i}" for i in range(8)]
    for name in names:
        create_loaded_user(
            iam, name, groups=1, inline=1, managed=1, access_keys=1, service_credentials=1
        )
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(lambda n: run_offboarding(user_name=n), names))
    assert [r.outcome for r in reports] == ["deleted"] * 8
    chain = verify(default_trail().path)
    assert chain.ok, chain.problem
    for report in reports:
        assert len([r for r in audit_records(report.run_id) if r.outcome != "intent"]) == 12


def test_the_run_report_is_published_as_a_markdown_artifact(sandbox, iam, user_name):
    from prefect.artifacts import Artifact

    from flows.report_artifact import artifact_key

    create_loaded_user(iam, user_name)
    report = run_offboarding(user_name=user_name)
    artifact = Artifact.get(artifact_key(user_name))
    assert artifact is not None
    assert f"Offboarding {user_name}: deleted" in str(artifact.data)
    assert report.snapshot and report.snapshot.location in str(artifact.data)
