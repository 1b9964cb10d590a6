"""Restore checks the whole snapshot before its first write and never merges into someone else.

Each test restores an edited copy of one real snapshot (taken by an offboarding run against the
sandbox) through the CLI, and checks IAM, the sandbox's request log and the audit trail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from sandbox.server import Sandbox
from tasks.models import UserSummary
from tasks.snapshot import load_snapshot, snapshot_location
from tests.helpers import audit_records, engine_settings, iam_mutations, inject_client_error

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()
ACCOUNT = "123456789012"  # the sandbox's account


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def unique(prefix: str) -> str:
    return f"rv-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def snapshot_data(sandbox: Sandbox, prefect_harness: None) -> dict[str, Any]:
    """A real snapshot of a loaded user (groups, inline and managed policies, boundary, SSH key,
    certificate), taken by an offboarding run; its user is gone, its policies and groups stay."""
    name = unique("source")
    create_loaded_user(sandbox.client("iam"), name)
    report = run_offboarding(user_name=name)
    assert report.outcome == "deleted" and report.snapshot
    data: dict[str, Any] = json.loads(Path(report.snapshot.location).read_text())
    return data


@pytest.fixture
def edited(snapshot_data: dict[str, Any], tmp_path: Path) -> Callable[..., str]:
    """Write a copy of the snapshot, changed by `change(data)`, and return its path."""

    def write(change: Callable[[dict[str, Any]], None] | None = None) -> str:
        data = json.loads(json.dumps(snapshot_data))
        if change is not None:
            change(data)
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(data))
        return str(path)

    return write


def refused_without_a_write(sandbox: Sandbox, *args: str) -> str:
    """Run `offboard restore ARGS`; assert exit 2, one line on stderr, no mutating IAM call."""
    mark = sandbox.requests.mark()
    result = invoke("restore", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("offboard: error: "), result.stderr
    assert iam_mutations(sandbox.requests.since(mark)) == []
    return lines[0]


def user_exists(iam: Any, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


# Item 4: the whole snapshot is checked before the first write.


def test_snapshot_of_another_account_is_refused_unless_into_account_names_this_one(
    sandbox, iam, edited
):
    """An ARN of account 999999999999 is not restored into the sandbox's account; with
    --into-account naming the caller's account it is; naming any other account is refused."""

    def other_account(data: dict[str, Any]) -> None:
        data["user"]["arn"] = data["user"]["arn"].replace(ACCOUNT, "999999999999")

    path = edited(other_account)
    name = unique("acct")
    line = refused_without_a_write(sandbox, path, "--new-name", name)
    assert "999999999999" in line and ACCOUNT in line and "--into-account" in line
    line = refused_without_a_write(
        sandbox, path, "--new-name", name, "--into-account", "111122223333"
    )
    assert "111122223333" in line
    assert not user_exists(iam, name)

    result = invoke("restore", path, "--new-name", name, "--into-account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert user_exists(iam, name)


def test_unknown_schema_version_is_refused_before_any_call(sandbox, edited):
    path = edited(lambda data: data.update(schema_version=99))
    mark = sandbox.requests.mark()
    line = refused_without_a_write(sandbox, path, "--new-name", unique("schema"))
    assert "schema_version 99" in line
    assert sandbox.requests.since(mark) == []


@pytest.mark.parametrize("missing", ["managed", "group", "boundary"])
def test_a_missing_policy_or_group_is_refused_with_nothing_created(sandbox, iam, edited, missing):
    """A snapshot naming a managed policy, group or boundary that does not exist: one line
    naming it, exit 2, and not even the user is created."""
    ghost_policy = f"arn:aws:iam::{ACCOUNT}:policy/{unique('ghost')}"
    ghost_group = unique("ghost-group")

    def change(data: dict[str, Any]) -> None:
        if missing == "managed":
            data["inventory"]["attached_policies"].append(
                {"policy_name": ghost_policy.rsplit("/", 1)[1], "policy_arn": ghost_policy}
            )
        elif missing == "group":
            data["inventory"]["groups"].append({"group_name": ghost_group})
        else:
            data["user"]["permissions_boundary_arn"] = ghost_policy

    name = unique("ref")
    line = refused_without_a_write(sandbox, edited(change), "--new-name", name)
    assert (ghost_group if missing == "group" else ghost_policy) in line
    assert "does not exist" in line
    assert not user_exists(iam, name)


BAD_NAMES: dict[str, Callable[[dict[str, Any]], None]] = {
    "inline policy ../../evil": lambda d: d["inventory"]["inline_policies"][0].update(
        policy_name="../../evil"
    ),
    "path /../../x/": lambda d: d["user"].update(path="/../../x/"),
    "path without slashes": lambda d: d["user"].update(path="x"),
    "group a/b": lambda d: d["inventory"]["groups"][0].update(group_name="a/b"),
    "managed policy ARN": lambda d: d["inventory"]["attached_policies"][0].update(
        policy_arn="arn:aws:iam::123456789012:policy/../../x"
    ),
    "tag key aws:": lambda d: d["user"]["tags"].append({"key": "aws:owner", "value": "x"}),
    "SSH key body": lambda d: d["inventory"]["ssh_public_keys"][0].update(body="rm -rf /"),
    "certificate body": lambda d: d["inventory"]["signing_certificates"][0].update(body="x"),
}


@pytest.mark.parametrize("problem", sorted(BAD_NAMES))
def test_names_and_paths_iam_would_not_accept_are_refused_before_any_call(
    sandbox, iam, edited, problem
):
    name = unique("names")
    mark = sandbox.requests.mark()
    line = refused_without_a_write(sandbox, edited(BAD_NAMES[problem]), "--new-name", name)
    assert "invalid" in line
    assert sandbox.requests.since(mark) == []  # not even a read: the file alone is wrong
    assert not user_exists(iam, name)


def test_access_denied_mid_way_names_what_was_created_and_a_second_restore_finishes(
    sandbox, iam, edited, snapshot_data
):
    path = edited()
    name = unique("midway")
    with inject_client_error("AttachUserPolicy", "AccessDenied", 99, 403):
        result = invoke("restore", path, "--new-name", name, "--ticket", "CHG-7")
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "AccessDenied" in line and "iam:AttachUserPolicy" in line
    assert f"created user {name}" in line and "groups" in line and "run the same" in line
    assert user_exists(iam, name)
    assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == []

    again = invoke("restore", path, "--new-name", name, "--json", "--ticket", "CHG-7")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["outcome"] == "restored" and report["resumed_run_id"]
    attached = {
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    }
    assert attached == {p["policy_arn"] for p in snapshot_data["inventory"]["attached_policies"]}
    groups = {g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]}
    assert groups == {g["group_name"] for g in snapshot_data["inventory"]["groups"]}

    first = [r for r in audit_records(report["resumed_run_id"]) if r.target.user_name == name]
    assert ("user", "done") in {(r.step, r.outcome) for r in first}
    assert ("attached_policies", "failed") in {(r.step, r.outcome) for r in first}
    second = audit_records(report["run_id"])
    assert [(r.step, r.outcome) for r in second if r.step == "attached_policies"] == [
        ("attached_policies", "done")
    ]
    assert all(r.ticket == "CHG-7" for r in first + second)


