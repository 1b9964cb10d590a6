"""The reference scan a run hands its guards: only the services the guards read, taken once per
account (a batch shares one among all of its users), or the scan's failure."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from flows.guards import GUARDS, Guard
from flows.report import StepFailure
from flows.task_calls import call_for_state
from tasks.references.scan import ReferenceScan, scan_references

log = structlog.get_logger("offboard.flow")


def guard_services(guards: Iterable[Guard] | None = None) -> tuple[str, ...]:
    """The scan services the guards read, in a stable order."""
    asked = GUARDS if guards is None else guards
    return tuple(sorted({service for guard in asked for service in guard.scans}))


def scan_for_guards(
    guards: Iterable[Guard] | None = None,
    everything: bool = False,
    account_id: str | None = None,
) -> ReferenceScan | StepFailure | None:
    """The scan of what the guards need in the current account (None: they need none), or of
    every service the settings allow (``everything``: what a plan shows); a scan that failed
    after its retries is its failure, for the guard to hold on. ``account_id``: the account,
    when the caller knows it."""
    services = None if everything else guard_services(guards)
    if services == ():
        return None
    state = call_for_state(scan_references, services=services, account_id=account_id)
    if not state.is_completed():
        failure = StepFailure.from_state("references", state)
        log.warning("references.scan_failed", error=failure.error_code, action=failure.action)
        return failure
    scan: ReferenceScan = state.result()
    return scan
