"""``offboard references scan|clean USER_OR_UNIQUE_ID``: resource policies that still name a user,
and taking a deleted user's dangling principal out of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.console import console, table
from cli.errors import (
    JsonOption,
    cli_errors,
    confirm_or_exit,
    emit_json,
    fail,
    terminal_input,
    writes_audit_trail,
)
from cli.options import OutputOption, ProfileOption, RegionOption, wants_json

if TYPE_CHECKING:
    from flows.references import ReferencesReport
    from tasks.references.found import NotScanned, Reference

references_app = typer.Typer(
    help="Resource policies (S3, KMS, IAM role trust, SQS, SNS, Secrets Manager, Lambda, ECR) "
    "that name a user, and cleaning a deleted user out of them.",
    no_args_is_help=True,
)
UserArgument = Annotated[
    str, typer.Argument(metavar="USER_OR_UNIQUE_ID", help="IAM user name, or unique id (AIDA…).")
]


def print_references(
    title: str, found: tuple[Reference, ...] | list[Reference], missed: tuple[NotScanned, ...]
) -> None:
    """The statements naming the user, then what could not be read."""
    made = table(title, ("service", "region", "resource", "statement", "effect", "actions"))
    for ref in found:
        made.add_row(
            ref.service,
            ref.region,
            ref.resource_arn,
            ref.statement,
            ref.effect,
            ", ".join(ref.actions) or "-",
        )
    if not found:
        made.add_row("-", "-", "no resource policy names the user", "-", "-", "-")
    console.print(made)
    if missed:
        gaps = table("not scanned", ("service", "region", "resource", "why"))
        for gap in missed:
            why = f"{gap.reason} on {gap.action}" if gap.action else gap.reason
            gaps.add_row(gap.service, gap.region or "-", gap.resource_arn, why)
        console.print(gaps)


def _print_clean(report: ReferencesReport) -> None:
    made = table(
        f"References of {', '.join(report.principals)}",
        ("service", "resource", "statements", "outcome", "why"),
    )
    for result in report.resources:
        made.add_row(
            result.service,
            result.resource_arn,
            ", ".join(result.statements),
            result.outcome,
            result.message or "-",
        )
    if not report.resources:
        made.add_row("-", "no resource policy names the user", "-", "unchanged", "-")
    console.print(made)
    if report.not_scanned:
        print_references("not scanned", (), report.not_scanned)
    if report.snapshot is not None:
        console.print(f"old documents kept at {report.snapshot.location}")


@references_app.command("scan")
@cli_errors
def scan(
    user: UserArgument,
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List every resource-policy statement naming USER (its ARN and unique ids), in every
    region and service the settings allow, and what could not be read. Makes no mutating call."""
    from flows.dangling import parse_target

    as_json = wants_json(output, as_json)
    parse_target(user)
    from flows.references import scan_user

    principals, found = scan_user(user)
    if as_json:
        emit_json(found)
        return
    title = f"Resource policies naming {', '.join(principals.names)}"
    print_references(title, found.found, found.not_scanned)


@references_app.command("clean")
@cli_errors
@writes_audit_trail
def clean(
    user: UserArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (audited).")] = None,
    ticket: Annotated[str | None, typer.Option(help="Change ticket id.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Take a deleted USER (its ARN and unique ids from the audit trail, or the unique id
    given) out of every resource policy statement naming it; a statement goes when it was its
    only principal. Each old document is kept in the audit trail and a references snapshot.

    Exit codes: 0 cleaned (or nothing named it), 1 a resource could not be cleaned (a KMS key
    that would lose every administrator is left as it was; the others are cleaned), 2 refused
    (bad input, the user still exists, unknown to the trail), 5 not confirmed.
    """
    from flows.dangling import parse_target

    as_json = wants_json(output, as_json)
    parse_target(user)
    if not (yes or dry_run) and not terminal_input():
        raise fail(
            "refusing to change resource policies without --yes when not run from a terminal", 2
        )

    from cli.local_server import prefect_api
    from flows.references import clean_references

    with prefect_api():
        if not (yes or dry_run):
            planned = clean_references(user=user, dry_run=True)
            _finish(planned, as_json=False, end=False)
            if not planned.resources:
                raise typer.Exit(0)
            confirm_or_exit(f"Remove {user} from these {len(planned.resources)} resource policies?")
        report = clean_references(user=user, dry_run=dry_run, reason=reason, ticket=ticket)
    _finish(report, as_json)


def _finish(report: ReferencesReport, as_json: bool, end: bool = True) -> None:
    if as_json:
        emit_json(report)
    if report.outcome == "refused" and report.failure is not None:
        raise fail(report.failure.message, report.exit_code)
    if not as_json:
        _print_clean(report)
    if report.not_scanned:
        typer.echo(
            f"offboard: {len(report.not_scanned)} resources not scanned (see the table): "
            "the user may still be named there",
            err=True,
        )
    if report.failure is not None:
        raise fail(report.failure.message, report.exit_code)
    if end:
        raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.add_typer(references_app, name="references")
