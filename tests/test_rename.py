"""Renaming a user: UpdateUser keeps the user, and every policy naming its old ARN as a resource
is rewritten; trust policies are listed only; refusals make no mutating call."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.rename_cli import register
from config.logging import configure_logging
from flows.rename_user import rename_user
from sandbox.fixtures import create_loaded_user
from tasks.errors import InvalidInputError
from tasks.policy_documents import rewrite_references
from tasks.rename import split_user_arn
from tests.helpers import audit_records, engine_settings, iam_mutations, inject_client_error

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
OTHER_ARN = "arn:aws:s3:::shared-bucket/*"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(resource: Any, action: str = "iam:ChangePassword", key: str = "Resource") -> dict:
    return {"Effect": "Allow", "Action": action, key: resource}


def trust(principal_arn: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}
    return policy(statement)


def default_document(iam, arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def new_name_for(user_name: str) -> str:
    return f"renamed-{uuid.uuid4().hex[:8]}-{user_name[:40]}"


# Pure rewriting: no IAM involved.

OLD = "arn:aws:iam::123456789012:user/staff/bob"
NEW = "arn:aws:iam::123456789012:user/ops/robert"


def test_rewrite_changes_resource_and_notresource_strings_and_lists_only():
    document = {
        "Version": "2012-10-17",
        "Statement": [
            allow(OLD),
            allow([OTHER_ARN, OLD, NEW], key="NotResource"),
            allow(f"{OLD}*"),
            # Another user whose name starts with the old one is not a reference.
            allow(f"{OLD}by"),
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {}},
        ],
    }
    after, count = rewrite_references(document, OLD, NEW)
    assert count == 3
    statements = after["Statement"]
    assert statements[0]["Resource"] == NEW
    assert statements[1]["NotResource"] == [OTHER_ARN, NEW]
    assert statements[2]["Resource"] == f"{NEW}*"
    assert statements[3]["Resource"] == f"{OLD}by"
    assert statements[4] == document["Statement"][4]
    assert document["Statement"][0]["Resource"] == OLD  # the input is not modified
    single = {"Version": "2012-10-17", "Statement": allow(OLD)}
    assert rewrite_references(single, OLD, NEW)[0]["Statement"]["Resource"] == NEW


def test_user_arn_parts_keep_the_path():
    assert split_user_arn(OLD) == ("arn:aws:iam::123456789012", "/staff/", "bob")
    assert split_user_arn("arn:aws:iam::1:user/bob") == ("arn:aws:iam::1", "/", "bob")


# Whole flows against the sandbox.


def test_rename_keeps_the_user_and_rewrites_every_policy_naming_it(iam, sandbox, user_name):
    """New name and path: same unique id, groups, attached policies and tags; managed (incl. one
    at 5 versions), user, group and role inline policies rewritten; trust policies only listed."""
    loaded = create_loaded_user(iam, user_name, path="/staff/", access_keys=1)
    old_arn = loaded.user_arn
    old_id = iam.get_user(UserName=user_name)["User"]["UserId"]
    new_name = new_name_for(user_name)
    prefix, _, _ = split_user_arn(old_arn)
    new_arn = f"{prefix}:user/ops/{new_name}"
    tag = user_name

    managed = iam.create_policy(
        PolicyName=f"{tag}-self", PolicyDocument=policy(allow([old_arn, OTHER_ARN]))
    )["Policy"]["Arn"]
    full = iam.create_policy(PolicyName=f"{tag}-full", PolicyDocument=policy(allow("*")))
    full_arn = full["Policy"]["Arn"]
    for i in range(3):
        iam.create_policy_version(
            PolicyArn=full_arn, PolicyDocument=policy(allow(f"arn:aws:s3:::bucket-{i}"))
        )
    iam.create_policy_version(
        PolicyArn=full_arn, PolicyDocument=policy(allow(f"{old_arn}*")), SetAsDefault=True
    )
    untouched = iam.create_policy(
        PolicyName=f"{tag}-other", PolicyDocument=policy(allow(f"{old_arn}-someone-else"))
    )["Policy"]["Arn"]
    iam.put_user_policy(
        UserName=user_name, PolicyName="own-credentials", PolicyDocument=policy(allow(old_arn))
    )
    group = loaded.group_names[0]
    iam.put_group_policy(
        GroupName=group,
        PolicyName="all-but-bob",
        PolicyDocument=policy(allow(old_arn, "iam:*", key="NotResource")),
    )
    role = f"{tag}-role"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(old_arn))
    iam.put_role_policy(
        RoleName=role, PolicyName="manage-bob", PolicyDocument=policy(allow([old_arn]))
    )

    report = rename_user(
        user_name=user_name, new_name=new_name, new_path="/ops/", reason="name change", ticket="T-1"
    )

    assert report.outcome == "renamed", report.failures
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    after = iam.get_user(UserName=new_name)["User"]
    assert (after["UserId"], after["Arn"], after["Path"]) == (old_id, new_arn, "/ops/")
    groups = iam.list_groups_for_user(UserName=new_name)["Groups"]
    assert {g["GroupName"] for g in groups} == set(loaded.group_names)
    attached = iam.list_attached_user_policies(UserName=new_name)["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == set(loaded.managed_policy_arns)
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=new_name)["Tags"]}
    assert tags == dict(loaded.tags)

    assert default_document(iam, managed)["Statement"][0]["Resource"] == [new_arn, OTHER_ARN]
    versions = iam.list_policy_versions(PolicyArn=full_arn)["Versions"]
    assert len(versions) == 5 and "v1" not in {v["VersionId"] for v in versions}
    assert default_document(iam, full_arn)["Statement"][0]["Resource"] == f"{new_arn}*"
    assert len(iam.list_policy_versions(PolicyArn=untouched)["Versions"]) == 1
    own = iam.get_user_policy(UserName=new_name, PolicyName="own-credentials")
    assert own["PolicyDocument"]["Statement"][0]["Resource"] == new_arn
    grouped = iam.get_group_policy(GroupName=group, PolicyName="all-but-bob")
    assert grouped["PolicyDocument"]["Statement"][0]["NotResource"] == new_arn
    roled = iam.get_role_policy(RoleName=role, PolicyName="manage-bob")
    assert roled["PolicyDocument"]["Statement"][0]["Resource"] == [new_arn]
    trusted = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trusted["Statement"][0]["Principal"]["AWS"] == old_arn  # listed, never written

    plan = report.plan
    assert plan is not None and plan.old_arn == old_arn and plan.new_arn == new_arn
    assert [m.role_name for m in plan.trust_policy_mentions] == [role]
    kinds = {(c.kind, c.owner) for c in plan.changes}
    assert kinds == {
        ("managed", managed),
        ("managed", full_arn),
        ("user-inline", user_name),
        ("group-inline", group),
        ("role-inline", role),
    }
    full_change = next(c for c in plan.changes if c.owner == full_arn)
    assert full_change.version_to_delete == "v1"
    assert all(a.outcome == "done" for a in report.applied) and len(report.applied) == 5

    records = audit_records(report.run_id)
    assert all(r.flow == "rename-user" and r.ticket == "T-1" for r in records)
    by_action: dict[str, list[tuple[str, ...]]] = {}
    for record in records:
        assert record.outcome == "done", record
        by_action.setdefault(record.action, []).append(record.resources)
        by_action[record.action].sort()
    assert by_action == {
        "iam:UpdateUser": [(old_arn, new_arn)],
        "iam:DeletePolicyVersion": [(full_arn,)],
        "iam:CreatePolicyVersion": sorted([(managed,), (full_arn,)]),
        "iam:PutUserPolicy": [(new_arn,)],
        "iam:PutGroupPolicy": [(iam.get_group(GroupName=group)["Group"]["Arn"],)],
        "iam:PutRolePolicy": [(iam.get_role(RoleName=role)["Role"]["Arn"],)],
    }


def test_path_change_only_rewrites_references_to_the_old_path(iam, user_name):
    old_arn = iam.create_user(UserName=user_name, Path="/contractors/")["User"]["Arn"]
    iam.put_user_policy(
        UserName=user_name, PolicyName="own-keys", PolicyDocument=policy(allow(old_arn))
    )
    report = rename_user(user_name=user_name, new_path="/staff/")
    assert report.outcome == "renamed", report.failures
    user = iam.get_user(UserName=user_name)["User"]
    assert user["Path"] == "/staff/" and user["Arn"] == old_arn.replace("/contractors/", "/staff/")
    own = iam.get_user_policy(UserName=user_name, PolicyName="own-keys")["PolicyDocument"]
    assert own["Statement"][0]["Resource"] == user["Arn"]
    assert [r.action for r in audit_records(report.run_id)] == [
        "iam:UpdateUser",
        "iam:PutUserPolicy",
    ]


def test_dry_run_shows_the_diffs_and_makes_no_mutating_call(iam, sandbox, user_name):
    old_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    iam.put_user_policy(
        UserName=user_name, PolicyName="own-keys", PolicyDocument=policy(allow(old_arn))
    )
    new_name = new_name_for(user_name)
    mark = sandbox.requests.mark()
    report = rename_user(user_name=user_name, new_name=new_name, dry_run=True)
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert report.outcome == "planned" and report.applied == ()
    [change] = report.plan.changes
    assert f'-      "Resource": "{old_arn}"' in change.diff
    assert f'+      "Resource": "{old_arn.replace(user_name, new_name)}"' in change.diff
    iam.get_user(UserName=user_name)
    assert audit_records(report.run_id) == []


@pytest.mark.parametrize(
    ("new_name", "new_path", "message"),
    [
        ("has space", None, "invalid IAM user name"),
        ("x" * 65, "/ok/", "invalid IAM user name"),
        (None, "no-slashes", "invalid IAM path"),
        (None, "//", "invalid IAM path"),
        (None, "/" + "x" * 511 + "/", "invalid IAM path"),
        (None, None, "nothing to change"),
    ],
)
def test_invalid_input_is_refused_before_any_aws_call(sandbox, new_name, new_path, message):
    mark = sandbox.requests.mark()
    # The flow body without Prefect's run: validation comes before any task.
    with pytest.raises(InvalidInputError, match=message):
        rename_user.fn(user_name="someone", new_name=new_name, new_path=new_path)
    assert sandbox.requests.since(mark) == []


def test_unknown_taken_and_protected_names_are_refused_without_mutating_calls(
    iam, sandbox, user_name
):
    iam.create_user(UserName=user_name)
    taken = iam.create_user(UserName=new_name_for(user_name))["User"]["UserName"]
    mark = sandbox.requests.mark()

    # The new name's owner was never renamed from the ghost: no audit record proves it.
    unknown = rename_user(user_name=f"ghost-{user_name}", new_name=taken)
    existing = rename_user(user_name=user_name, new_name=taken)
    with engine_settings(protected_user_names=json.dumps([user_name])):
        protected = rename_user(user_name=user_name, new_name=new_name_for(user_name))
    with engine_settings(protected_user_names=json.dumps(["break-glass"])):
        onto_protected = rename_user(user_name=user_name, new_name="break-glass")

    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert unknown.outcome == "refused"
    assert unknown.failure.message == f"no IAM user named ghost-{user_name}"
    assert existing.outcome == "refused"
    assert existing.failure.message == f"an IAM user named {taken} already exists"
    assert protected.outcome == "refused"
    assert "protected_user_names" in protected.failure.message
    assert onto_protected.outcome == "refused"
    assert "break-glass" in onto_protected.failure.message
    iam.get_user(UserName=user_name)
    assert [r.outcome for r in audit_records(existing.run_id)] == ["skipped"]


def test_rerun_after_a_failed_policy_finishes_the_rename(iam, sandbox, user_name):
    """A failure after UpdateUser leaves the other changes done; the same command again finds
    the user under its new name (proved by the audit trail) and rewrites what is left."""
    old_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    group = f"{user_name}-g"
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=policy(allow(old_arn)))
    iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=policy(allow(old_arn)))
    new_name = new_name_for(user_name)
    new_arn = old_arn.replace(user_name, new_name)

    with inject_client_error("PutGroupPolicy", "AccessDenied", 99, 403) as injected:
        first = rename_user(user_name=user_name, new_name=new_name)
    assert injected.calls == 1  # AccessDenied is not retried
    assert first.outcome == "failed"
    assert first.failure.action == "iam:PutGroupPolicy" and group in first.failure.message
    assert [c.owner for c in first.unapplied] == [group]
    failed = [r for r in audit_records(first.run_id) if r.outcome == "failed"]
    assert [(r.action, r.error_code) for r in failed] == [("iam:PutGroupPolicy", "AccessDenied")]

    mark = sandbox.requests.mark()
    second = rename_user(user_name=user_name, new_name=new_name)
    assert second.outcome == "renamed", second.failures
    assert second.resumed_run_id == first.run_id
    assert iam_mutations(sandbox.requests.since(mark)) == ["PutGroupPolicy"]
    document = iam.get_group_policy(GroupName=group, PolicyName="p")["PolicyDocument"]
    assert document["Statement"][0]["Resource"] == new_arn
    assert [c.owner for c in second.plan.changes] == [group]


def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _setup() -> None:
        # As the main app does: warnings only, so stderr carries just the one-line errors.
        configure_logging(level="WARNING")

    register(app)
    return app


def test_cli_rename_plan_json_confirmation_and_exit_codes(iam, sandbox, user_name, monkeypatch):
    old_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    iam.put_user_policy(UserName=user_name, PolicyName="p", PolicyDocument=policy(allow(old_arn)))
    new_name = new_name_for(user_name)
    runner, app = CliRunner(), cli_app()

    mark = sandbox.requests.mark()
    planned = runner.invoke(
        app, ["rename", user_name, "--new-name", new_name, "--dry-run", "--json"]
    )
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["plan"]["changes"][0]["kind"] == "user-inline"
    unconfirmed = runner.invoke(app, ["rename", user_name, "--new-name", new_name])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    invalid = runner.invoke(app, ["rename", user_name, "--new-path", "bad", "--yes"])
    assert invalid.exit_code == 2 and "invalid IAM path" in invalid.stderr
    assert iam_mutations(sandbox.requests.since(mark)) == []

    # From a terminal: the plan, then the question; "n" changes nothing, "y" renames.
    monkeypatch.setattr("cli.rename_cli.terminal_input", lambda: True)
    args = ["rename", user_name, "--new-name", new_name]
    declined = runner.invoke(app, args, input="n\n")
    # 5: not confirmed, its own exit code.
    assert declined.exit_code == 5 and '+      "Resource"' in declined.stdout
    assert iam_mutations(sandbox.requests.since(mark)) == []
    done = runner.invoke(app, args, input="y\n")
    assert done.exit_code == 0, done.output
    assert "outcome: renamed" in done.stdout
    assert done.stdout.count('+      "Resource"') == 1  # the plan is shown once
    iam.get_user(UserName=new_name)
    taken = iam.create_user(UserName=user_name)["User"]["UserName"]
    refused = runner.invoke(app, ["rename", new_name, "--new-name", taken, "--yes"])
    assert refused.exit_code == 2
    assert refused.stderr.strip() == f"offboard: error: an IAM user named {taken} already exists"
