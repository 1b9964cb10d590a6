"""The deletion order is data, and it is the seed's CLI procedure."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import botocore.session
from botocore import xform_name

from tasks.models import UserInventory
from tasks.procedure import ATTACHMENT_STEPS, DELETION_PROCEDURE, FINAL_STEP

# The AWS documentation the product implements ("Managing IAM users"), kept as test data.
SEED = Path(__file__).resolve().parent / "data" / "managing-iam-users.txt"


def seed_steps() -> list[list[str]]:
    """The `aws iam` commands of each numbered step of 'To delete a user ... (AWS CLI)'."""
    text = SEED.read_text()
    section = text.split("To delete a user from your account (AWS CLI)", 1)[1]
    section = section.split("Deactivating an IAM user", 1)[0]
    blocks = re.split(r"^\s+\d+\.\s", section, flags=re.MULTILINE)[1:]
    return [re.findall(r"aws iam ([a-z0-9-]+)", block) for block in blocks]


def test_step_order_matches_the_seed_procedure() -> None:
    steps = seed_steps()
    assert len(steps) == 10
    assert [list(step.spec.seed_commands) for step in DELETION_PROCEDURE] == steps


def test_the_user_itself_is_deleted_last() -> None:
    assert DELETION_PROCEDURE[-1] is FINAL_STEP
    assert FINAL_STEP.spec.seed_commands == ("delete-user",)
    assert [s.spec.retry_on_conflict for s in DELETION_PROCEDURE] == [False] * 9 + [True]


def test_each_step_declares_the_iam_actions_of_its_commands() -> None:
    model = botocore.session.get_session().get_service_model("iam")
    by_command = {xform_name(op).replace("_", "-"): op for op in model.operation_names}
    for step in DELETION_PROCEDURE:
        for command in step.spec.seed_commands:
            assert f"iam:{by_command[command]}" in step.spec.permissions, (step.name, command)


def test_each_step_lives_in_the_module_of_its_name() -> None:
    for step in DELETION_PROCEDURE:
        module = importlib.import_module(f"tasks.{step.name}")
        assert module.SPEC is step.spec


def test_the_inventory_has_a_field_for_each_attachment_step_in_order() -> None:
    fields = [name for name in UserInventory.model_fields if name not in {"user_name", "api_calls"}]
    assert fields == [step.name for step in ATTACHMENT_STEPS]
