"""The offboarding flow end to end: Prefect state machinery, retries and the sandbox over HTTP."""

from __future__ import annotations

import json

import pytest

from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.procedure import DELETION_PROCEDURE
from tests.helpers import before_call, inject_client_error, mutating

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


def assert_gone(iam, user_name: str) -> None:
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)


def test_fully_loaded_user_is_deleted_and_shared_resources_survive(iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    report = run_offboarding(user_name=user_name, reason="left", ticket="HR-1")

    assert report.outcome == "deleted", report.failure
    assert_gone(iam, user_name)
    serials = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert loaded.mfa_serial not in serials
    for group in loaded.group_names:
        assert iam.get_group(GroupName=group)["Users"] == []
    for arn in loaded.managed_policy_arns:
        assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    assert [r.step for r in report.steps] == [s.name for s in DELETION_PROCEDURE]
    assert report.rounds == 1 and report.reason == "left" and report.ticket == "HR-1"
    removed = {r.step: set(r.removed) for r in report.steps}
    assert removed["access_keys"] == set(loaded.access_key_ids)
    assert removed["groups"] == set(loaded.group_names)
    assert report.resolve_api_calls == 1


def test_dry_run_plans_without_any_mutating_call(iam, user_name, sandbox):
    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    report = run_offboarding(user_name=user_name, dry_run=True)
    assert report.outcome == "planned" and report.steps == ()
    assert mutating([c.action for c in sandbox.requests.since(mark)]) == []
    assert len(report.inventory.access_keys) == 2
    iam.get_user(UserName=user_name)


def test_user_half_offboarded_by_hand_is_finished(iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    iam.delete_login_profile(UserName=user_name)
    for key in loaded.access_key_ids:
        iam.delete_access_key(UserName=user_name, AccessKeyId=key)
    iam.delete_signing_certificate(UserName=user_name, CertificateId=loaded.signing_certificate_id)
    iam.delete_ssh_public_key(UserName=user_name, SSHPublicKeyId=loaded.ssh_public_key_id)
    for cred in loaded.service_credential_ids:
        iam.delete_service_specific_credential(UserName=user_name, ServiceSpecificCredentialId=cred)

    report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted"
    assert_gone(iam, user_name)
    by_step = {r.step: r for r in report.steps}
    assert by_step["access_keys"].removed == ()
    assert set(by_step["groups"].removed) == set(loaded.group_names)


def test_pagination_user_in_120_groups_with_60_inline_policies(iam, user_name):
    iam.create_user(UserName=user_name)
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}],
        }
    )
    groups = [f"{user_name[:40]}-g{i:03d}" for i in range(120)]
    for group in groups:
        iam.create_group(GroupName=group)
        iam.add_user_to_group(GroupName=group, UserName=user_name)
    for i in range(60):
        iam.put_user_policy(UserName=user_name, PolicyName=f"inline-{i:02d}", PolicyDocument=doc)

    report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted"
    assert_gone(iam, user_name)
    by_step = {r.step: r for r in report.steps}
    assert len(by_step["groups"].removed) == 120
    assert len(by_step["inline_policies"].removed) == 60


def test_throttling_is_retried_by_the_task_until_it_succeeds(iam, user_name):
    loaded = create_loaded_user(iam, user_name, access_keys=1)
    with inject_client_error("DeleteAccessKey", "Throttling", times=2) as injected:
        report = run_offboarding(user_name=user_name)
    assert injected.faulted == 2 and injected.calls == 3
    assert report.outcome == "deleted"
    by_step = {r.step: r for r in report.steps}
    assert by_step["access_keys"].removed == tuple(loaded.access_key_ids)
    assert_gone(iam, user_name)


def test_access_denied_fails_after_exactly_one_attempt_naming_step_and_action(iam, user_name):
    create_loaded_user(iam, user_name)
    with inject_client_error("DeleteSigningCertificate", "AccessDenied", 99, 403) as injected:
        report = run_offboarding(user_name=user_name)
    assert injected.calls == 1
    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure is not None
    assert report.failure.step == "signing_certificates"
    assert report.failure.error_code == "AccessDenied"
    assert report.failure.action == "iam:DeleteSigningCertificate"
    # The other attachment steps ran beside it and ended; DeleteUser was never sent.
    assert report.completed_steps == tuple(
        s.name for s in DELETION_PROCEDURE[:-1] if s.name != "signing_certificates"
    )
    assert iam.list_signing_certificates(UserName=user_name)["Certificates"]
    iam.get_user(UserName=user_name)


def test_delete_conflict_on_the_first_delete_user_is_retried_then_succeeds(iam, user_name):
    create_loaded_user(iam, user_name)
    with inject_client_error("DeleteUser", "DeleteConflict", times=1, status=409) as injected:
        report = run_offboarding(user_name=user_name)
    assert injected.calls == 2
    assert report.outcome == "deleted" and report.rounds == 1
    assert_gone(iam, user_name)


def test_an_attachment_appearing_mid_run_is_found_by_a_new_inventory(iam, user_name):
    create_loaded_user(iam, user_name)
    created: list[str] = []

    def add_key_once(params, **_):
        if not created:
            created.append(iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"])

    with before_call("DeleteUser", add_key_once):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted"
    assert report.rounds == 2
    second_round_keys = [r for r in report.steps if r.step == "access_keys"][1]
    assert second_round_keys.removed == tuple(created)
    assert_gone(iam, user_name)


def test_persistent_conflict_reports_exactly_what_remains(iam, user_name):
    iam.create_user(UserName=user_name)
    keys: list[str] = []

    def add_key_every_time(params, **_):
        # Something keeps re-attaching a key (at most 2 per user in IAM).
        if not iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]:
            keys.append(iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"])

    with before_call("DeleteUser", add_key_every_time):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "deactivated_pending_deletion"
    assert report.remaining is not None
    still_there = [
        k["AccessKeyId"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    ]
    assert still_there and set(report.remaining.items("access_keys")) == set(still_there)
    assert report.remaining.attachments().keys() == {"access_keys"}
    assert report.failure and report.failure.action == "iam:DeleteUser"
    iam.get_user(UserName=user_name)


def test_unknown_user_is_refused_before_any_mutating_call(sandbox):
    mark = sandbox.requests.mark()
    report = run_offboarding(user_name="nobody-here")
    assert report.outcome == "refused"
    assert report.failure and report.failure.message == "no IAM user named nobody-here"
    assert mutating([c.action for c in sandbox.requests.since(mark)]) == []
