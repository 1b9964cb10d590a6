"""The ``offboard`` command: exit codes, one-line errors, JSON output, no mutation on refusal."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.fixtures import create_loaded_user
from tests.helpers import inject_client_error, mutating

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "semi;colon", "", "ünïcode"])
def test_invalid_user_name_exits_2_with_one_line_before_any_aws_call(sandbox, bad):
    mark = sandbox.requests.mark()
    for command in (["plan", bad], ["run", bad, "--yes"], ["groups", bad]):
        result = invoke(*command)
        assert result.exit_code == 2, (command, result.output)
        assert "invalid IAM user name" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert sandbox.requests.since(mark) == []


def test_unknown_user_exits_2_naming_it_without_mutating_call(sandbox, prefect_harness):
    mark = sandbox.requests.mark()
    for command in (
        ["plan", "ghost-user"],
        ["run", "ghost-user", "--yes"],
        ["groups", "ghost-user"],
    ):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == "offboard: error: no IAM user named ghost-user"
    assert mutating([c.action for c in sandbox.requests.since(mark)]) == []


def test_run_without_yes_and_without_a_terminal_refuses(sandbox, iam, user_name):
    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    result = invoke("run", user_name)
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert sandbox.requests.since(mark) == []
    iam.get_user(UserName=user_name)


def test_plan_makes_no_mutating_call_and_prints_the_inventory_as_json(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    result = invoke("plan", user_name, "--json")
    assert result.exit_code == 0, result.output
    actions = [c.action for c in sandbox.requests.since(mark)]
    assert actions and mutating(actions) == []
    data = json.loads(result.stdout)
    assert data["user"]["user_name"] == user_name
    assert {g["group_name"] for g in data["inventory"]["groups"]} == set(loaded.group_names)
    human = invoke("plan", user_name)
    assert human.exit_code == 0 and "access keys" in human.stdout


def test_users_and_groups_listings(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name, path="/contractors/")
    group = loaded.group_names[0]

    in_group = json.loads(invoke("users", "--group", group, "--json").stdout)
    assert [u["user_name"] for u in in_group] == [user_name]
    by_path = json.loads(invoke("users", "--path-prefix", "/contractors/", "--json").stdout)
    assert user_name in [u["user_name"] for u in by_path]
    assert all(u["path"].startswith("/contractors/") for u in by_path)
    groups = json.loads(invoke("groups", user_name, "--json").stdout)
    assert {g["group_name"] for g in groups} == set(loaded.group_names)
    missing = invoke("users", "--group", "no-such-group")
    assert missing.exit_code == 2 and "no IAM group named no-such-group" in missing.stderr


@pytest.mark.usefixtures("prefect_harness")
def test_run_with_yes_deletes_the_user_and_prints_a_json_report(sandbox, iam, user_name):
    create_loaded_user(iam, user_name)
    result = invoke("run", user_name, "--yes", "--json", "--reason", "left", "--ticket", "HR-9")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "deleted" and report["ticket"] == "HR-9"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)


@pytest.mark.usefixtures("prefect_harness")
def test_access_denied_exits_1_naming_step_and_action(sandbox, iam, user_name):
    create_loaded_user(iam, user_name)
    with inject_client_error("RemoveUserFromGroup", "AccessDenied", 99, 403):
        result = invoke("run", user_name, "--yes")
    assert result.exit_code == 1, result.output
    assert "groups" in result.stdout and "iam:RemoveUserFromGroup" in result.stdout
    assert "AccessDenied" in result.stdout
    iam.get_user(UserName=user_name)
