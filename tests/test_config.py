"""Settings from where people put them: environment > .env in the working directory >
OFFBOARD_HOME/config.toml > defaults, and ``offboard config show`` saying which one set what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from tests.helpers import iam_mutations

runner = CliRunner()


@pytest.fixture
def settings_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder of the test's own, reading its .env; settings re-read."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("OFFBOARD_ENV_FILE", raising=False)
    get_settings.cache_clear()
    yield work
    get_settings.cache_clear()


def shown(*args: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["config", "show", "--output", "json", *args])
    assert result.exit_code == 0, result.output
    return {item["name"]: item for item in json.loads(result.stdout)}


@pytest.mark.usefixtures("prefect_harness")
def test_a_user_protected_only_in_dotenv_is_refused_by_deactivate(
    sandbox, iam, user_name, settings_here
):
    iam.create_user(UserName=user_name)
    (settings_here / ".env").write_text(f'OFFBOARD_PROTECTED_USER_NAMES=["{user_name}"]\n')
    mark = sandbox.requests.mark()
    result = runner.invoke(app, ["deactivate", user_name, "--reason", "test"])
    assert result.exit_code == 2, result.output
    assert "protected" in result.stderr
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert iam.list_user_policies(UserName=user_name)["PolicyNames"] == []


def test_environment_beats_dotenv_beats_config_file_beats_default(
    settings_here, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("OFFBOARD_HOME", str(home))
    (home / "config.toml").write_text("recent_activity_days = 30\nbatch_concurrency = 3\n")
    (settings_here / ".env").write_text(
        "OFFBOARD_RECENT_ACTIVITY_DAYS=20\nOFFBOARD_MAX_USERS_PER_BATCH=9\n"
    )
    monkeypatch.setenv("OFFBOARD_RECENT_ACTIVITY_DAYS", "10")

    items = shown()
    assert (items["recent_activity_days"]["value"], items["recent_activity_days"]["source"]) == (
        10,
        "environment",
    )
    assert items["max_users_per_batch"]["value"] == 9
    assert items["max_users_per_batch"]["source"].startswith(".env file")
    assert items["batch_concurrency"]["value"] == 3
    assert items["batch_concurrency"]["source"] == f"config file {home / 'config.toml'}"
    assert (items["step_retries"]["source"], items["home"]["source"]) == ("default", "environment")
    assert items["audit_log"]["value"] == str(home / "audit.jsonl")

    monkeypatch.delenv("OFFBOARD_RECENT_ACTIVITY_DAYS")
    get_settings.cache_clear()
    assert shown()["recent_activity_days"]["value"] == 20
    (settings_here / ".env").unlink()
    get_settings.cache_clear()
    assert shown()["recent_activity_days"]["value"] == 30
    (home / "config.toml").unlink()
    get_settings.cache_clear()
    item = shown()["recent_activity_days"]
    assert (item["value"], item["source"]) == (7, "default")
    assert get_settings().recent_activity_days == 7


def test_a_home_named_in_dotenv_holds_the_config_file_and_the_state_files(
    settings_here, tmp_path, monkeypatch
):
    home = tmp_path / "state"
    home.mkdir()
    monkeypatch.delenv("OFFBOARD_HOME")
    (settings_here / ".env").write_text(f"OFFBOARD_HOME={home}\n")
    (home / "config.toml").write_text('protected_user_names = ["break-glass"]\n')
    settings = get_settings()
    assert settings.home == home
    assert settings.protected_user_names == ("break-glass",)
    assert settings.audit_log == home / "audit.jsonl"
    assert shown()["audit_log"]["source"] == "default (under OFFBOARD_HOME)"


def test_config_show_masks_secrets_and_covers_the_webhook_secret(settings_here, monkeypatch):
    secret = "hr-shared-secret-0123456789"
    monkeypatch.setenv("OFFBOARD_WEBHOOK_SECRET", secret)
    table = runner.invoke(app, ["config", "show"])
    assert table.exit_code == 0, table.output
    assert "OFFBOARD_WEBHOOK_SECRET" in table.stdout and secret not in table.stdout
    item = shown()["webhook_secret"]
    assert (item["value"], item["source"]) == ("********", "environment")
    assert secret not in json.dumps(item)


@pytest.mark.parametrize(
    ("content", "named"),
    [("recent_activity_days = [", "config.toml"), ("protectd_user_names = []", "protectd")],
)
def test_a_bad_config_file_is_one_line_and_exit_2(
    settings_here, tmp_path, monkeypatch, content, named
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("OFFBOARD_HOME", str(home))
    (home / "config.toml").write_text(content + "\n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_value_in_dotenv_names_the_variable(settings_here):
    (settings_here / ".env").write_text("OFFBOARD_REVIEW_TIMEOUT_SECONDS=0\n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("offboard: error: OFFBOARD_REVIEW_TIMEOUT_SECONDS")


def test_the_suite_reads_no_dotenv_from_the_folder_it_runs_in():
    """tests/conftest.py sets OFFBOARD_ENV_FILE empty: a developer's .env cannot leak in."""
    import os

    from config.settings import env_file

    assert os.environ.get("OFFBOARD_ENV_FILE") == ""
    assert env_file() is None
