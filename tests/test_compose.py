"""The production deployment files: deploy/docker-compose.yml against the Compose Specification's
JSON schema, pinned images, healthchecks, restarts and secrets from files; the image installs
at build time from deploy/constraints.txt; deploy/prefect.yaml deploys nothing scheduled on a
calendar nobody chose. Docker does not run here: nothing is built."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.lock import runtime_tree

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Vendored from github.com/compose-spec/compose-spec (Apache-2.0), see tests/data/compose-spec.
SCHEMA = Path(__file__).parent / "data" / "compose-spec" / "compose-spec.json"
# An exact release: major.minor[.patch], optionally a variant (-bookworm, -python3.11).
EXACT_TAG = re.compile(r"^\d+\.\d+(\.\d+)?(-[a-z0-9.]+)*$")
RESTART = {"always", "unless-stopped", "on-failure"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            assert canonicalize_name(name) not in pins, f"pinned twice: {name}"
            pins[canonicalize_name(name)] = version
    return pins


def prefect_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()), key=str)

    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_the_schema_check_catches_a_broken_compose_file() -> None:
    """The validation above can fail: a misspelt key and a wrong type are both reported."""
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["webhook"]["restart_policy"] = "always"
    broken["services"]["worker"]["ports"] = "8080:8080"

    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken)]

    assert any("restart_policy" in m for m in messages), messages
    assert any("'8080:8080' is not of type 'array'" in m for m in messages), messages


def test_every_image_is_pinned_to_an_exact_version() -> None:
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services().items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and EXACT_TAG.fullmatch(tag), f"{name}: {image} floats"
        if "build" in service:
            assert tag == project_version, f"{name}: the built image is tagged {tag}"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases, "no FROM in deploy/Dockerfile"
    for base in bases:
        assert EXACT_TAG.fullmatch(base.rpartition(":")[2]), f"Dockerfile base {base} floats"


def test_prefect_server_image_matches_the_pinned_prefect_version() -> None:
    """Server and worker must speak one API: the server's tag, the worker image's pin and
    prefect.yaml's prefect-version are the same release."""
    pinned = constraints()["prefect"]
    server_image = services()["server"]["image"]

    assert server_image == f"prefecthq/prefect:{pinned}-python3.11"
    assert str(prefect_yaml()["prefect-version"]) == pinned


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in services().items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert service.get("restart") in RESTART, f"{name} restart: {service.get('restart')}"


def test_nothing_is_installed_when_a_container_starts() -> None:
    for name, service in services().items():
        started = json.dumps([service.get("command"), service.get("entrypoint")])
        assert "pip install" not in started and "pip3 install" not in started, name
        assert "install-policy never" in started or name != "worker"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if "pip install" in line:
            assert line.startswith("RUN "), f"pip outside a build step: {line}"
    assert "--requirement deploy/constraints.txt" in dockerfile


def test_webhook_listens_on_all_interfaces_inside_the_network_behind_a_loopback_port() -> None:
    webhook = services()["webhook"]
    command = webhook["command"]

    assert command[:2] == ["offboard", "webhook"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    # Published on the host's loopback only: a TLS proxy stands in front.
    assert webhook["ports"] == ["127.0.0.1:8787:8787"]
    assert "TLS" in (DEPLOY / "docker-compose.yml").read_text()


def test_secrets_come_from_files_not_from_the_compose_file() -> None:
    spec = compose()
    declared = spec["secrets"]
    webhook = services()["webhook"]
    postgres = services()["postgres"]

    assert all("file" in source for source in declared.values())
    assert webhook["environment"]["OFFBOARD_WEBHOOK_SECRET_FILE"] == (
        "/run/secrets/offboard_webhook_secret"
    )
    assert "offboard_webhook_secret" in webhook["secrets"]
    assert "OFFBOARD_WEBHOOK_SECRET" not in webhook["environment"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    for name, service in services().items():
        for variable in service.get("environment") or {}:
            secret = any(word in variable for word in ("PASSWORD", "SECRET", "TOKEN"))
            assert not secret or variable.endswith("_FILE"), f"{name}: {variable} in environment"
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_constraints_pin_every_direct_dependency_within_its_range() -> None:
    pins = constraints()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    for text in project["dependencies"]:
        requirement = Requirement(text)
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version}"
    for text in project["optional-dependencies"]["dev"]:
        tool = canonicalize_name(Requirement(text).name)
        assert tool not in pins or tool in runtime_tree(), f"dev-only {tool} in the image"


def test_lock_reads_the_runtime_tree_with_extras_and_without_dev_tools() -> None:
    tree = {canonicalize_name(name) for name in runtime_tree()}

    assert {"prefect", "boto3", "botocore", "moto", "pydantic-core"} <= tree
    assert "flask" in tree  # moto[server]: an extra is followed
    assert not {"pytest", "ruff", "mypy", "hypothesis", "schemathesis"} & tree
    assert "offboard" not in tree


def test_leave_deployment_names_no_calendar_and_starts_paused() -> None:
    [leave] = [d for d in prefect_yaml()["deployments"] if d["name"] == "leave-deactivations"]

    assert "calendar" not in (leave.get("parameters") or {})
    assert leave["schedules"], "the schedule is documented as present, to be turned on"
    for schedule in leave["schedules"]:
        assert schedule["active"] is False
        assert "calendar" not in (schedule.get("parameters") or {})
    assert "leave.example" not in json.dumps(prefect_yaml())


@pytest.fixture
def deployed(prefect_harness: None, tmp_path: Path) -> dict[str, Any]:
    """deploy/prefect.yaml deployed as README says, on the test server; the server's view."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "OFFBOARD_PROJECT_DIR": str(ROOT),
    }
    prefect = [sys.executable, "-m", "prefect"]
    for args in (
        ["work-pool", "create", "offboard", "--type", "process", "--overwrite"],
        ["--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"],
    ):
        done = subprocess.run(
            prefect + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("leave-deactivations/leave-deactivations")
    return {
        "parameters": deployment.parameters,
        "schedules": [(s.active, s.parameters) for s in deployment.schedules],
    }


def test_deploying_as_readme_says_leaves_the_leave_schedule_paused(
    deployed: dict[str, Any],
) -> None:
    assert deployed["parameters"] == {}
    assert deployed["schedules"] == [(False, {})]
