"""The leave calendar is read with a size cap and without YAML aliases; rejected entries are named
by place and field, never echoed whole — `offboard leave sync` against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from config.leave_calendar import CalendarError, load_calendar
from flows.leave_sync import sync_leave_deactivations
from tasks.deactivation import iam_time
from tests.helpers import engine_settings, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()

# Nine levels of nine aliases each: 9**9 (387 million) strings when expanded, in 354 bytes.
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
leave: [*i]
"""


def one_line_exit_2(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_alias_bomb_is_refused_in_one_line_before_any_iam_call(sandbox, tmp_path):
    bomb = tmp_path / "leave.yaml"
    bomb.write_text(BILLION_LAUGHS)
    assert len(bomb.read_bytes()) < 500
    mark = sandbox.requests.mark()

    result = runner.invoke(app, ["leave", "sync", "--calendar", str(bomb)])

    line = one_line_exit_2(result)
    assert "anchors and aliases" in line and "line 1, column 4" in line
    assert sandbox.requests.since(mark) == []


@pytest.mark.parametrize(
    "text, problem",
    [
        ("base: &base {start: 2030-01-01T00:00:00Z}\nleave: []\n", "anchors and aliases"),
        ("leave:\n  - <<: *base\n", "anchors and aliases"),
        ("leave: " + "[" * 40 + "]" * 40 + "\n", "nested more than 16 levels deep"),
        ("leave: [\n", "line 2, column 1"),
        ("leave: !!python/object:os.system {}\n", "could not determine a constructor"),
    ],
    ids=["anchor", "alias", "deep", "torn", "python-tag"],
)
def test_unsafe_or_broken_yaml_is_one_line_naming_the_place(tmp_path, text, problem):
    path = tmp_path / "leave.yaml"
    path.write_text(text)
    with pytest.raises(CalendarError) as caught:
        load_calendar(path)
    message = str(caught.value)
    assert problem in message and "\n" not in message and str(path) in message


def test_a_calendar_over_the_size_cap_is_refused_unparsed(sandbox, tmp_path):
    path = tmp_path / "leave.yaml"
    path.write_text("leave: []\n" + "#" * 2000 + "\n")
    mark = sandbox.requests.mark()
    with engine_settings(leave_calendar_max_bytes="1000"):
        result = runner.invoke(app, ["leave", "sync", "--calendar", str(path)])
    line = one_line_exit_2(result)
    assert "larger than 1000 bytes" in line and "OFFBOARD_LEAVE_CALENDAR_MAX_BYTES" in line
    assert sandbox.requests.since(mark) == []
    # Not text at all: one line too.
    path.write_bytes(b"leave: [\xff\xfe]\n")
    assert "not UTF-8 text" in one_line_exit_2(
        runner.invoke(app, ["leave", "sync", "--calendar", str(path)])
    )


def test_rejected_entries_are_named_by_place_and_field_not_echoed(
    sandbox, iam, user_name, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName=user_name)
    start, end = iam_time(now + timedelta(days=1)), iam_time(now + timedelta(days=2))
    huge = "x" * 100_000
    path = tmp_path / "leave.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "leave": [
                    {"user": user_name, "start": start, "end": end},
                    {"user": huge, "start": start, "end": end},
                    {"user": user_name, "start": start, "end": end, huge: "extra"},
                    {"user": user_name, "start": start, "end": end, "reason": huge},
                    # A date YAML cannot build skips its own entry, not the file.
                    {"user": user_name, "start": start, "end": "x"},
                    [huge],
                ]
            },
            width=1_000_000,
        ).replace("end: x", "end: 2030-13-45T00:00:00Z")
    )

    report = sync_leave_deactivations(calendar=str(path))

    assert [len(change.policies_put) for change in report.users] == [1]
    skipped = [(s.entry, s.problem) for s in report.skipped]
    assert [entry for entry, _ in skipped] == [
        f"leave[1] (user {'x' * 63}…)",
        f"leave[2] (user {user_name})",
        f"leave[3] (user {user_name})",
        f"leave[4] (user {user_name})",
        "leave[5]",
    ]
    problems = [problem for _, problem in skipped]
    assert problems[0].startswith("user: String should match pattern")
    assert problems[1].startswith("xxxx") and "Extra inputs are not permitted" in problems[1]
    assert problems[2].startswith("reason: String should have at most 500 characters")
    assert problems[3].startswith("end: Input should be a valid datetime")
    assert problems[4].startswith("Input should be a valid dictionary")
    assert all(len(entry) + len(problem) < 300 for entry, problem in skipped)
    assert huge not in json.dumps(report.model_dump(mode="json"))


def test_a_protected_user_in_the_calendar_is_skipped_whatever_the_case(
    sandbox, iam, user_name, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName=user_name)
    path = Path(tmp_path / "leave.yaml")
    path.write_text(
        yaml.safe_dump(
            {
                "leave": [
                    {
                        "user": user_name,
                        "start": iam_time(now + timedelta(days=1)),
                        "end": iam_time(now + timedelta(days=2)),
                    }
                ]
            }
        )
    )
    mark = sandbox.requests.mark()
    with engine_settings(protected_user_names=json.dumps([user_name.upper()])):
        report = sync_leave_deactivations(calendar=str(path))
    assert report.users == ()
    assert [s.entry for s in report.skipped] == [user_name]
    assert "protected" in report.skipped[0].problem
    assert iam_mutations(sandbox.requests.since(mark)) == []
