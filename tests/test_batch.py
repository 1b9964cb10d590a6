"""Batch offboarding against the sandbox: selection, protected principals, the blast-radius cap,
one IAM call rate, failures that stay with their user, several accounts, ``offboard batch``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from cli import batch_cli
from config.logging import configure_logging
from flows.batch_models import BatchSelection, BatchTarget, BatchTooLargeError
from flows.offboard_batch import offboard_batch, run_batch
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.accounts import target_accounts
from tasks.aws import get_client_factory
from tasks.procedure import DELETION_PROCEDURE
from tasks.rate_limit import TokenBucket
from tests.helpers import as_procedure, audit_records, engine_settings, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

SUCCESS = ("done", "already_absent")
STEPS = [step.name for step in DELETION_PROCEDURE]
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
DEFAULT_ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def unlimited_rate() -> Iterator[None]:
    """The rate limit has its own test; elsewhere it would only slow the suite down."""
    with engine_settings(iam_calls_per_second="0"):
        yield


def error_response(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call hook returns to answer a call with an AWS error."""
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return AWSResponse("http://injected", status, {}, None), parsed


@contextmanager
def before_call(operation: str, hook: Any) -> Iterator[None]:
    """Hook the engine's IAM client, which a batch's users share, and any made from now on."""
    factory = get_client_factory()
    name = f"before-call.iam.{operation}"
    # The session first: a client made now copies its hooks (the unique id keeps one copy).
    emitters = [factory.session.events, factory.client("iam").meta.events]
    for events in emitters:
        events.register(name, hook, unique_id=f"test-{operation}")
    try:
        yield
    finally:
        for events in emitters:
            events.unregister(name, unique_id=f"test-{operation}")


def user_of(params: dict[str, Any]) -> str | None:
    """The UserName a before-call hook's (serialized) request is about."""
    body = params.get("body")
    return body.get("UserName") if isinstance(body, dict) else None


def light_user(iam: Any, name: str, **tags: str) -> None:
    """A user with one of each attachment kind."""
    create_loaded_user(
        iam,
        name,
        groups=1,
        inline=1,
        managed=1,
        access_keys=1,
        service_credentials=1,
        tags=tags or None,
    )


def listed(*names: str, account: str | None = None) -> BatchSelection:
    return BatchSelection(users=tuple(BatchTarget(user_name=n, account_id=account) for n in names))


