"""What people read and paste from ``offboard``: full ids in tables, --output, help pages,
dry-run totals, prompts and their exit code, --profile/--region, --version, completion.

CliRunner's output is not a terminal, as a pipe or a file is not."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
import typer
from typer.testing import CliRunner

from audit.records import AuditEvent, AuditTarget
from audit.trail import AuditTrail
from cli.help import EXAMPLES
from cli.main import app
from sandbox.fixtures import create_loaded_user
from tasks.aws import get_client_factory, set_client_factory
from tests.helpers import iam_mutations

runner = CliRunner()
# An IAM path may be 512 characters: the ARN of a user under this one is ~170.
LONG_PATH = "/" + "/".join(["organisation-unit-with-a-long-name"] * 3) + "/"


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


def test_users_table_off_a_terminal_prints_every_arn_and_date_whole(sandbox, iam, user_name):
    made = iam.create_user(UserName=user_name, Path=LONG_PATH)["User"]
    result = invoke("users", "--path-prefix", LONG_PATH)
    assert result.exit_code == 0, result.output
    assert len(made["Arn"]) > 150
    assert made["Arn"] in result.stdout
    assert made["CreateDate"].isoformat() in result.stdout
    assert "…" not in result.stdout


def test_groups_and_plan_tables_print_full_arns(sandbox, iam, user_name):
    iam.create_user(UserName=user_name, Path=LONG_PATH)
    group = f"g-{uuid.uuid4().hex[:8]}"
    arn = iam.create_group(GroupName=group, Path=LONG_PATH)["Group"]["Arn"]
    iam.add_user_to_group(GroupName=group, UserName=user_name)

    groups = invoke("groups", user_name)
    assert groups.exit_code == 0, groups.output
    assert arn in groups.stdout and "…" not in groups.stdout
    plan = invoke("plan", user_name)
    assert plan.exit_code == 0, plan.output
    user_arn = iam.get_user(UserName=user_name)["User"]["Arn"]
    assert user_arn in plan.stdout and group in plan.stdout and "…" not in plan.stdout


def test_audit_show_prints_full_run_ids_and_times(tmp_path):
    trail = AuditTrail(tmp_path / "audit.jsonl")
    run_id = str(uuid.uuid4())
    long_name = "u" * 64
    record = trail.append(
        AuditEvent(
            run_id=run_id,
            flow="offboard-user",
            step="access_keys",
            actor="arn:aws:iam::123456789012:user/operator",
            target=AuditTarget(
                account="123456789012", user_name=long_name, user_arn=None, user_id=None
            ),
            action="iam:DeleteAccessKey",
            resources=("AKIAEXAMPLEEXAMPLE01",),
            outcome="done",
            error_code="EntityTemporarilyUnmodifiable",
        )
    )
    result = invoke("audit", "show", str(trail.path))
    assert result.exit_code == 0, result.output
    for whole in (run_id, long_name, "iam:DeleteAccessKey", "EntityTemporarilyUnmodifiable"):
        assert whole in result.stdout
    assert record.time.strftime("%Y-%m-%d %H:%M:%SZ") in result.stdout
    assert "…" not in result.stdout
    as_json = invoke("audit", "show", str(trail.path), "--output", "json")
    assert [r["run_id"] for r in json.loads(as_json.stdout)] == [run_id]


def test_output_json_is_the_same_as_json_and_table_is_the_default(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    group = loaded.group_names[0]
    by_flag = invoke("users", "--group", group, "--json")
    by_output = invoke("users", "--group", group, "--output", "json")
    short = invoke("users", "--group", group, "-o", "JSON")
    assert by_flag.exit_code == by_output.exit_code == short.exit_code == 0
    assert json.loads(by_flag.stdout) == json.loads(by_output.stdout) == json.loads(short.stdout)
    table = invoke("users", "--group", group, "--output", "table")
    assert table.exit_code == 0 and user_name in table.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(table.stdout)
    plan = json.loads(invoke("plan", user_name, "-o", "json").stdout)
    assert plan["user"]["user_name"] == user_name


def test_contradicting_or_unknown_output_is_exit_2_without_aws_calls(sandbox):
    mark = sandbox.requests.mark()
    both = invoke("users", "--json", "--output", "table")
    assert both.exit_code == 2 and "--json and --output table" in both.stderr
    unknown = invoke("users", "--output", "yaml")
    assert unknown.exit_code == 2
    assert sandbox.requests.since(mark) == []


def _commands(group: typer.Typer) -> list[str]:
    """Every command's full name, e.g. "audit show" (typer vendors its own click)."""

    def walk(cmd, path: str):
        for name, sub in cmd.commands.items():
            if hasattr(sub, "commands"):
                yield from walk(sub, f"{path}{name} ")
            else:
                yield f"{path}{name}"

    return list(walk(typer.main.get_command(group), ""))


