"""``offboard batch``: offboard many users at once, with a progress bar and a summary table."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli import render
from cli.errors import (
    JsonOption,
    cli_errors,
    confirmed,
    declined,
    emit_json,
    fail,
    terminal_input,
    writes_audit_trail,
)
from cli.options import OutputOption, ProfileOption, RegionOption, wants_json
from tasks.errors import InvalidInputError

if TYPE_CHECKING:
    from flows.batch_models import BatchPlan, BatchReport, BatchSelection, BatchUser
    from flows.report import OffboardingReport


def read_users_file(path: Path) -> BatchSelection:
    """One user per line, ``USER`` or ``ACCOUNT_ID:USER``; blank lines and # comments skipped."""
    from flows.batch_models import BatchSelection, BatchTarget

    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    targets: list[BatchTarget] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        account, _, name = line.rpartition(":")
        try:
            targets.append(BatchTarget(user_name=name, account_id=account or None))
        except ValidationError as exc:
            problem = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise InvalidInputError(f"{path}:{number}: {problem}") from None
    if not targets:
        raise InvalidInputError(f"{path} names no users")
    return BatchSelection(users=tuple(targets))


def _selection(
    users_file: Path | None, tag: str | None, group: str | None, employee_id: str | None
) -> BatchSelection:
    from flows.batch_models import BatchSelection

    given = [value for value in (users_file, tag, group, employee_id) if value is not None]
    if len(given) != 1:
        raise InvalidInputError(
            "choose the users one way: --users-file, --tag, --group or --employee-id"
        )
    if users_file is not None:
        return read_users_file(users_file)
    if tag is not None and not tag.partition("=")[0].strip():
        raise InvalidInputError(f"--tag must be KEY=VALUE, not {tag!r}")
    return BatchSelection(tag=tag, group=group, employee_id=employee_id)


