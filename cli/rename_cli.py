"""``offboard rename``: rename a user or change its path, and rewrite the policies naming it.

Exit codes: 0 renamed (or planned), 1 a change failed, 2 refused (bad input, unknown or
protected user, name taken), 5 not confirmed at the prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from cli.errors import (
    JsonOption,
    cli_errors,
    confirm_or_exit,
    emit_json,
    fail,
    terminal_input,
    writes_audit_trail,
)
from cli.local_server import prefect_api
from cli.options import ProfileOption, RegionOption

if TYPE_CHECKING:
    from flows.rename_user import RenameReport
    from tasks.rename import PolicyChange, RenamePlan

DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def register(app: typer.Typer) -> None:
    """Add ``rename`` to the main app."""
    app.command("rename")(rename)


@cli_errors
@writes_audit_trail
def rename(
    user: Annotated[str, typer.Argument(help="IAM user name")],
    new_name: Annotated[str | None, typer.Option("--new-name", help="The user's new name.")] = None,
    new_path: Annotated[
        str | None, typer.Option("--new-path", help="The user's new path, e.g. /staff/.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show the plan; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the user is renamed.")] = None,
    ticket: Annotated[str | None, typer.Option(help="Change ticket id.")] = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Rename USER and/or change its path, then rewrite every customer-managed and inline
    policy that names its old ARN as a resource (IAM does not do that itself).

    Exit codes: 0 renamed or planned, 1 a change failed, 2 refused (bad input, unknown or
    protected user, the new name is taken), 5 not confirmed at the prompt (nothing changed).
    """
    from flows.rename_user import validate_rename_input

    validate_rename_input(user, new_name, new_path)
    if not (yes or dry_run) and not terminal_input():
        raise fail("refusing to rename without --yes when not run from a terminal", 2)
    with prefect_api():
        _rename(user, new_name, new_path, reason, ticket, dry_run, yes, as_json)


def _rename(
    user: str,
    new_name: str | None,
    new_path: str | None,
    reason: str | None,
    ticket: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    from flows.rename_user import rename_user

    if dry_run or not yes:
        planned = rename_user(
            user_name=user,
            new_name=new_name,
            new_path=new_path,
            dry_run=True,
            reason=reason,
            ticket=ticket,
        )
        if dry_run or planned.outcome != "planned":
            finish(planned, as_json)
        # The plan goes to stderr under --json, so stdout stays one JSON document.
        console = Console(stderr=as_json, soft_wrap=True)
        print_report(planned, console)
        confirm_or_exit(f"Rename IAM user {user} and rewrite these policies?")
    report = rename_user(
        user_name=user, new_name=new_name, new_path=new_path, reason=reason, ticket=ticket
    )
    # After a confirmation the plan is already on screen.
    finish(report, as_json, show_plan=yes)


def finish(report: RenameReport, as_json: bool, show_plan: bool = True) -> NoReturn:
    """Print the report and leave with its outcome's exit code."""
    if as_json:
        emit_json(report)
    elif report.outcome != "refused":
        print_report(report, Console(soft_wrap=True), show_plan=show_plan)
    code = report.exit_code
    if report.outcome == "refused" and report.failure:
        raise fail(report.failure.message, code)
    if report.outcome == "failed":
        for failure in report.failures:
            typer.echo(f"offboard: error: {failure.step}: {failure.message}", err=True)
    raise typer.Exit(code)


def print_report(report: RenameReport, console: Console, show_plan: bool = True) -> None:
    plan = report.plan
    if plan is None:
        return
    console.print(Text(f"Rename {plan.old_arn}\n    to {plan.new_arn}", style="bold"))
    if report.resumed_run_id:
        console.print(Text(f"(renamed earlier in run {report.resumed_run_id}; finishing)"))
    if show_plan:
        print_plan(plan, console)
    if report.dry_run:
        return
    for applied in report.applied:
        what = (
            applied.owner if applied.kind == "managed" else f"{applied.owner}/{applied.policy_name}"
        )
        state = "rewritten" if applied.outcome == "done" else "already rewritten"
        console.print(Text(f"{applied.action} {what}: {state}"))
    style = "green" if report.outcome == "renamed" else "red"
    console.print(Text.assemble("outcome: ", (report.outcome, style)))
    for change in report.unapplied:
        console.print(Text(f"not rewritten: {change.label}", style="red"))


def print_plan(plan: RenamePlan, console: Console) -> None:
    count = len(plan.changes)
    subject = "policy names" if count == 1 else "policies name"
    console.print(Text(f"{count} {subject} the old ARN as a resource"))
    for change in plan.changes:
        console.print(_heading(change))
        console.print(diff_text(change.diff))
    if plan.trust_policy_mentions:
        console.print(Text("Roles that trust the user (AWS updates these itself, left as is):"))
        for mention in plan.trust_policy_mentions:
            console.print(Text(f"  {mention.role_arn}"))


def _heading(change: PolicyChange) -> Text:
    heading = Text(change.label, style="bold")
    if change.version_to_delete:
        heading.append(
            f" (deletes its oldest version {change.version_to_delete} to make room)",
            style="yellow",
        )
    return heading


def diff_text(diff: str) -> Text:
    # Text, not markup: policy documents may contain square brackets.
    text = Text()
    for line in diff.splitlines(keepends=True):
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        text.append(line, style=style)
    return text