def _help(command: str) -> str:
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_has_an_example_and_flags_show_no_type():
    missing = []
    for command in _commands(app):
        page = _help(command)
        assert "<bool>" not in page, command
        examples = EXAMPLES.get(command, ())
        if not examples or f"offboard {command}" not in page:
            missing.append(command)
    assert missing == [], f"commands without an example in cli/help.py: {missing}"
    assert "--dry-run  " in _help("batch")


@pytest.mark.parametrize("command", ["run", "batch", "rename"])
def test_help_paragraphs_are_not_broken_mid_sentence(command):
    """Each line of a paragraph but its last fills the width (80 columns off a terminal)."""
    description = _help(command).split("╭")[0]
    paragraphs: list[list[str]] = [[]]
    for line in description.splitlines():
        if line.strip():
            paragraphs[-1].append(line.strip())
        else:
            paragraphs.append([])
    assert sum(len(p) > 1 for p in paragraphs) >= 1, "expected a paragraph of several lines"
    for lines in paragraphs:
        for line in lines[:-1]:
            assert len(line) > 55, (command, line)


@pytest.mark.usefixtures("prefect_harness")
def test_batch_dry_run_totals_say_planned_and_count_what_each_user_would_lose(
    sandbox, iam, user_name, tmp_path
):
    create_loaded_user(iam, user_name, access_keys=1, groups=2)
    users_file = tmp_path / "users.txt"
    users_file.write_text(f"{user_name}\n")
    mark = sandbox.requests.mark()
    result = invoke("batch", "--users-file", str(users_file), "--dry-run")
    assert result.exit_code == 0, result.output
    assert iam_mutations(sandbox.requests.since(mark)) == []
    totals = [line for line in result.stdout.splitlines() if line.startswith("totals")]
    assert totals and "planned 1" in totals[0] and "done" not in totals[0]
    row = next(line for line in result.stdout.splitlines() if user_name in line)
    assert "access keys 1" in row and "groups 2" in row and "the user" in row
    iam.get_user(UserName=user_name)


def test_answering_no_at_the_run_prompt_exits_5_and_changes_nothing(
    sandbox, iam, user_name, monkeypatch
):
    create_loaded_user(iam, user_name)
    monkeypatch.setattr("cli.main.terminal_input", lambda: True)
    mark = sandbox.requests.mark()
    result = invoke("run", user_name, input="n\n")
    assert result.exit_code == 5, result.output
    assert "not confirmed" in result.stderr
    # The prompt shows the run's own dry run first.
    assert "Offboarding plan" in result.stdout and "Delete IAM user" in result.output
    assert iam_mutations(sandbox.requests.since(mark)) == []
    iam.get_user(UserName=user_name)
    # End of input is no answer either.
    assert invoke("run", user_name, input="").exit_code == 5


