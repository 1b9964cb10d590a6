"""Inventory: what each deletion step will remove, listed once so the steps need not list again."""

from __future__ import annotations

from tasks.aws import count_calls, iam_client
from tasks.models import UserInventory
from tasks.procedure import ATTACHMENT_STEPS
from tasks.runtime import iam_task


@iam_task(
    name="take-inventory",
    task_run_name="inventory:{user_name}",
)
def take_inventory(user_name: str) -> UserInventory:
    """Every list call of the procedure, paginated; no mutating call."""
    iam = iam_client()
    with count_calls() as calls:
        found = {step.name: step.spec.list_items(iam, user_name) for step in ATTACHMENT_STEPS}
    # Each lister returns its own item type; the model validates them into the right fields.
    return UserInventory.model_validate({"user_name": user_name, "api_calls": calls.count, **found})
