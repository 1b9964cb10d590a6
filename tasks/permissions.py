"""The engine's own IAM policy, generated from the PERMISSIONS each tasks/ module declares
(sub-packages such as tasks/references included)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import tasks

# Statement per service, so an operator can scope S3 to the snapshot bucket.
SIDS = {
    "iam": "OffboardIam",
    "s3": "OffboardSnapshots",
    "sts": "OffboardAccounts",
    "sso": "OffboardIdentityCenter",
    "identitystore": "OffboardIdentityStore",
}

# Reading and cleaning resource policies spans every resource of a service, so those actions
# get statements of their own, and scoping the ones above does not narrow them.
REFERENCES = "references"
NAMES = {"secretsmanager": "SecretsManager", "ec2": "Ec2", "sns": "Sns", "sqs": "Sqs"}


def declared_permissions() -> dict[str, tuple[str, ...]]:
    """Module name under tasks/ ("user", "references.scan") → the IAM actions it declares."""
    found: dict[str, tuple[str, ...]] = {}
    for module in pkgutil.walk_packages(tasks.__path__, prefix="tasks."):
        loaded = importlib.import_module(module.name)
        actions = getattr(loaded, "PERMISSIONS", None)
        if actions is not None:
            found[module.name.removeprefix("tasks.")] = tuple(actions)
    return found


def engine_permissions() -> tuple[str, ...]:
    return tuple(
        sorted({action for actions in declared_permissions().values() for action in actions})
    )


def _sid(service: str, references: bool) -> str:
    if references:
        return f"Offboard{REFERENCES.title()}{NAMES.get(service, service.title())}"
    return SIDS.get(service, f"Offboard{service.title()}")


def engine_policy() -> dict[str, Any]:
    # An action goes to a references statement only when nothing else needs it.
    elsewhere = {
        action
        for module, actions in declared_permissions().items()
        if not module.startswith(f"{REFERENCES}.") and module != REFERENCES
        for action in actions
    }
    by_sid: dict[str, list[str]] = {}
    for action in engine_permissions():
        service = action.split(":", 1)[0]
        by_sid.setdefault(_sid(service, action not in elsewhere), []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*"}
            for sid, actions in sorted(by_sid.items())
        ],
    }
