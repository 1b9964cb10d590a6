"""Guards: checks after the access review that hold a user before the first destructive step.

The guards are data: each is a small module with a ``GUARD`` that reads what the run found
(``GuardInput``) and answers a hold or nothing; ``GUARDS`` lists them in the order they are
asked. A held run deletes nothing (a real run deactivates the user instead); an operator may
override a guard by name, always with a reason, and the override is audited here, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flows.auditing import RunAudit
from flows.guards import activity, kms
from flows.guards.base import Guard, GuardInput, Hold
from flows.report import FailureKind, StepFailure
from tasks.errors import InvalidInputError

__all__ = ["GUARDS", "Guard", "GuardInput", "GuardsPassed", "Held", "Hold", "ask_guards"]

# In the order they are asked: a new guard is a module with a ``GUARD`` and a line here.
GUARDS: tuple[Guard, ...] = (activity.GUARD, kms.GUARD)


def check_overrides(overrides: Iterable[str], reason: str | None) -> frozenset[str]:
    """The guard names to override, refused (InvalidInputError) when unknown or without a
    reason, before any AWS call."""
    names = frozenset(overrides)
    known = {guard.name for guard in GUARDS}
    unknown = sorted(names - known)
    if unknown:
        raise InvalidInputError(
            f"unknown guard {', '.join(unknown)} to override: use one of {', '.join(sorted(known))}"
        )
    if names and not (reason and reason.strip()):
        raise InvalidInputError(
            f"overriding a guard ({', '.join(sorted(names))}) needs a reason (--reason)"
        )
    return names


@dataclass(frozen=True)
class GuardsPassed:
    overridden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Held:
    failure: StepFailure
    guard: Guard


def ask_guards(
    found: GuardInput,
    overrides: frozenset[str],
    audit: RunAudit,
    guards: Iterable[Guard] | None = None,
) -> Held | GuardsPassed:
    """Every guard in order: the first hold that is not overridden, as a held failure (audited),
    or what was overridden (each override audited)."""
    overridden: list[str] = []
    for guard in GUARDS if guards is None else guards:
        hold = guard.check(found)
        if hold is None:
            continue
        if guard.name in overrides:
            audit.record("guard", "guard.override", "done", message=f"{guard.name}: {hold.message}")
            overridden.append(guard.name)
            continue
        audit.record("guard", "guard.hold", "held", message=hold.message)
        failure = StepFailure(
            step="guard",
            error_code=hold.error_code,
            action=None,
            message=hold.message,
            kind=FailureKind.held,
            guard=guard.name,
            hold=hold.outcome,
        )
        return Held(failure, guard)
    return GuardsPassed(tuple(overridden))
