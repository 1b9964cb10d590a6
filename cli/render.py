"""Human-readable output (rich); ``--json`` output bypasses this module."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.console import Console
from rich.table import Table

from flows.report import OffboardingReport
from flows.restore_user import RestoreReport
from tasks.listing import GroupListing, UserListing
from tasks.models import UserInventory, UserSummary
from tasks.review import AccessReview

console = Console()

KIND_LABELS = {
    "login_profile": "1. password (login profile)",
    "access_keys": "2. access keys",
    "signing_certificates": "3. signing certificates",
    "ssh_public_keys": "4. SSH public keys",
    "service_specific_credentials": "5. service-specific credentials",
    "mfa_devices": "6. MFA devices",
    "inline_policies": "7. inline policies",
    "attached_policies": "8. managed policies (detach)",
    "groups": "9. group memberships",
    "user": "10. the user",
}


def plan_table(user: UserSummary, inventory: UserInventory) -> Table:
    table = Table(title=f"Offboarding plan for {user.arn}", title_justify="left")
    table.add_column("step")
    table.add_column("count", justify="right")
    table.add_column("items")
    for kind, label in KIND_LABELS.items():
        items = inventory.items(kind)
        table.add_row(label, str(len(items)), "\n".join(items) or "-")
    return table


def report_table(report: OffboardingReport) -> Table:
    target = report.user.arn if report.user else report.user_name
    table = Table(title=f"Offboarding run for {target}", title_justify="left")
    table.add_column("step")
    table.add_column("removed", justify="right")
    table.add_column("already absent", justify="right")
    table.add_column("API calls", justify="right")
    for result in report.steps:
        table.add_row(
            KIND_LABELS.get(result.step, result.step),
            str(len(result.removed)),
            str(len(result.already_absent)),
            str(result.api_calls),
        )
    return table


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def print_review(review: AccessReview) -> None:
    state = "complete" if review.complete else f"INCOMPLETE: {review.incomplete_reason}"
    console.print(f"Access review of {review.user_arn} ({state})")
    console.print(f"last activity: {_when(review.last_activity)}")
    console.print(f"password last used: {_when(review.password_last_used)}")
    console.print(f"MFA devices: {', '.join(review.mfa_devices) or 'none'}")
    services = Table(title="services", title_justify="left")
    for column in ("service", "last authenticated", "region", "actions used"):
        services.add_column(column)
    for service in review.services:
        used = [a.action_name for a in service.actions if a.last_accessed]
        services.add_row(
            service.namespace,
            _when(service.last_authenticated),
            service.region or "-",
            ", ".join(used) or "-",
        )
    console.print(services)
    keys = Table(title="access keys", title_justify="left")
    for column in ("key", "status", "last used", "service", "region"):
        keys.add_column(column)
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
    table = Table()
    for column in ("user", "path", "arn", "created"):
        table.add_column(column)
    for user in users:
        table.add_row(user.user_name, user.path, user.arn, user.create_date.isoformat())
    return table


def groups_table(groups: Iterable[GroupListing]) -> Table:
    table = Table()
    for column in ("group", "path", "arn"):
        table.add_column(column)
    for group in groups:
        table.add_row(group.group_name, group.path, group.arn)
    return table


def print_restore(report: RestoreReport) -> None:
    table = Table(title=f"Restored {report.user_name} from {report.snapshot}", title_justify="left")
    for column in ("kind", "restored", "already present"):
        table.add_column(column)
    for result in report.steps:
        table.add_row(result.step, str(len(result.restored)), str(len(result.already_present)))
    console.print(table)
    if report.not_restorable:
        console.print("[bold]Not restorable (issue anew):[/bold]")
        for line in report.not_restorable:
            console.print(f"  - {line}")
