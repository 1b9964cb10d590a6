"""Secrets never leave IAM through the engine; the safety rails as the CLI shows them."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from sandbox.fixtures import create_loaded_user
from tests.helpers import engine_settings

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found += [p for p in root.rglob("*") if p.is_file()]
    return found


def engine_files() -> list[Path]:
    """Everything the engine keeps: the home, and the trail and store wherever they are."""
    settings = get_settings()
    return files_under(settings.home, Path(settings.audit_log), Path(settings.snapshot_store))


def prefect_files() -> list[Path]:
    """Prefect's home, its database and its result storage, as the harness configured them."""
    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_HOME,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
    )

    url = str(PREFECT_API_DATABASE_CONNECTION_URL.value() or "")
    database = [Path(url.split(":///", 1)[1])] if url.startswith("sqlite") else []
    roots = [Path(PREFECT_HOME.value()), Path(PREFECT_RESULTS_LOCAL_STORAGE_PATH.value())]
    return files_under(*roots, *database)


def test_known_secrets_appear_in_no_output_log_file_or_artifact(
    sandbox, iam, user_name, monkeypatch, caplog
):
    from prefect.artifacts import Artifact

    from flows.report_artifact import artifact_key

    monkeypatch.setenv("OFFBOARD_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    iam.create_user(UserName=user_name, Path="/staff/")
    secret_key = iam.create_access_key(UserName=user_name)["AccessKey"]["SecretAccessKey"]
    password = "Kn0wn-Passw0rd!-for-offboard-tests"
    iam.create_login_profile(UserName=user_name, Password=password)
    service_password = iam.create_service_specific_credential(
        UserName=user_name, ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]["ServicePassword"]
    secrets = [secret_key, password, service_password]
    caplog.clear()  # from here on, only what the engine logs (botocore's DEBUG included)

    outputs = []
    for args in (
        ["plan", user_name],
        ["plan", user_name, "--json"],
        ["review", user_name],
        ["review", user_name, "--json"],
        ["run", user_name, "--yes", "--json"],
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
        outputs += [result.stdout, result.stderr]
    snapshot = json.loads(outputs[-2])["snapshot"]["location"]
    for args in (["restore", snapshot, "--json"], ["restore", snapshot]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        outputs += [result.stdout, result.stderr]

    artifact = Artifact.get(artifact_key(user_name))
    written = [path.read_text() for path in engine_files()]
    assert any(snapshot.endswith(path.name) for path in engine_files())
    haystacks = [*outputs, *written, caplog.text, str(artifact.data if artifact else "")]
    for secret in secrets:
        for text in haystacks:
            assert secret not in text
    # Prefect's own records (flow and task run parameters, states, logs, artifacts, results)
    # hold none either: its database is searched byte for byte.
    stored = prefect_files()
    assert any(path.suffix == ".db" for path in stored), stored
    for path in stored:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path


def test_held_user_exits_3_with_the_guards_message(sandbox, iam, user_name):
    from sandbox.access_activity import record_password_use

    create_loaded_user(iam, user_name)
    record_password_use(user_name, datetime.now(UTC) - timedelta(days=2))
    result = invoke("run", user_name, "--yes")
    assert result.exit_code == 3, result.output
    assert "held by the activity guard" in result.stderr
    iam.get_user(UserName=user_name)
    assert invoke("run", user_name, "--yes", "--override-activity-guard").exit_code == 2
    result = invoke("run", user_name, "--yes", "--override-activity-guard", "--reason", "left")
    assert result.exit_code == 0, result.output


def test_protected_user_exits_2_naming_the_rule(sandbox, iam, user_name):
    create_loaded_user(iam, user_name, tags={"offboard:protected": "true"})
    result = invoke("run", user_name, "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"offboard: error: {user_name} is protected: it carries the protected tag "
        "offboard:protected=true"
    ]


def test_review_json_lists_services_and_keys(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    result = invoke("review", user_name, "--json")
    assert result.exit_code == 0, result.output
    review = json.loads(result.stdout)
    assert review["complete"] is True
    assert {k["access_key_id"] for k in review["access_keys"]} == set(loaded.access_key_ids)
    assert review["mfa_devices"] == [loaded.mfa_serial]


def test_restore_of_a_missing_snapshot_exits_2_before_any_call(sandbox, tmp_path):
    mark = sandbox.requests.mark()
    result = invoke("restore", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot read snapshot" in result.stderr
    assert sandbox.requests.since(mark) == []


def test_audit_verify_through_the_main_command(sandbox, iam, user_name, tmp_path):
    create_loaded_user(iam, user_name)
    assert invoke("run", user_name, "--yes").exit_code == 0
    log = Path(get_settings().audit_log)
    ok = invoke("audit", "verify")
    assert ok.exit_code == 0 and "intact" in ok.stdout
    copy = tmp_path / "audit.jsonl"
    shutil.copy(log, copy)
    lines = copy.read_text().splitlines()
    lines[1] = lines[1].replace('"outcome":"done"', '"outcome":"held"')
    lines[0], lines[1] = lines[1], lines[0]
    copy.write_text("\n".join(lines) + "\n")
    bad = invoke("audit", "verify", str(copy))
    assert bad.exit_code == 1 and "line 1" in bad.stderr
    with engine_settings(audit_log=str(tmp_path / "missing.jsonl")):
        assert invoke("audit", "verify").exit_code == 2