def exists(iam: Any, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def successes(records: list[Any], user_name: str) -> list[str]:
    return [r.step for r in records if r.target.user_name == user_name and r.outcome in SUCCESS]


def test_listed_users_are_deleted_protected_and_unknown_ones_left_out_and_audited(iam, user_name):
    names = [f"{user_name}-{i}" for i in range(4)]
    for name in names:
        light_user(iam, name)
    guarded = f"{user_name}-guarded"
    iam.create_user(UserName=guarded, Tags=[{"Key": "offboard:protected", "Value": "true"}])
    iam.create_access_key(UserName=guarded)
    ghost = f"{user_name}-ghost"

    report = run_batch(listed(*names, guarded, ghost), reason="left", ticket="HR-7")

    assert [u.report.outcome for u in report.users] == ["deleted"] * 4
    assert not any(exists(iam, name) for name in names)
    assert iam.list_access_keys(UserName=guarded)["AccessKeyMetadata"]
    assert report.counts == {"deleted": 4, "protected": 1, "not_found": 1}
    assert report.totals == {"done": 4, "failed": 0, "held": 0, "refused": 0, "skipped": 2}
    assert {(s.user_name, s.reason) for s in report.skipped} == {
        (guarded, "protected"),
        (ghost, "not_found"),
    }
    records = audit_records(report.run_id)
    for name in names:
        assert as_procedure(successes(records, name)) == ["review", "snapshot", *STEPS]
    refusals = {
        (r.target.user_name, r.step, r.error_code) for r in records if r.outcome == "skipped"
    }
    assert (guarded, "protect", "Protected") in refusals
    assert (ghost, "resolve", "NoSuchEntity") in refusals
    assert {r.target.account for r in records} == {DEFAULT_ACCOUNT}
    assert {r.reason for r in records} == {"left"}


def test_over_the_cap_is_refused_before_any_mutating_call_unless_allowed(sandbox, iam, user_name):
    names = [f"{user_name}-{i}" for i in range(3)]
    for name in names:
        iam.create_user(UserName=name)
    guarded = f"{user_name}-guarded"
    iam.create_user(UserName=guarded, Tags=[{"Key": "offboard:protected", "Value": "true"}])
    selection = listed(*names, guarded)
    with engine_settings(max_users_per_batch="2"):
        mark = sandbox.requests.mark()
        with pytest.raises(BatchTooLargeError, match="--allow-large-batch 3"):
            run_batch(selection)
        with pytest.raises(BatchTooLargeError):
            run_batch(selection, allow_large_batch=2)
        assert iam_mutations(sandbox.requests.since(mark)) == []
        planned = run_batch(selection, dry_run=True)
        assert planned.counts == {"planned": 3, "protected": 1}
        assert iam_mutations(sandbox.requests.since(mark)) == []
        # The protected user is left out, so three users are the batch.
        report = run_batch(selection, allow_large_batch=3)
    assert report.counts == {"deleted": 3, "protected": 1}
    assert exists(iam, guarded)


def test_one_users_failure_stays_with_that_user(iam, user_name):
    names = [f"{user_name}-{i}" for i in range(3)]
    for name in names:
        light_user(iam, name)
    victim = names[1]

    def deny_the_victim(params: dict[str, Any], **_: Any) -> Any:
        if user_of(params) == victim:
            return error_response("AccessDenied", 403)
        return None

    with before_call("DeleteSigningCertificate", deny_the_victim):
        state = offboard_batch(selection=listed(*names), return_state=True)
    assert state.is_failed()
    report = state.result(raise_on_failure=False)
    outcomes = {u.report.user_name: (u.report.outcome, u.category) for u in report.users}
    assert outcomes == {
        names[0]: ("deleted", "done"),
        victim: ("deactivated_pending_deletion", "failed"),
        names[2]: ("deleted", "done"),
    }
    failed = next(u.report for u in report.users if u.report.user_name == victim)
    assert failed.failure is not None and failed.failure.step == "signing_certificates"
    assert "offboard-deactivated" in iam.list_user_policies(UserName=victim)["PolicyNames"]


def test_a_users_run_that_raises_is_rerun_whole_for_transient_errors(iam, user_name):
    names = [f"{user_name}-{i}" for i in range(2)]
    for name in names:
        light_user(iam, name)
    victim = names[0]
    calls: list[str] = []

    def throttle_the_victim(params: dict[str, Any], **_: Any) -> Any:
        if user_of(params) == victim:
            calls.append(victim)
            # The inventory task's five attempts all fail; the user's second run succeeds.
            if len(calls) <= 5:
                return error_response("Throttling", 400)
        return None

    with before_call("ListAccessKeys", throttle_the_victim):
        report = run_batch(listed(*names))
    assert [u.report.outcome for u in report.users] == ["deleted", "deleted"]
    assert len(calls) == 6
    assert as_procedure(successes(audit_records(report.run_id), victim)) == [
        "review",
        "snapshot",
        *STEPS,
    ]


def test_a_users_run_that_fails_for_good_is_audited_and_deactivated(iam, user_name):
    victim = f"{user_name}-0"
    light_user(iam, victim)

    def deny(params: dict[str, Any], **_: Any) -> Any:
        return error_response("AccessDenied", 403) if user_of(params) == victim else None

    with before_call("ListSSHPublicKeys", deny):
        report = run_batch(listed(victim))
    item = report.users[0]
    assert item.report.outcome == "deactivated_pending_deletion" and item.category == "failed"
    assert item.report.failure is not None
    assert (item.report.failure.step, item.report.failure.action) == (
        "run",
        "iam:ListSSHPublicKeys",
    )
    records = audit_records(report.run_id)
    assert ("run", "iam:ListSSHPublicKeys", "failed") in [
        (r.step, r.action, r.outcome) for r in records
    ]
    assert "offboard-deactivated" in iam.list_user_policies(UserName=victim)["PolicyNames"]


def test_token_bucket_spaces_calls_at_the_rate_across_threads():
    bucket = TokenBucket(rate=200)
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One token is there at the start; the other 199 come at 200 a second.
    assert time.monotonic() - started >= 199 / 200 - 0.01
    assert bucket.stats().calls == 200


def test_every_iam_call_of_a_batch_shares_one_rate_and_single_runs_are_not_limited(
    sandbox, iam, user_name
):
    names = [f"{user_name}-{i}" for i in range(3)]
    for name in names:
        light_user(iam, name)
    single = f"{user_name}-single"
    light_user(iam, single)
    rate = 40
    with engine_settings(iam_calls_per_second=str(rate)):
        mark = sandbox.requests.mark()
        report = run_batch(listed(*names))
        calls = [c for c in sandbox.requests.since(mark) if c.service == "iam"]
    with engine_settings(iam_calls_per_second="2"):
        started = time.monotonic()
        assert run_offboarding(single).outcome == "deleted"
        single_seconds = time.monotonic() - started
    assert report.counts == {"deleted": 3}
    assert len(calls) > 60
    stamps = [c.at for c in calls]
    span = (max(stamps) - min(stamps)).total_seconds()
    assert span >= (len(calls) - 1) / rate * 0.95
    # In any one second, about the rate: the bucket holds one token, and arrival at the sandbox
    # jitters a little on a loaded machine.
    for index, first in enumerate(stamps):
        within = [s for s in stamps[index:] if s - first < timedelta(seconds=1)]
        assert len(within) <= rate * 1.25 + 1
    # Its 30-odd calls would take 15 s at 2 a second.
    assert single_seconds < 8


def test_users_selected_by_tag_or_by_group(iam, user_name):
    tagged = [f"{user_name}-t{i}" for i in range(2)]
    for name in tagged:
        light_user(iam, name, team=user_name)
    other = f"{user_name}-other"
    light_user(iam, other, team="someone-else")
    members = [f"{user_name}-g{i}" for i in range(2)]
    group = f"{user_name}-grp"
    iam.create_group(GroupName=group)
    for name in members:
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName=group, UserName=name)

    by_tag = run_batch(BatchSelection(tag=f"team={user_name}"))
    by_group = run_batch(BatchSelection(group=group))

    assert sorted(u.report.user_name for u in by_tag.users) == tagged
    assert sorted(u.report.user_name for u in by_group.users) == members
    assert all(u.report.outcome == "deleted" for u in (*by_tag.users, *by_group.users))
    assert exists(iam, other)
    assert iam.get_group(GroupName=group)["Users"] == []


