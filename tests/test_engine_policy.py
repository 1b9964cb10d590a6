"""The engine's IAM policy is generated from what its task modules declare beside their code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
from botocore import xform_name
from typer.testing import CliRunner

from cli.main import app
from tasks.permissions import declared_permissions, engine_policy

ROOT = Path(__file__).resolve().parents[1]
CALL = re.compile(r"\biam\.(?!get_paginator)([a-z_0-9]+)\(|get_paginator\(\"([a-z_0-9]+)\"\)")


def test_offboard_policy_prints_the_checked_in_engine_policy():
    result = CliRunner().invoke(app, ["policy"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == engine_policy()
    assert json.loads((ROOT / "deploy" / "engine-policy.json").read_text()) == engine_policy(), (
        "deploy/engine-policy.json is stale: regenerate it with `offboard policy`"
    )


def test_every_iam_call_in_a_task_module_is_declared_beside_it():
    model = botocore.session.get_session().get_service_model("iam")
    by_method = {xform_name(name): name for name in model.operation_names}
    declared = declared_permissions()
    checked = 0
    missing = []
    for path in sorted((ROOT / "tasks").glob("*.py")):
        calls = {a or b for a, b in CALL.findall(path.read_text())}
        for call in sorted(c for c in calls if c in by_method):
            checked += 1
            if f"iam:{by_method[call]}" not in declared.get(path.stem, ()):
                missing.append(f"{path.name}: iam:{by_method[call]}")
    assert missing == []
    assert checked > 40


def test_every_declared_action_is_a_real_action():
    model = botocore.session.get_session().get_service_model("iam")
    for actions in declared_permissions().values():
        for action in actions:
            service, _, name = action.partition(":")
            if service == "iam":
                assert name in model.operation_names, action
