"""Human-readable output (rich); ``--json`` output bypasses this module."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.table import Table

from cli.console import console as console
from cli.console import table as table

if TYPE_CHECKING:
    # Annotations only: importing the engine here would load Prefect and boto3 for --help.
    from flows.report import OffboardingReport
    from flows.restore_user import RestoreReport
    from tasks.listing import GroupListing, UserListing
    from tasks.models import UserInventory, UserSummary
    from tasks.review import AccessReview


def short_labels() -> dict[str, str]:
    """What a dry run counts per user, in the procedure's order."""
    from tasks.procedure import ATTACHMENT_STEPS

    return {step.name: step.spec.label for step in ATTACHMENT_STEPS}


def kind_labels() -> dict[str, str]:
    """The plan's rows, numbered as the procedure's steps."""
    from tasks.procedure import DELETION_PROCEDURE

    return {
        step.name: f"{number}. {step.spec.title}"
        for number, step in enumerate(DELETION_PROCEDURE, start=1)
    }


def plan_table(user: UserSummary, inventory: UserInventory) -> Table:
    made = table(f"Offboarding plan for {user.arn}", ("step",), ("count",))
    made.add_column("items", overflow="fold")
    for kind, label in kind_labels().items():
        items = inventory.items(kind)
        made.add_row(label, str(len(items)), "\n".join(items) or "-")
    return made


def report_table(report: OffboardingReport) -> Table:
    target = report.user.arn if report.user else report.user_name
    made = table(
        f"Offboarding run for {target}", ("step",), ("removed", "already absent", "API calls")
    )
    labels = kind_labels()
    for result in report.steps:
        made.add_row(
            labels.get(result.step, result.step),
            str(len(result.removed)),
            str(len(result.already_absent)),
            str(result.api_calls),
        )
    return made


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def print_review(review: AccessReview) -> None:
    state = "complete" if review.complete else f"INCOMPLETE: {review.incomplete_reason}"
    console.print(f"Access review of {review.user_arn} ({state})")
    console.print(f"last activity: {_when(review.last_activity)}")
    console.print(f"password last used: {_when(review.password_last_used)}")
    console.print(f"MFA devices: {', '.join(review.mfa_devices) or 'none'}")
    services = table("services", ("service", "last authenticated", "region", "actions used"))
    for service in review.services:
        used = [a.action_name for a in service.actions if a.last_accessed]
        services.add_row(
            service.namespace,
            _when(service.last_authenticated),
            service.region or "-",
            ", ".join(used) or "-",
        )
    console.print(services)
    keys = table("access keys", ("key", "status", "last used", "service", "region"))
    for key in review.access_keys:
        keys.add_row(
            key.access_key_id,
            key.status,
            _when(key.last_used),
            key.service or "-",
            key.region or "-",
        )
    console.print(keys)


def print_report(report: OffboardingReport) -> None:
    if report.user and report.inventory and (report.dry_run or not report.steps):
        console.print(plan_table(report.user, report.inventory))
    if report.review:
        print_review(report.review)
    if report.snapshot:
        console.print(f"snapshot: {report.snapshot.location}")
    if report.dry_run:
        return
    console.print(report_table(report))
    style = "green" if report.outcome == "deleted" else "red"
    console.print(f"outcome: [{style}]{report.outcome}[/{style}] (rounds: {report.rounds})")
    if report.failure:
        failure = report.failure
        console.print(
            f"[red]failed at step {failure.step}[/red]: {failure.error_code} on "
            f"{failure.action or '-'}: {failure.message}"
        )
        console.print(f"completed steps: {', '.join(report.completed_steps) or 'none'}")
    if report.user and report.remaining and not report.remaining.is_empty:
        console.print(plan_table(report.user, report.remaining))
    console.print(
        f"API calls: resolve {report.resolve_api_calls}, lists+deletes {report.deletion_api_calls}"
    )


def users_table(users: Iterable[UserListing]) -> Table:
    made = table(columns=("user", "path", "arn", "created"))
    for user in users:
        made.add_row(user.user_name, user.path, user.arn, user.create_date.isoformat())
    return made


def groups_table(groups: Iterable[GroupListing]) -> Table:
    made = table(columns=("group", "path", "arn"))
    for group in groups:
        made.add_row(group.group_name, group.path, group.arn)
    return made


def print_restore(report: RestoreReport) -> None:
    made = table(
        f"Restored {report.user_name} from {report.snapshot}",
        ("kind",),
        ("restored", "already present"),
    )
    for result in report.steps:
        made.add_row(result.step, str(len(result.restored)), str(len(result.already_present)))
    console.print(made)
    if report.not_restorable:
        console.print("[bold]Not restorable (issue anew):[/bold]")
        for line in report.not_restorable:
            console.print(f"  - {line}")