# Item 5: snapshot file names are safe for every name IAM accepts.


@pytest.mark.parametrize("name", [".", "..", "...", ".hidden", "a@b", "a=b", "a,b", "a+b", "a.b"])
def test_snapshot_file_stays_in_its_own_user_folder(name):
    from datetime import UTC, datetime

    user = UserSummary(
        user_name=name,
        user_id="AIDAEXAMPLE",
        arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        path="/",
        create_date=datetime.now(UTC),
    )
    store = Path(get_settings().snapshot_store).resolve()
    location = Path(snapshot_location(user, datetime.now(UTC), "run-1"))
    resolved = location.resolve()
    assert resolved.parent.parent == store / ACCOUNT
    assert resolved.name == location.name and resolved.parent.name not in {".", ".."}
    if not name.startswith("."):
        assert resolved.parent.name == name  # existing folders keep their names


def test_users_named_dot_and_dot_dot_are_snapshotted_inside_their_own_folders(
    sandbox, iam, tmp_path
):
    store = tmp_path / "store"
    found = {}
    with engine_settings(snapshot_store=str(store)):
        for name in (".", ".."):
            if not user_exists(iam, name):
                iam.create_user(UserName=name)
            report = run_offboarding(user_name=name)
            assert report.outcome == "deleted" and report.snapshot, report
            location = Path(report.snapshot.location)
            found[name] = location.resolve().parent
            assert load_snapshot(str(location)).user.user_name == name
    assert found["."] != found[".."]
    assert {folder.parent for folder in found.values()} == {(store / ACCOUNT).resolve()}
    assert [p for p in store.iterdir()] == [store / ACCOUNT]


