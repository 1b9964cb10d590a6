"""What `plan`, `review` and the confirmation before `run` show: the flow's own dry run, so the
protection check and every guard answer there exactly as they will in the run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import typer

from cli import render
from cli.errors import confirm_or_exit, fail, held_message
from tasks.models import validate_user_name

if TYPE_CHECKING:
    from flows.report import OffboardingReport


def dry_run(
    user: str,
    overrides: Iterable[str] = (),
    reason: str | None = None,
    scan_everything: bool = True,
    account_id: str | None = None,
) -> OffboardingReport:
    """The run's dry run (no mutating call, no audit record, no Prefect server), its reference
    scan of every service the settings allow; a refused user (unknown, protected) exits 2
    here with the run's own message."""
    from flows.offboarding import OffboardRequest, offboard_one
    from flows.report import Category

    validate_user_name(user)
    report = offboard_one(
        OffboardRequest(
            user_name=user,
            account_id=account_id,
            dry_run=True,
            overrides=frozenset(overrides),
            reason=reason,
            scan_everything=scan_everything,
        )
    )
    if report.category is Category.refused:
        raise fail(report.failure.message if report.failure else str(report.outcome), 2)
    return report


def show_plan(report: OffboardingReport) -> None:
    """The plan table, then the resource policies naming the user."""

    assert report.user is not None and report.inventory is not None
    render.console.print(render.plan_table(report.user, report.inventory))
    show_references(report)


def show_references(report: OffboardingReport) -> None:
    from cli.references_cli import print_references

    found = report.references
    if found is not None:
        print_references("Resource policies naming the user", found.found, found.not_scanned)


def show_hold(report: OffboardingReport, deactivates: bool = False) -> None:
    """The guard that holds the user, why, and the command that overrides it."""
    failure = report.failure
    if failure is not None and failure.guard is not None:
        typer.echo(
            held_message(report.user_name, failure.guard, failure.message, deactivates), err=True
        )


def held_guard_deactivates(report: OffboardingReport) -> bool:
    from flows.guards import GUARDS

    guard = report.failure.guard if report.failure else None
    return any(g.name == guard and g.deactivates for g in GUARDS)


def confirm_run(user: str, overrides: Iterable[str], reason: str | None) -> None:
    """Show what the run will do and ask; a held user is asked about what the run will do
    instead of deleting (deactivate it, or nothing)."""
    # Exactly what the run will read first: its guards' scan, not every service (plan does that).
    report = dry_run(user, overrides, reason, scan_everything=False)
    show_plan(report)
    if report.category.value != "held":
        confirm_or_exit(f"Delete IAM user {user} and everything attached to it?")
        return
    show_hold(report)
    if not held_guard_deactivates(report):
        raise typer.Exit(report.exit_code)
    confirm_or_exit(f"Deactivate IAM user {user} instead (a deny-all policy, keys disabled)?")
