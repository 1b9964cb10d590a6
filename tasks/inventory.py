"""Inventory: what each deletion step will remove, listed once so the steps need not list again."""

from __future__ import annotations

from tasks.aws import count_calls, iam_client
from tasks.models import UserInventory
from tasks.procedure import ATTACHMENT_STEPS
from tasks.runtime import iam_task
from tasks.side_by_side import USER_READS_AT_ONCE, each


@iam_task(
    name="take-inventory",
    task_run_name="inventory:{user_name}",
)
def take_inventory(user_name: str) -> UserInventory:
    """Every list call of the procedure, paginated, all kinds at once; no mutating call."""
    iam = iam_client()
    with count_calls() as calls:
        listed = each(
            ATTACHMENT_STEPS, lambda step: step.spec.list_items(iam, user_name), USER_READS_AT_ONCE
        )
    found = {step.name: items for step, items in zip(ATTACHMENT_STEPS, listed, strict=True)}
    # Each lister returns its own item type; the model validates them into the right fields.
    return UserInventory.model_validate({"user_name": user_name, "api_calls": calls.count, **found})