class _ProgressBar:
    """A rich progress bar on stderr, fed by the batch from its worker threads."""

    def __init__(self, console: Console, dry_run: bool = False) -> None:
        self._label = "planning" if dry_run else "offboarding"
        # A dry run deletes nothing: its finished users are "planned", never "done".
        self._done = "planned" if dry_run else "done"
        self._progress = Progress(
            TextColumn(self._label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._lock = threading.Lock()
        self._counts = {"done": 0, "failed": 0, "held": 0}
        self._task: TaskID | None = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def _status(self) -> str:
        c = self._counts
        return (
            f"[green]{self._done} {c['done']}[/green] / [red]failed {c['failed']}[/red] / "
            f"[yellow]held {c['held']}[/yellow]"
        )

    def planned(self, plan: BatchPlan) -> None:
        # Shown from here on: a prompt before the plan must not be drawn over.
        self._progress.start()
        with self._lock:
            self._task = self._progress.add_task(
                self._label, total=len(plan.users), status=self._status()
            )

    def finished(self, user: BatchUser) -> None:
        with self._lock:
            category = user.category
            key = category if category in self._counts else "failed"
            self._counts[key] += 1
            if self._task is not None:
                self._progress.update(self._task, advance=1, status=self._status())


def _would_remove(result: OffboardingReport) -> str:
    """What a dry run found to remove, counted per kind, e.g. 'access keys 2, groups 1'."""
    if result.inventory is None:
        return ""
    found = result.inventory.attachments()
    labels = render.short_labels()
    counts = [f"{labels.get(kind, kind)} {len(ids)}" for kind, ids in found.items()]
    return ", ".join([*counts, "the user"])


def summary_table(report: BatchReport) -> Table:
    heading = "Offboarding batch (dry run)" if report.dry_run else "Offboarding batch"
    detail_column = "would remove" if report.dry_run else "detail"
    table = render.table(
        f"{heading}: {report.selection.describe()}",
        ("account", "user", "outcome", detail_column),
        ("API calls",),
    )
    styles = {"done": "green", "failed": "red", "held": "yellow", "refused": "red"}
    for item in report.users:
        result = item.report
        failure = result.failure
        if failure:
            detail = (
                f"{failure.step}: {failure.error_code} on {failure.action or '-'}: "
                f"{failure.message}"
            )
        elif report.dry_run:
            detail = _would_remove(result)
        else:
            detail = result.snapshot.location if result.snapshot else ""
        style = styles[item.category]
        table.add_row(
            item.account_id,
            result.user_name,
            f"[{style}]{result.outcome}[/{style}]",
            detail,
            str(result.deletion_api_calls + result.safety_api_calls + result.resolve_api_calls),
        )
    for skip in report.skipped:
        table.add_row(
            skip.account_id or "-",
            skip.user_name,
            f"[yellow]skipped: {skip.reason}[/yellow]",
            skip.message,
            "",
        )
    return table


def exit_code(report: BatchReport) -> int:
    """The worst category among the users: failed (or an account or user not looked at),
    then held, then refused (or not found). Protected principals are left out on purpose and
    do not count against the batch."""
    from flows.report import Category

    categories = {item.category for item in report.users}
    unreachable = {"account_unreachable", "lookup_failed"}
    if any(s.reason in unreachable for s in report.skipped) or report.account_failures:
        categories.add(Category.failed)
    if any(s.reason == "not_found" for s in report.skipped):
        categories.add(Category.refused)
    for worst in (Category.failed, Category.held, Category.refused):
        if worst in categories:
            return worst.exit_code
    return Category.done.exit_code


def totals_line(report: BatchReport) -> str:
    """The totals under the table; a dry run's users are planned, not done."""
    names = {"done": "planned"} if report.dry_run else {}
    counts = ", ".join(f"{names.get(name, name)} {n}" for name, n in report.totals.items())
    return f"totals{' (dry run, nothing changed)' if report.dry_run else ''}: {counts}"


def _confirm(plan: BatchPlan) -> bool:
    _print_plan(plan)
    return confirmed(f"Delete these {len(plan.users)} IAM users and everything attached to them?")


def _print_plan(plan: BatchPlan) -> None:
    table = render.table("Users to offboard", ("account", "user", "arn"))
    for planned in plan.users:
        table.add_row(planned.user.account_id, planned.user.user_name, planned.user.arn)
    render.console.print(table)
    for skip in plan.skipped:
        render.console.print(f"[yellow]left out[/yellow] {skip.user_name}: {skip.message}")


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @writes_audit_trail
    def batch(
        users_file: Annotated[
            Path | None,
            typer.Option(
                "--users-file",
                help="One user per line, or ACCOUNT_ID:USER for another account; # comments.",
            ),
        ] = None,
        tag: Annotated[
            str | None,
            typer.Option("--tag", metavar="KEY=VALUE", help="Every user carrying this tag."),
        ] = None,
        group: Annotated[str | None, typer.Option("--group", help="Every member.")] = None,
        employee_id: Annotated[
            str | None,
            typer.Option(
                "--employee-id",
                help="That person's users in every account (by the employee tag).",
            ),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Plan every user; change nothing.")
        ] = False,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
        allow_large_batch: Annotated[
            int | None,
            typer.Option(
                "--allow-large-batch",
                metavar="N",
                min=1,
                help="Allow a batch of up to N users beyond max_users_per_batch.",
            ),
        ] = None,
        reason: Annotated[str | None, typer.Option(help="Why the users are offboarded.")] = None,
        ticket: Annotated[str | None, typer.Option(help="Change or HR ticket id.")] = None,
        as_json: JsonOption = False,
        output: OutputOption = None,
        profile: ProfileOption = None,
        region: RegionOption = None,
    ) -> None:
        """Offboard every selected user, several at a time, under one IAM call rate.

        Protected principals are left out and reported. Exit codes: 0 every user done,
        1 a user failed or an account could not be searched, 2 bad input, too many users
        without --allow-large-batch, or a user refused or not found, 3 a user held by the
        activity guard, 5 not confirmed at the prompt (nothing changed).
        """
        as_json = wants_json(output, as_json)
        from flows.batch_progress import confirming, reporting_progress
        from flows.run_here import batch_here as run_batch

        selection = _selection(users_file, tag, group, employee_id)
        ask = not yes and not dry_run
        if ask and not terminal_input():
            raise fail("refusing to offboard without --yes when not run from a terminal", 2)
        parameters = {
            "dry_run": dry_run,
            "allow_large_batch": allow_large_batch,
            "reason": reason,
            "ticket": ticket,
        }
        from cli.local_server import prefect_api

        with ExitStack() as stack:
            stack.enter_context(prefect_api())
            if ask:
                # The flow plans once and asks here before its first change.
                stack.enter_context(confirming(_confirm))
            if not as_json:
                bar = stack.enter_context(_ProgressBar(Console(stderr=True), dry_run=dry_run))
                stack.enter_context(reporting_progress(bar))
            report = run_batch(selection, **parameters)
        if report.declined:
            raise declined()
        if as_json:
            emit_json(report)
        else:
            render.console.print(summary_table(report))
            render.console.print(totals_line(report))
        for failure in report.account_failures:
            typer.echo(
                f"offboard: account {failure.account_id or '-'}: "
                f"{failure.error_code}: {failure.message}",
                err=True,
            )
        raise typer.Exit(exit_code(report))