def account_iam(sandbox: Any, account_id: str) -> Any:
    """An admin client in ``account_id``: moto keys its state by the assumed role's account."""
    sts = sandbox.client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/TestAdmin", RoleSessionName="test-admin"
    )["Credentials"]
    return boto3.client(
        "iam",
        endpoint_url=sandbox.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def accounts_setting(*ids: str) -> str:
    return json.dumps([{"id": ids[0], "role_name": "OffboardRole"}, *({"id": i} for i in ids[1:])])


def test_assumed_role_sessions_see_only_their_own_accounts_users(sandbox, iam, user_name):
    first, second = account_iam(sandbox, ACCOUNTS[0]), account_iam(sandbox, ACCOUNTS[1])
    first.create_user(UserName=user_name)
    assert user_name in [u["UserName"] for u in first.list_users()["Users"]]
    assert first.get_user(UserName=user_name)["User"]["Arn"].split(":")[4] == ACCOUNTS[0]
    assert not exists(second, user_name)
    assert not exists(iam, user_name)


def test_one_employees_users_in_every_account_are_offboarded_and_audited_per_account(
    sandbox, iam, user_name
):
    employee = f"E-{user_name[-8:]}"
    clients = {account: account_iam(sandbox, account) for account in ACCOUNTS}
    same = f"{user_name}-same"
    expected = {
        (ACCOUNTS[0], same),
        (ACCOUNTS[0], f"{user_name}-a"),
        (ACCOUNTS[1], same),
        (ACCOUNTS[1], f"{user_name}-b"),
    }
    for account, name in expected:
        light_user(clients[account], name, employee_id=employee)
    bystander = f"{user_name}-c"
    light_user(clients[ACCOUNTS[2]], bystander, employee_id=f"{employee}-other")

    with engine_settings(accounts=accounts_setting(*ACCOUNTS)):
        report = run_batch(BatchSelection(employee_id=employee), reason="left")

    assert {(u.account_id, u.report.user_name) for u in report.users} == expected
    assert all(u.report.outcome == "deleted" for u in report.users)
    for account, name in expected:
        assert not exists(clients[account], name)
    assert exists(clients[ACCOUNTS[2]], bystander)
    session = f"offboard-{report.run_id}"
    roles = {ACCOUNTS[0]: "OffboardRole", ACCOUNTS[1]: "OrganizationAccountAccessRole"}
    for item in report.users:
        assert item.report.user is not None and item.report.user.account_id == item.account_id
        assert item.report.actor == (
            f"arn:aws:sts::{item.account_id}:assumed-role/{roles[str(item.account_id)]}/{session}"
        )
    records = audit_records(report.run_id)
    for account, name in expected:
        mine = [r for r in records if r.target.user_name == name and r.target.account == account]
        assert as_procedure([r.step for r in mine if r.outcome in SUCCESS]) == [
            "review",
            "snapshot",
            *STEPS,
        ]
        assert {r.actor.split(":")[4] for r in mine if r.actor} == {account}


def test_an_account_whose_role_cannot_be_assumed_fails_alone(sandbox, user_name):
    employee = f"E-{user_name[-8:]}"
    reachable = account_iam(sandbox, ACCOUNTS[0])
    light_user(reachable, f"{user_name}-a", employee_id=employee)
    sts = get_client_factory().client("sts")

    def deny_second_account(params: dict[str, Any], **_: Any) -> Any:
        if ACCOUNTS[1] in str(params.get("body", {}).get("RoleArn")):
            return error_response("AccessDenied", 403)
        return None

    sts.meta.events.register("before-call.sts.AssumeRole", deny_second_account, "test-deny")
    try:
        with engine_settings(accounts=accounts_setting(ACCOUNTS[0], ACCOUNTS[1])):
            state = offboard_batch(
                selection=BatchSelection(employee_id=employee), return_state=True
            )
    finally:
        sts.meta.events.unregister("before-call.sts.AssumeRole", unique_id="test-deny")
    assert state.is_failed()
    report = state.result(raise_on_failure=False)
    assert [(u.account_id, u.report.outcome) for u in report.users] == [(ACCOUNTS[0], "deleted")]
    assert [(f.account_id, f.error_code) for f in report.account_failures] == [
        (ACCOUNTS[1], "AccessDenied")
    ]


def test_a_single_run_in_another_account(sandbox, user_name):
    other = account_iam(sandbox, ACCOUNTS[2])
    light_user(other, user_name)
    report = run_offboarding(user_name, account_id=ACCOUNTS[2])
    assert report.outcome == "deleted" and not exists(other, user_name)
    assert report.actor and report.actor.startswith(f"arn:aws:sts::{ACCOUNTS[2]}:assumed-role/")
    records = audit_records(report.run_id)
    assert {r.target.account for r in records} == {ACCOUNTS[2]}


def test_accounts_are_discovered_through_organizations_with_include_and_exclude(sandbox):
    org = sandbox.client("organizations")
    with suppress(org.exceptions.AlreadyInOrganizationException):
        org.create_organization(FeatureSet="ALL")
    created = [
        org.create_account(AccountName=f"member-{i}", Email=f"member-{i}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(2)
    ]
    with engine_settings(
        discover_accounts="true", account_exclude=json.dumps([created[1]]), account_role_name="Off"
    ):
        found = target_accounts.fn()
    ids = [a.account_id for a in found]
    assert created[0] in ids and created[1] not in ids and DEFAULT_ACCOUNT in ids
    assert {a.role_name for a in found} == {"Off"}
    with engine_settings(discover_accounts="true", account_include=json.dumps([created[0]])):
        assert [a.account_id for a in target_accounts.fn()] == [created[0]]


# The command, on a Typer app of its own: cli.main registers it the same way.
cli_app = typer.Typer()


@cli_app.callback()
def _quiet() -> None:
    configure_logging(level="WARNING")


batch_cli.register(cli_app)
runner = CliRunner()


def users_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "users.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_batch_json_report_and_exit_2_for_an_unknown_user(iam, user_name, tmp_path):
    names = [f"{user_name}-{i}" for i in range(2)]
    for name in names:
        light_user(iam, name)
    path = users_file(tmp_path, "# leavers", names[0], "", f"{names[1]}  # second", "ghost-user")
    result = runner.invoke(cli_app, ["batch", "--users-file", path, "--yes", "--json"])
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["counts"] == {"deleted": 2, "not_found": 1}
    assert [u["report"]["outcome"] for u in data["users"]] == ["deleted", "deleted"]
    assert not any(exists(iam, name) for name in names)


def test_cli_batch_over_the_cap_exits_2_then_runs_with_a_progress_bar_and_summary(
    sandbox, iam, user_name, tmp_path
):
    names = [f"{user_name}-{i}" for i in range(2)]
    for name in names:
        iam.create_user(UserName=name)
    path = users_file(tmp_path, *names)
    with engine_settings(max_users_per_batch="1"):
        mark = sandbox.requests.mark()
        refused = runner.invoke(cli_app, ["batch", "--users-file", path, "--yes"])
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.strip().splitlines() == [
            "offboard: error: 2 users selected, more than max_users_per_batch (1): "
            "rerun with --allow-large-batch 2 to offboard them all"
        ]
        assert iam_mutations(sandbox.requests.since(mark)) == []
        result = runner.invoke(
            cli_app, ["batch", "--users-file", path, "--yes", "--allow-large-batch", "2"]
        )
    assert result.exit_code == 0, result.output
    assert "done 2" in result.stderr and "failed 0" in result.stderr
    assert "Offboarding batch: 2 listed users" in result.stdout
    assert "totals: done 2, failed 0, held 0, refused 0, skipped 0" in result.stdout
    assert not any(exists(iam, name) for name in names)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "choose the users one way"),
        (["--tag", "a=b", "--group", "g"], "choose the users one way"),
        (["--tag", "=b"], "--tag must be KEY=VALUE"),
        (["--group", "g"], "refusing to offboard without --yes"),
    ],
)
def test_cli_batch_usage_errors_exit_2_before_any_aws_call(sandbox, args, message):
    mark = sandbox.requests.mark()
    result = runner.invoke(cli_app, ["batch", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert sandbox.requests.since(mark) == []


def test_cli_batch_bad_users_file_line_names_the_line(sandbox, tmp_path):
    path = users_file(tmp_path, "good-user", "12345:someone", "bad name")
    result = runner.invoke(cli_app, ["batch", "--users-file", path, "--yes"])
    assert result.exit_code == 2
    assert f"{path}:2: invalid AWS account id '12345'" in result.stderr
