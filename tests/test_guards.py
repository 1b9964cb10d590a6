"""Guards are data: a guard written here (a module's worth: a check and a ``GUARD``) and added
to the tuple holds a run before any mutating call, and its override goes through the one place
that checks and audits overrides. Against the sandbox, flows under Prefect's harness."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import flows.guards
from cli.main import app
from flows.guards.base import Guard, GuardInput, Hold
from flows.offboard_user import run_offboarding
from flows.report import Category, FailureKind, Outcome
from tasks.errors import InvalidInputError
from tests.helpers import audit_records, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


# --- the example guard: what a new guard module holds ---------------------------------------
def legal_hold(found: GuardInput) -> Hold | None:
    """Users tagged legal-hold=yes keep everything until legal releases them."""
    if any(tag.key == "legal-hold" and tag.value == "yes" for tag in found.user.tags):
        return Hold(Outcome.held, "LegalHold", f"{found.user.user_name} is under legal hold")
    return None


GUARD = Guard(name="legal-hold", check=legal_hold, describe="the legal hold", deactivates=False)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def with_legal_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one line a new guard adds to flows/guards/__init__.py.
    monkeypatch.setattr(flows.guards, "GUARDS", (*flows.guards.GUARDS, GUARD))


def held_user(iam, name: str) -> None:
    iam.create_user(UserName=name, Tags=[{"Key": "legal-hold", "Value": "yes"}])
    iam.create_access_key(UserName=name)


@pytest.mark.usefixtures("with_legal_hold")
def test_a_new_guard_holds_the_run_with_no_mutating_call(sandbox, iam, user_name):
    held_user(iam, user_name)
    mark = sandbox.requests.mark()

    report = run_offboarding(user_name=user_name)

    assert report.outcome == Outcome.held and report.category is Category.held
    assert report.exit_code == 3
    assert report.failure is not None and report.failure.kind is FailureKind.held
    assert report.failure.error_code == "LegalHold"
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert iam.get_user(UserName=user_name)["User"]["UserName"] == user_name
    records = audit_records(report.run_id)
    assert [(r.action, r.outcome) for r in records if r.step == "guard"] == [("guard.hold", "held")]


@pytest.mark.usefixtures("with_legal_hold")
def test_a_new_guard_is_overridden_by_name_with_a_reason_and_audited(iam, user_name):
    held_user(iam, user_name)
    with pytest.raises(InvalidInputError, match="needs a reason"):
        run_offboarding(user_name=user_name, override_guards=("legal-hold",))

    report = run_offboarding(
        user_name=user_name, override_guards=("legal-hold",), reason="released by legal"
    )

    assert report.outcome == "deleted" and report.guards_overridden == ("legal-hold",)
    records = audit_records(report.run_id)
    override = [r for r in records if r.action == "guard.override"]
    assert len(override) == 1 and override[0].reason == "released by legal"
    assert "legal-hold" in (override[0].message or "")
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}


@pytest.mark.usefixtures("with_legal_hold")
def test_the_cli_exits_3_for_a_new_guard_and_overrides_it_with_override(sandbox, iam, user_name):
    held_user(iam, user_name)
    runner = CliRunner()

    held = runner.invoke(app, ["run", user_name, "--yes"])
    assert held.exit_code == 3, held.output
    assert "legal hold" in held.output

    unknown = runner.invoke(app, ["run", user_name, "--yes", "--override", "no-such-guard"])
    assert unknown.exit_code == 2
    assert "unknown guard no-such-guard" in unknown.output

    done = runner.invoke(
        app, ["run", user_name, "--yes", "--override", "legal-hold", "--reason", "released"]
    )
    assert done.exit_code == 0, done.output
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}


@pytest.mark.usefixtures("with_legal_hold")
def test_plan_review_and_the_prompt_before_run_answer_as_the_run_does(
    sandbox, iam, user_name, monkeypatch
):
    held_user(iam, user_name)
    runner = CliRunner()
    mark = sandbox.requests.mark()

    planned = runner.invoke(app, ["plan", user_name])
    reviewed = runner.invoke(app, ["review", user_name])
    monkeypatch.setattr("cli.main.terminal_input", lambda: True)
    asked = runner.invoke(app, ["run", user_name], input="y\n")

    for result in (planned, reviewed, asked):
        assert result.exit_code == 3, result.output
        assert "held by the legal hold" in result.stderr
        assert f"offboard run {user_name} --override legal-hold" in result.stderr
    assert "Offboarding plan" in planned.stdout and "Access review" in reviewed.stdout
    # The guard changes nothing, so the prompt never asks: nothing to confirm.
    assert "Delete IAM user" not in asked.output
    assert iam_mutations(sandbox.requests.since(mark)) == []

    confirmed = runner.invoke(
        app, ["run", user_name, "--override", "legal-hold", "--reason", "released"], input="y\n"
    )
    assert confirmed.exit_code == 0, confirmed.output
    assert "Delete IAM user" in confirmed.output
    assert user_name not in {u["UserName"] for u in iam.list_users()["Users"]}