# Item 9: never merged into someone else, and every change audited.


def test_restore_onto_an_existing_user_is_refused_and_changes_nothing(sandbox, iam, edited):
    name = unique("existing")
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "payments"}])
    line = refused_without_a_write(sandbox, edited(), "--new-name", name)
    assert f"{name} already exists" in line and "--into-existing" in line
    assert iam.list_groups_for_user(UserName=name)["Groups"] == []
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]


def test_a_protected_user_is_refused_even_with_into_existing(sandbox, iam, edited):
    name = unique("protected")
    iam.create_user(UserName=name, Tags=[{"Key": "offboard:protected", "Value": "true"}])
    line = refused_without_a_write(sandbox, edited(), "--new-name", name, "--into-existing")
    assert "protected" in line
    assert iam.list_groups_for_user(UserName=name)["Groups"] == []


def test_restore_that_would_create_a_protected_principal_is_refused(sandbox, iam, edited):
    name = unique("would-protect")
    with engine_settings(protected_user_names=json.dumps([name])):
        line = refused_without_a_write(sandbox, edited(), "--new-name", name)
    assert "protected" in line
    assert not user_exists(iam, name)


def test_into_existing_audits_every_change_including_the_replaced_boundary(
    sandbox, iam, edited, snapshot_data
):
    """The probe's edited snapshot set a broad boundary unaudited; now each change, the boundary
    replacement with its old value, is a record carrying the reason and ticket."""
    name = unique("merge")
    broad = iam.create_policy(
        PolicyName=unique("AdministratorAccess"),
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    old = iam.create_policy(
        PolicyName=unique("narrow"),
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.create_user(UserName=name)
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=old)
    path = edited(lambda d: d["user"].update(permissions_boundary_arn=broad))

    result = invoke(
        "restore", path, "--new-name", name, "--into-existing", "--json",
        "--reason", "contractor returns", "--ticket", "CHG-9",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    user = iam.get_user(UserName=name)["User"]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == broad

    records = audit_records(report["run_id"])
    assert records and all(
        r.reason == "contractor returns" and r.ticket == "CHG-9" for r in records
    )
    assert all(r.target.user_id == user["UserId"] for r in records)
    by_step = {r.step: r for r in records}
    boundary = by_step["permissions_boundary"]
    assert boundary.outcome == "done" and boundary.resources == (broad,)
    assert old in (boundary.message or "")
    inventory = snapshot_data["inventory"]
    assert set(by_step["groups"].resources) == {g["group_name"] for g in inventory["groups"]}
    assert set(by_step["attached_policies"].resources) == {
        p["policy_arn"] for p in inventory["attached_policies"]
    }
    assert set(by_step["tags"].resources) == {t["key"] for t in snapshot_data["user"]["tags"]}
    assert by_step["user"].outcome == "skipped"
