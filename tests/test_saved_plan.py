"""A saved plan (`offboard plan USER --out FILE`) that `offboard run --plan FILE` executes exactly,
refusing with exit 2 and no mutating call when IAM changed since the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.fixtures import FIXTURE_PASSWORD, create_loaded_user
from tests.helpers import audit_records, iam_mutations, inject_client_error

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def save_plan(user_name: str, path: Path) -> dict:
    result = invoke("plan", user_name, "--out", str(path))
    assert result.exit_code == 0, result.output
    assert str(path) in result.stderr
    return json.loads(path.read_text())


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_plan_out_then_run_plan_deletes_exactly_the_planned_user_and_audit_names_the_digest(
    sandbox, iam, user_name, tmp_path
):
    loaded = create_loaded_user(iam, user_name)
    secret = iam.create_service_specific_credential(
        UserName=user_name, ServiceName="cassandra.amazonaws.com"
    )["ServiceSpecificCredential"]["ServicePassword"]
    plan_path = tmp_path / "plan.json"
    saved = save_plan(user_name, plan_path)

    assert saved["schema_version"] == 1
    assert saved["user"]["arn"] == loaded.user_arn
    assert saved["user"]["user_id"] == iam.get_user(UserName=user_name)["User"]["UserId"]
    assert saved["user"]["account"] == loaded.user_arn.split(":")[4]
    planned_keys = [k["access_key_id"] for k in saved["inventory"]["access_keys"]]
    assert sorted(planned_keys) == sorted(loaded.access_key_ids)
    assert {g["group_name"] for g in saved["inventory"]["groups"]} == set(loaded.group_names)
    text = plan_path.read_text()
    assert FIXTURE_PASSWORD not in text and secret not in text

    # The user comes from the plan itself.
    result = invoke("run", "--plan", str(plan_path), "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "deleted"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    for group in loaded.group_names:  # groups themselves stay; only the membership went
        assert iam.get_group(GroupName=group)["Users"] == []
    removed = {step["step"]: sorted(step["removed"]) for step in report["steps"] if step["removed"]}
    assert removed["access_keys"] == sorted(planned_keys)
    assert removed["groups"] == sorted(loaded.group_names)

    records = audit_records(report["run_id"])
    verified = [r for r in records if r.action == "plan.verify"]
    assert len(verified) == 1 and verified[0].outcome == "done"
    assert saved["digest"] in verified[0].resources
    assert records.index(verified[0]) < min(
        i for i, r in enumerate(records) if r.action == "iam:DeleteAccessKey"
    )


def _add_access_key(iam, user_name: str) -> str:
    return iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"]


def _add_group(iam, user_name: str) -> str:
    group = f"{user_name}-late"
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user_name)
    return group


@pytest.mark.parametrize(
    ("change", "named"),
    [(_add_access_key, "access_keys"), (_add_group, "groups")],
    ids=["new-access-key", "new-group"],
)
def test_an_attachment_added_after_the_plan_is_refused_with_exit_2_and_no_mutating_call(
    sandbox, iam, user_name, tmp_path, change, named
):
    create_loaded_user(iam, user_name, access_keys=1)
    plan_path = tmp_path / "plan.json"
    saved = save_plan(user_name, plan_path)
    added = change(iam, user_name)
    keys_before = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    groups_before = iam.list_groups_for_user(UserName=user_name)["Groups"]

    mark = sandbox.requests.mark()
    result = invoke("run", user_name, "--plan", str(plan_path), "--yes")
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert f"{named} added {added}" in line and "--replan" in line
    assert saved["digest"][:12] in line
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"] == keys_before
    assert iam.list_groups_for_user(UserName=user_name)["Groups"] == groups_before
    assert len(groups_before) == (3 if named == "groups" else 2)


def test_a_user_deleted_and_recreated_under_the_same_name_is_refused(
    sandbox, iam, user_name, tmp_path
):
    iam.create_user(UserName=user_name)
    plan_path = tmp_path / "plan.json"
    saved = save_plan(user_name, plan_path)
    iam.delete_user(UserName=user_name)
    new_id = iam.create_user(UserName=user_name)["User"]["UserId"]
    assert new_id != saved["user"]["user_id"]

    mark = sandbox.requests.mark()
    result = invoke("run", "--plan", str(plan_path), "--yes")
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert f"unique id {saved['user']['user_id']} is now {new_id}" in line
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert iam.get_user(UserName=user_name)["User"]["UserId"] == new_id


def test_replan_proceeds_with_the_fresh_inventory_and_audits_the_difference(
    sandbox, iam, user_name, tmp_path
):
    create_loaded_user(iam, user_name, access_keys=1)
    plan_path = tmp_path / "plan.json"
    saved = save_plan(user_name, plan_path)
    late_key = _add_access_key(iam, user_name)

    result = invoke("run", "--plan", str(plan_path), "--replan", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "deleted"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    records = audit_records(report["run_id"])
    replanned = [r for r in records if r.action == "plan.replan"]
    assert len(replanned) == 1
    assert saved["digest"] in replanned[0].resources
    assert f"access_keys added {late_key}" in (replanned[0].message or "")


def test_a_rerun_with_the_same_plan_finishes_after_a_failed_run(sandbox, iam, user_name, tmp_path):
    """What the failed run removed, and its own deny policy, are no change to refuse."""
    create_loaded_user(iam, user_name)
    plan_path = tmp_path / "plan.json"
    save_plan(user_name, plan_path)
    with inject_client_error("RemoveUserFromGroup", "AccessDenied", 99, 403):
        failed = invoke("run", "--plan", str(plan_path), "--yes")
    assert failed.exit_code == 1, failed.output
    assert iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"] == []

    result = invoke("run", "--plan", str(plan_path), "--yes")
    assert result.exit_code == 0, result.output
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)


def _edit_inventory(data: dict) -> str:
    data["inventory"]["access_keys"] = []
    return json.dumps(data)


def _future_schema(data: dict) -> str:
    data["schema_version"] = 99
    return json.dumps(data)


def _not_json(data: dict) -> str:
    return json.dumps(data)[:-10]


def _not_a_plan(data: dict) -> str:
    return json.dumps({"schema_version": 1, "digest": data["digest"]})


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (_edit_inventory, "digest"),
        (_future_schema, "schema_version 99"),
        (_not_json, "not valid JSON"),
        (_not_a_plan, "not an offboard plan"),
    ],
    ids=["edited", "unknown-schema", "not-json", "missing-fields"],
)
def test_a_tampered_plan_file_is_refused_with_one_line_before_any_aws_call(
    sandbox, iam, user_name, tmp_path, tamper, says
):
    create_loaded_user(iam, user_name)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(tamper(save_plan(user_name, plan_path)))

    mark = sandbox.requests.mark()
    result = invoke("run", "--plan", str(plan_path), "--yes")
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert line.startswith("offboard: error: plan file") and says in line
    assert sandbox.requests.since(mark) == []
    iam.get_user(UserName=user_name)


def test_a_missing_plan_file_or_one_for_another_user_is_refused(sandbox, iam, user_name, tmp_path):
    iam.create_user(UserName=user_name)
    plan_path = tmp_path / "plan.json"
    save_plan(user_name, plan_path)
    mark = sandbox.requests.mark()

    missing = invoke("run", "--plan", str(tmp_path / "nope.json"), "--yes")
    assert missing.exit_code == 2 and "no plan file" in one_line(missing)
    other = invoke("run", "someone-else", "--plan", str(plan_path), "--yes")
    assert other.exit_code == 2 and f"plan is for {user_name}" in one_line(other)
    no_plan = invoke("run", "--replan", user_name, "--yes")
    assert no_plan.exit_code == 2 and "--replan needs --plan" in one_line(no_plan)
    assert sandbox.requests.since(mark) == []
    iam.get_user(UserName=user_name)


def test_plan_of_a_protected_user_exits_2_naming_the_rule_and_writes_no_file(
    sandbox, iam, user_name, tmp_path
):
    create_loaded_user(iam, user_name, tags={"offboard:protected": "true"})
    plan_path = tmp_path / "plan.json"
    mark = sandbox.requests.mark()
    for args in (["plan", user_name], ["plan", user_name, "--out", str(plan_path)]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert one_line(result) == (
            f"offboard: error: {user_name} is protected: it carries the protected tag "
            "offboard:protected=true"
        )
    assert not plan_path.exists()
    assert iam_mutations(sandbox.requests.since(mark)) == []
