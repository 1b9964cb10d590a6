"""``offboard deactivate`` / ``reactivate`` / ``leave sync``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import render
from cli.errors import JsonOption, cli_errors, emit_json, fail, writes_audit_trail
from cli.local_server import prefect_api
from cli.options import ProfileOption, RegionOption
from tasks.models import validate_user_name

leave_app = typer.Typer(help="Leave windows from the calendar.", no_args_is_help=True)


def _finish(report: object, as_json: bool) -> None:
    from flows.deactivation import DeactivationReport

    assert isinstance(report, DeactivationReport)
    if as_json:
        emit_json(report)
    if report.exit_code:
        raise fail(report.message or str(report.outcome), report.exit_code)
    if not as_json:
        for change in report.changes:
            what = [*change.policies_put, *change.policies_removed]
            what += [f"{k.access_key_id}→{k.status}" for k in change.keys_changed]
            render.console.print(f"{change.step}: {', '.join(what) or 'already in place'}")
        render.console.print(f"{report.action} {report.user_name}: done")


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @writes_audit_trail
    def deactivate(
        user: Annotated[str, typer.Argument(help="IAM user name")],
        start: Annotated[
            str | None, typer.Option("--from", help="ISO 8601 with zone, e.g. 2026-12-24T00:00:00Z")
        ] = None,
        until: Annotated[str | None, typer.Option("--until", help="ISO 8601 with zone")] = None,
        disable_keys: Annotated[
            bool, typer.Option("--disable-keys", help="Also set Active access keys Inactive.")
        ] = False,
        reason: Annotated[str | None, typer.Option(help="Why (audited).")] = None,
        ticket: Annotated[str | None, typer.Option(help="Change or HR ticket id.")] = None,
        as_json: JsonOption = False,
        profile: ProfileOption = None,
        region: RegionOption = None,
    ) -> None:
        """Deny USER everything (optionally only between --from and --until)."""
        from flows.deactivation import deactivate_user
        from tasks.deactivation import make_window

        validate_user_name(user)
        window = make_window(start, until)
        with prefect_api():
            report = deactivate_user(
                user_name=user,
                window=window,
                disable_keys=disable_keys,
                reason=reason,
                ticket=ticket,
            )
        _finish(report, as_json)

    @app.command()
    @cli_errors
    @writes_audit_trail
    def reactivate(
        user: Annotated[str, typer.Argument(help="IAM user name")],
        reason: Annotated[str | None, typer.Option(help="Why (audited).")] = None,
        ticket: Annotated[str | None, typer.Option(help="Change or HR ticket id.")] = None,
        as_json: JsonOption = False,
        profile: ProfileOption = None,
        region: RegionOption = None,
    ) -> None:
        """Remove the deny policy and re-activate exactly the keys the engine disabled."""
        from flows.deactivation import reactivate_user

        validate_user_name(user)
        with prefect_api():
            report = reactivate_user(user_name=user, reason=reason, ticket=ticket)
        _finish(report, as_json)

    @leave_app.command("sync")
    @cli_errors
    @writes_audit_trail
    def leave_sync(
        calendar: Annotated[
            str | None, typer.Option(help="Calendar file (default: the leave_calendar setting).")
        ] = None,
        as_json: JsonOption = False,
        profile: ProfileOption = None,
        region: RegionOption = None,
    ) -> None:
        """Apply the leave calendar once: upcoming and current windows on, ended ones off."""
        from config.leave_calendar import CalendarError, load_calendar
        from config.settings import get_settings
        from flows.leave_sync import sync_leave_deactivations

        settings = get_settings()
        try:
            # Read once before the flow starts, so that a bad file is one line, not a failed run.
            load_calendar(
                Path(calendar) if calendar else settings.leave_calendar,
                settings.leave_calendar_max_bytes,
            )
        except CalendarError as exc:
            raise fail(str(exc), 2) from None
        with prefect_api():
            report = sync_leave_deactivations(calendar=calendar)
        if as_json:
            emit_json(report)
            return
        table = Table(title=f"Leave sync from {report.calendar}", title_justify="left")
        for column in ("user", "policies put", "policies removed"):
            table.add_column(column)
        for change in report.users:
            table.add_row(
                change.user_name,
                "\n".join(change.policies_put) or "-",
                "\n".join(change.policies_removed) or "-",
            )
        render.console.print(table)
        for skipped in report.skipped:
            render.console.print(f"[yellow]skipped[/yellow] {skipped.entry}: {skipped.problem}")

    app.add_typer(leave_app, name="leave")
