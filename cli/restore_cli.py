"""``offboard restore``: recreate a user (IAM or Identity Center) from its snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import render
from cli.errors import JsonOption, cli_errors, emit_json, fail, writes_audit_trail


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @writes_audit_trail
    def restore(
        snapshot: Annotated[str, typer.Argument(help="Snapshot path or s3:// URL.")],
        new_name: Annotated[
            str | None, typer.Option("--new-name", help="Recreate under another name.")
        ] = None,
        into_account: Annotated[
            str | None,
            typer.Option(
                "--into-account",
                help="Restore a snapshot of another account into this one "
                "(the credentials' account).",
            ),
        ] = None,
        into_existing: Annotated[
            bool,
            typer.Option(
                "--into-existing",
                help="Add the snapshot's access to a user that already exists "
                "(never a protected one).",
            ),
        ] = False,
        reason: Annotated[str | None, typer.Option(help="Why the user is restored.")] = None,
        ticket: Annotated[str | None, typer.Option(help="Change ticket id.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Recreate a user from SNAPSHOT; lists the credentials that must be issued anew.

        The whole snapshot is checked before the first write. Exit codes: 0 restored, 1 a write
        failed (the message names what was created; run the same restore again to finish),
        2 refused (bad snapshot, another account, missing policy or group, existing or protected
        user).
        """
        from cli.local_server import prefect_api
        from flows.restore_user import restore_user, validate_restore_input
        from tasks.restore_checks import check_names
        from tasks.snapshot import load_snapshot

        validate_restore_input(new_name, into_account)
        from tasks.identity_center.snapshot import is_idc_snapshot

        if is_idc_snapshot(snapshot):
            if new_name or into_account or into_existing:
                raise fail(
                    "an Identity Center snapshot is restored as it is: no option but --reason", 2
                )
            from cli.person_cli import restore_identity_center_user

            restore_identity_center_user(snapshot, reason, as_json)
        # A bad path or file is a usage error, before any IAM call.
        loaded = load_snapshot(snapshot)
        check_names(loaded, new_name or loaded.user.user_name, snapshot)
        with prefect_api():
            report = restore_user(
                snapshot_location=snapshot,
                new_name=new_name,
                into_account=into_account,
                into_existing=into_existing,
                reason=reason,
                ticket=ticket,
            )
        if as_json:
            emit_json(report)
        elif report.outcome == "restored":
            render.print_restore(report)
        if report.failure is not None:
            raise fail(report.failure.message, report.exit_code)
