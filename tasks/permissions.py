"""The engine's own IAM policy, generated from the PERMISSIONS each tasks/ module declares."""

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


def declared_permissions() -> dict[str, tuple[str, ...]]:
    """Module name (under tasks/) → the IAM actions it declares, for every module in tasks/
    and its sub-packages. A sub-package whose ``__init__`` declares PERMISSIONS speaks for all
    of its modules (they are not walked)."""
    found: dict[str, tuple[str, ...]] = {}

    def walk(path: list[str], prefix: str) -> None:
        for module in pkgutil.iter_modules(path, prefix=prefix):
            loaded = importlib.import_module(module.name)
            actions = getattr(loaded, "PERMISSIONS", None)
            if actions is not None:
                found[module.name.removeprefix("tasks.")] = tuple(actions)
            elif module.ispkg:
                walk(list(loaded.__path__), f"{module.name}.")

    walk(list(tasks.__path__), "tasks.")
    return found


def engine_permissions() -> tuple[str, ...]:
    return tuple(
        sorted({action for actions in declared_permissions().values() for action in actions})
    )


def engine_policy() -> dict[str, Any]:
    by_service: dict[str, list[str]] = {}
    for action in engine_permissions():
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": SIDS.get(service, f"Offboard{service.title()}"),
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*",
            }
            for service, actions in sorted(by_service.items())
        ],
    }
