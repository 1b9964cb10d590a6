"""Protected principals match as IAM names do: regardless of case, for names and tag keys alike.
Every flow that changes a user asks the same check — against the sandbox, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from flows.batch_models import BatchSelection, BatchTarget
from flows.deactivation import deactivate_user
from flows.offboard_batch import run_batch
from flows.offboard_user import run_offboarding
from flows.rename_user import rename_user
from sandbox.fixtures import create_loaded_user
from tests.helpers import audit_records, engine_settings, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


@pytest.fixture
def protected_pair(iam, user_name) -> Iterator[tuple[str, str]]:
    """Two users protected only when case is ignored: a name listed in upper case, and a tag
    whose key (and value) differ in case from the protected_tag setting."""
    listed_name = f"{user_name}-listed"
    tagged_name = f"{user_name}-tagged"
    create_loaded_user(iam, listed_name, access_keys=1)
    create_loaded_user(iam, tagged_name, access_keys=1, tags={"Offboard:Protected": "TRUE"})
    with engine_settings(
        protected_user_names=json.dumps([listed_name.upper()]),
        protected_tag="offboard:protected=true",
        iam_calls_per_second="0",
    ):
        yield listed_name, tagged_name


def test_run_refuses_a_name_listed_in_another_case_and_a_tag_key_in_another_case(
    sandbox, iam, protected_pair
):
    listed_name, tagged_name = protected_pair
    mark = sandbox.requests.mark()

    by_name = run_offboarding(user_name=listed_name)
    by_tag = run_offboarding(user_name=tagged_name)

    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert by_name.outcome == by_tag.outcome == "refused"
    assert by_name.failure and "protected_user_names" in by_name.failure.message
    assert listed_name.upper() in by_name.failure.message
    assert by_tag.failure and "Offboard:Protected=TRUE" in by_tag.failure.message
    for report in (by_name, by_tag):
        assert [(r.step, r.outcome) for r in audit_records(report.run_id)] == [
            ("protect", "skipped")
        ]
    for name in protected_pair:
        assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_batch_drops_both_as_protected_with_no_mutating_call(sandbox, iam, protected_pair):
    mark = sandbox.requests.mark()

    selection = BatchSelection(users=tuple(BatchTarget(user_name=n) for n in protected_pair))
    report = run_batch(selection, reason="left")

    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert report.users == ()
    assert {(s.user_name, s.reason) for s in report.skipped} == {
        (name, "protected") for name in protected_pair
    }
    for name in protected_pair:
        iam.get_user(UserName=name)


def test_deactivate_and_rename_refuse_them_too(sandbox, iam, protected_pair, user_name):
    mark = sandbox.requests.mark()

    deactivations = [deactivate_user(user_name=name) for name in protected_pair]
    renames = [rename_user(user_name=name, new_name=f"{name}-x") for name in protected_pair]
    # Nobody may take a protected name by a rename either, in whatever case it is written.
    other = f"{user_name}-other"
    iam.create_user(UserName=other)
    mark_rename = sandbox.requests.mark()
    with engine_settings(protected_user_names=json.dumps(["Break-Glass"])):
        onto = rename_user(user_name=other, new_name="break-glass")

    assert iam_mutations(sandbox.requests.since(mark)) == ["CreateUser"]
    assert iam_mutations(sandbox.requests.since(mark_rename)) == []
    assert [d.outcome for d in deactivations] == ["refused", "refused"]
    assert [r.outcome for r in renames] == ["refused", "refused"]
    assert onto.outcome == "refused" and "protected_user_names" in onto.failure.message


def test_plan_of_a_protected_user_says_so_and_exits_2_as_run_does(sandbox, protected_pair):
    from typer.testing import CliRunner

    from cli.main import app

    mark = sandbox.requests.mark()
    for name in protected_pair:
        planned = CliRunner().invoke(app, ["plan", name])
        ran = CliRunner().invoke(app, ["run", name, "--yes"])

        assert planned.exit_code == ran.exit_code == 2, (planned.output, ran.output)
        assert f"{name} is protected" in planned.output
        assert f"{name} is protected" in ran.output
    assert iam_mutations(sandbox.requests.since(mark)) == []
