"""``offboard audit``: check and read the audit trail of offboarding runs.

Exit codes of ``verify``: 0 intact, 1 tampered (a broken chain, a line that is not a record, a
cut-off tail, a forged chain or checkpoint, records not sealed, an anchor not in the chain),
2 nothing to verify (no log, an empty log, unreadable) or bad input (``--public-key``,
``--expect-head``). ``show`` exits 1 at a line that is not a record and 2 without a log.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli.console import console
from cli.console import table as make_table
from cli.options import OutputOption, wants_json
from config.settings import get_settings

if TYPE_CHECKING:
    from audit.records import AuditRecord
    from audit.sealed import SealReport

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
VERDICT_EXIT = {"intact": 0, "tampered": 1, "no_log": 2}


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"offboard: error: {message}", err=True)
    return typer.Exit(code)


def _log_path(file: Path | None) -> Path:
    return file if file is not None else get_settings().audit_log


@audit_app.command("verify")
def verify_command(
    file: FileArgument = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            metavar="KEY_OR_FILE",
            help="The engine's public key (as 'offboard audit public-key' prints it, or a file "
            "holding it): check the checkpoints' signatures and that every record is sealed.",
        ),
    ] = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="HASH",
            help="A head hash kept elsewhere (the run's artifact, S3 audit-heads/): it must be "
            "in the chain.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the hash chain, the signed checkpoints beside it and an anchor.

    Exit 0 intact, 1 tampered (broken chain, cut-off tail, forged chain or checkpoint,
    unsealed records, anchor not found), 2 no log, an empty log or bad input.
    """
    from audit.sealed import verify_sealed
    from audit.signing import PublicKeyError, parse_public_key

    key = None
    if public_key is not None:
        try:
            key = parse_public_key(public_key)
        except PublicKeyError as exc:
            raise _fail(f"--public-key: {exc}", 2) from None
    if expect_head is not None:
        expect_head = expect_head.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expect_head):
            raise _fail("--expect-head: not a SHA-256 hash (64 hex digits)", 2)
    path = _log_path(file)
    report = verify_sealed(path, key, expect_head)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    elif report.ok:
        for line in _intact_lines(report):
            typer.echo(line)
        if not report.checkpoints and key is None:
            typer.echo(
                f"offboard: note: no checkpoints beside {path}; nothing is proven against "
                "a cut-off tail or a rewritten chain",
                err=True,
            )
    elif report.verdict == "no_log" or report.first_bad_line is None:
        typer.echo(f"offboard: error: {report.problem}", err=True)
    else:
        where = "audit chain broken" if report.chain_broken else "audit log tampered"
        typer.echo(
            f"offboard: error: {where} at line {report.first_bad_line}: {report.problem}",
            err=True,
        )
    raise typer.Exit(VERDICT_EXIT[report.verdict])


def _intact_lines(report: SealReport) -> list[str]:
    lines = [f"audit chain intact: {report.records} records, head {report.head_hash or '-'}"]
    if report.sealed_seq is not None:
        checked = (
            f"signature verified (key {report.key_id})"
            if report.signatures_checked
            else "signature not checked: pass --public-key"
        )
        at = report.sealed_at.isoformat() if report.sealed_at else "-"
        lines.append(f"sealed up to record {report.sealed_seq} at {at}, {checked}")
    if report.checkpoints and report.unsealed and not report.signatures_checked:
        lines.append(f"{report.unsealed} records after the last checkpoint are not sealed")
    if report.anchor_seq is not None:
        lines.append(f"anchor head found at record {report.anchor_seq}")
    return lines


@audit_app.command("public-key")
def public_key_command() -> None:
    """Print the public key that verifies the trail's checkpoints (creating the engine's
    signing key on first use). Keep it where the log's writers cannot change it."""
    from audit.signing import (
        SigningKeyError,
        key_id,
        load_signing_key,
        public_key_text,
        signing_key_file,
    )

    try:
        key = load_signing_key().public_key()
    except SigningKeyError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(public_key_text(key))
    typer.echo(f"offboard: key {key_id(key)} from {signing_key_file()}", err=True)


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
    from audit.trail import AuditTrailError, read_records

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
