"""``offboard audit``: check and read the audit trail of offboarding runs.

Exit codes: 0 success, 1 the chain is broken or a line is not a record, 2 no readable log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from audit.records import AuditRecord
from audit.trail import AuditTrailError, read_records, verify
from cli.console import console
from cli.console import table as make_table
from cli.options import OutputOption, wants_json
from config.settings import get_settings

audit_app = typer.Typer(
    help="Check and read the audit trail of offboarding runs.",
    no_args_is_help=True,
)

FileArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Audit log to read (default: the audit_log setting, OFFBOARD_AUDIT_LOG).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]

OUTCOME_STYLES = {"done": "green", "already_absent": "green", "failed": "red", "held": "yellow"}


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"offboard: error: {message}", err=True)
    return typer.Exit(code)


def _log_path(file: Path | None) -> Path:
    return file if file is not None else get_settings().audit_log


@audit_app.command("verify")
def verify_command(file: FileArgument = None, as_json: JsonOption = False) -> None:
    """Check the audit log's hash chain. Exit 0 intact, 1 broken, 2 no log."""
    path = _log_path(file)
    report = verify(path)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    if report.ok:
        if not as_json:
            typer.echo(
                f"audit chain intact: {report.records} records, head {report.head_hash or '-'}"
            )
        return
    if report.first_bad_line is None:
        if not as_json:
            typer.echo(f"offboard: error: {report.problem}", err=True)
        raise typer.Exit(2)
    if not as_json:
        typer.echo(
            f"offboard: error: audit chain broken at line {report.first_bad_line}: "
            f"{report.problem}",
            err=True,
        )
    raise typer.Exit(1)


@audit_app.command("show")
def show_command(
    file: FileArgument = None,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID", help="Only this run's records.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", metavar="NAME", help="Only records about this user.")
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """List the audit records, oldest first. Does not check the chain; see 'verify'."""
    as_json = wants_json(output, as_json)
    path = _log_path(file)
    try:
        records = [
            record
            for record in read_records(path)
            if (run_id is None or record.run_id == run_id)
            and (user is None or record.target.user_name == user)
        ]
    except FileNotFoundError:
        raise _fail(f"no audit log at {path}", 2) from None
    except AuditTrailError as exc:
        raise _fail(f"{exc}; check it with 'offboard audit verify'", 1) from None
    except OSError as exc:
        raise _fail(f"cannot read audit log at {path}: {exc.strerror or exc}", 2) from None
    if as_json:
        typer.echo(json.dumps([record.model_dump(mode="json") for record in records], indent=2))
        return
    if not records:
        typer.echo("no audit records")
        return
    console.print(_records_table(records))


def _records_table(records: list[AuditRecord]) -> Table:
    # Full run ids and times: they are pasted into `audit show --run` and `rerun`.
    table = make_table(
        columns=("time", "run", "user", "step", "action", "outcome"), numbers=("resources",)
    )
    table.add_column("error", overflow="fold")
    for record in records:
        # Text cells: names and messages from IAM must not be read as rich markup.
        table.add_row(
            record.time.strftime("%Y-%m-%d %H:%M:%SZ"),
            Text(record.run_id or "-"),
            Text(record.target.user_name),
            Text(record.step),
            Text(record.action),
            Text(record.outcome, style=OUTCOME_STYLES.get(record.outcome, "")),
            str(len(record.resources)),
            Text(record.error_code or "-"),
        )
    return table
