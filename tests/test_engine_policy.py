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
# Calls on the IAM client (named ``iam`` in every task module): operations and paginators.
CALL = re.compile(r"\b(?:iam|iam_client\(\))\.(?:get_paginator\(\"([a-z_0-9]+)\"\)|([a-z_0-9]+)\()")


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
    for path in sorted((ROOT / "tasks").rglob("*.py")):
        module = _module(path)
        calls = {a or b for a, b in CALL.findall(path.read_text())}
        for call in sorted(c for c in calls if c in by_method):
            checked += 1
            if f"iam:{by_method[call]}" not in declared.get(module, ()):
                missing.append(f"{module}: iam:{by_method[call]}")
    assert missing == []
    assert checked > 40


def _module(path: Path) -> str:
    """tasks/references/scan.py -> references.scan, as declared_permissions() names it."""
    return ".".join(path.relative_to(ROOT / "tasks").with_suffix("").parts)


# IAM actions named otherwise than the API operation they allow.
ACTION_FOR = {"s3:ListBuckets": "s3:ListAllMyBuckets"}
ANY_CALL = re.compile(r"\.(?!get_paginator)([a-z_0-9]+)\(|get_paginator\(\"([a-z_0-9]+)\"\)")


def test_every_call_a_reference_module_makes_is_declared_beside_it():
    """A resource-policy module declares each call it makes on the services it names."""
    session = botocore.session.get_session()
    declared = declared_permissions()
    checked = 0
    missing = []
    for path in sorted((ROOT / "tasks" / "references").glob("*.py")):
        module = _module(path)
        actions = declared.get(module, ())
        calls = {a or b for a, b in ANY_CALL.findall(path.read_text())}
        for service in sorted({action.split(":", 1)[0] for action in actions}):
            model = session.get_service_model(service)
            by_method = {xform_name(name): name for name in model.operation_names}
            for call in sorted(c for c in calls if c in by_method):
                checked += 1
                action = f"{service}:{by_method[call]}"
                if ACTION_FOR.get(action, action) not in actions:
                    missing.append(f"{module}: {action}")
    assert missing == []
    assert checked > 25


def test_every_declared_action_is_a_real_action():
    session = botocore.session.get_session()
    operations = {v: k for k, v in ACTION_FOR.items()}
    for actions in declared_permissions().values():
        for action in actions:
            service, _, name = operations.get(action, action).partition(":")
            # IAM's prefix for the sso-admin API is "sso" (botocore's "sso" is the portal API).
            model = session.get_service_model({"sso": "sso-admin"}.get(service, service))
            assert name in model.operation_names, action


def test_reference_actions_have_statements_apart_from_the_snapshot_bucket():
    """Scoping the snapshot statement to one bucket leaves bucket policies readable."""
    statements = {s["Sid"]: s["Action"] for s in engine_policy()["Statement"]}
    assert "s3:GetBucketPolicy" in statements["OffboardReferencesS3"]
    assert statements["OffboardSnapshots"] == ["s3:GetObject", "s3:PutObject"]
    assert "kms:RevokeGrant" in statements["OffboardReferencesKms"]