@pytest.mark.usefixtures("prefect_harness")
def test_answering_no_at_the_batch_prompt_exits_5(sandbox, iam, user_name, monkeypatch, tmp_path):
    create_loaded_user(iam, user_name)
    users_file = tmp_path / "users.txt"
    users_file.write_text(f"{user_name}\n")
    monkeypatch.setattr("cli.batch_cli.terminal_input", lambda: True)
    mark = sandbox.requests.mark()
    result = invoke("batch", "--users-file", str(users_file), input="n\n")
    assert result.exit_code == 5, result.output
    assert "Users to offboard" in result.stdout and "not confirmed" in result.stderr
    calls = sandbox.requests.since(mark)
    assert iam_mutations(calls) == []
    # Planned once, by the batch's flow, which asked before its first change.
    assert [c.action for c in calls].count("GetUser") == 1


@pytest.mark.usefixtures("prefect_harness")
def test_answering_no_at_the_rename_prompt_exits_5(sandbox, iam, user_name, monkeypatch):
    iam.create_user(UserName=user_name)
    monkeypatch.setattr("cli.rename_cli.terminal_input", lambda: True)
    mark = sandbox.requests.mark()
    result = invoke("rename", user_name, "--new-name", f"{user_name[:50]}-new", input="n\n")
    assert result.exit_code == 5, result.output
    assert iam_mutations(sandbox.requests.since(mark)) == []
    iam.get_user(UserName=user_name)


@pytest.mark.usefixtures("prefect_harness")
def test_a_guard_held_run_says_the_user_is_deactivated_and_the_next_command(
    sandbox, iam, user_name
):
    create_loaded_user(iam, user_name, access_keys=1)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    boto3.client(
        "s3",
        endpoint_url=sandbox.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    ).list_buckets()
    result = invoke("run", user_name, "--yes")
    assert result.exit_code == 3, result.output
    assert f"{user_name} is deactivated" in result.stderr and "not deleted" in result.stderr
    assert f'offboard run {user_name} --override-activity-guard --reason "..."' in result.stderr
    assert "offboard-deactivated" in iam.list_user_policies(UserName=user_name)["PolicyNames"]


def _aws_config(tmp_path: Path, monkeypatch, access_key: str, secret: str) -> None:
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile offboarder]\n"
        f"aws_access_key_id = {access_key}\n"
        f"aws_secret_access_key = {secret}\n"
        "region = eu-west-2\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def test_profile_and_region_make_the_engines_clients(
    sandbox, iam, user_name, tmp_path, monkeypatch
):
    """The profile's own key signs the engine's calls (the sandbox records its last use)."""
    iam.create_user(UserName=user_name)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    _aws_config(tmp_path, monkeypatch, key["AccessKeyId"], key["SecretAccessKey"])
    try:
        result = invoke("users", "--profile", "offboarder", "--region", "eu-central-1", "--json")
        assert result.exit_code == 0, result.output
        assert user_name in {u["user_name"] for u in json.loads(result.stdout)}
        session = get_client_factory().session
        assert (session.profile_name, session.region_name) == ("offboarder", "eu-central-1")
        used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        assert used.get("LastUsedDate") is not None
        # Given before the command, they apply the same way.
        set_client_factory(None)
        before = invoke("--profile", "offboarder", "groups", user_name, "--json")
        assert before.exit_code == 0, before.output
        assert get_client_factory().session.profile_name == "offboarder"
    finally:
        set_client_factory(None)


def test_unknown_profile_is_one_line_and_exit_2_before_any_call(sandbox, tmp_path, monkeypatch):
    _aws_config(tmp_path, monkeypatch, "AKIAUNUSED", "unused")
    mark = sandbox.requests.mark()
    try:
        result = invoke("users", "--profile", "no-such-profile")
    finally:
        set_client_factory(None)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no-such-profile" in result.stderr
    assert sandbox.requests.since(mark) == []


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"offboard {version('offboard')}"


def test_shell_completion_script_is_offered():
    result = invoke("--show-completion", "bash")
    assert result.exit_code == 0, result.output
    assert "complete" in result.stdout and "_OFFBOARD_COMPLETE" in result.stdout
