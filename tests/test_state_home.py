"""One state home: the CLI finds the same audit trail from any folder; bad settings are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings
from sandbox.fixtures import create_loaded_user
from tests.helpers import iam_mutations

OFFBOARD = str(Path(sys.executable).parent / "offboard")


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFBOARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def test_commands_run_from_two_folders_share_one_audit_trail_under_the_home(
    sandbox, iam, user_name, cli_env, tmp_path
):
    create_loaded_user(iam, user_name)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    done = cli(["deactivate", user_name, "--reason", "leave"], first, cli_env)
    assert done.returncode == 0, done.stderr
    shown = cli(["audit", "show", "--user", user_name, "--json"], second, cli_env)
    assert shown.returncode == 0, shown.stderr

    records = json.loads(shown.stdout)
    assert any(r["flow"] == "deactivate-user" and r["step"] == "deny_policy" for r in records)
    trail = Path(cli_env["OFFBOARD_HOME"]) / "audit.jsonl"
    assert user_name in trail.read_text()
    # Nothing is kept relative to the folder the command ran from.
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []
    verified = cli(["audit", "verify"], second, cli_env)
    assert verified.returncode == 0, verified.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OFFBOARD_REVIEW_TIMEOUT_SECONDS", "0"),
        ("OFFBOARD_STEP_RETRIES", "many"),
        ("OFFBOARD_PROTECTED_USER_NAMES", "[not json"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_exit_2_and_no_iam_call(
    sandbox, iam, user_name, cli_env, tmp_path, variable, value
):
    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    for command in (["run", user_name, "--yes"], ["plan", user_name], ["users"]):
        result = cli(command, tmp_path, {**cli_env, variable: value})
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"offboard: error: {variable}"), lines
        assert "Traceback" not in result.stderr
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert sandbox.requests.since(mark) == []
    iam.get_user(UserName=user_name)


def test_the_default_home_is_the_users_state_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("OFFBOARD_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    settings = Settings()  # type: ignore[call-arg]
    assert settings.home == tmp_path / "state" / "offboard"
    assert settings.audit_log == tmp_path / "state" / "offboard" / "audit.jsonl"
    assert settings.snapshot_store == str(tmp_path / "state" / "offboard" / "snapshots")


def test_a_path_given_explicitly_stays_as_given(monkeypatch, tmp_path):
    monkeypatch.setenv("OFFBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFFBOARD_AUDIT_LOG", "/srv/offboard/audit.jsonl")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.audit_log == Path("/srv/offboard/audit.jsonl")
    assert settings.snapshot_store == str(tmp_path / "home" / "snapshots")
