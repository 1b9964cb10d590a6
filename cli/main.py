"""``offboard``: plan, run and inspect IAM offboarding from the command line.

Exit codes: 0 success, 1 the run failed, 2 usage or validation error (including unknown user).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from cli import batch_cli, deactivation_cli, rename_cli, render, runs_cli, webhook_cli
from cli.audit_cli import audit_app
from cli.errors import JsonOption, cli_errors, emit_json, fail
from config.logging import configure_logging
from tasks.models import validate_user_name
from tasks.user import resolve_user

app = typer.Typer(
    name="offboard",
    help="Offboard AWS IAM users: review, plan and run the AWS CLI deletion procedure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _setup() -> None:
    configure_logging(level=os.environ.get("OFFBOARD_LOG_LEVEL", "WARNING"))


@app.command()
@cli_errors
def plan(
    user: Annotated[str, typer.Argument(help="IAM user name")], as_json: JsonOption = False
) -> None:
    """Show what offboarding USER would remove. Makes no mutating call."""
    from tasks.inventory import take_inventory

    validate_user_name(user)
    summary = resolve_user(user)
    inventory = take_inventory.fn(user)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "user": summary.model_dump(mode="json"),
                    "inventory": inventory.model_dump(mode="json"),
                },
                indent=2,
            )
        )
        return
    render.console.print(render.plan_table(summary, inventory))


# Exit codes by outcome: refused is a caller error (2), held by the guard is 3.
OUTCOME_EXIT = {
    "deleted": 0,
    "planned": 0,
    "failed": 1,
    "refused": 2,
    "held_recently_active": 3,
    "held_review_incomplete": 3,
    "deactivated_pending_deletion": 1,
}


@app.command()
@cli_errors
def run(
    user: Annotated[str, typer.Argument(help="IAM user name")],
    reason: Annotated[str | None, typer.Option(help="Why the user is offboarded.")] = None,
    ticket: Annotated[str | None, typer.Option(help="Change or HR ticket id.")] = None,
    override_activity_guard: Annotated[
        bool,
        typer.Option(
            "--override-activity-guard",
            help="Delete even if the user was recently active (needs --reason; audited).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete USER with every attachment, in the order of the AWS CLI procedure.

    Exit codes: 0 deleted, 1 a step failed, 2 refused (bad input, unknown or protected user),
    3 held by the activity guard (recently active, or the access review did not complete).
    """
    validate_user_name(user)
    if override_activity_guard and not (reason and reason.strip()):
        raise fail("--override-activity-guard needs --reason", 2)
    if not yes:
        if not sys.stdin.isatty():
            raise fail("refusing to delete without --yes when not run from a terminal", 2)
        plan(user)
        typer.confirm(f"Delete IAM user {user} and everything attached to it?", abort=True)

    from flows.offboard_user import run_offboarding

    report = run_offboarding(
        user_name=user,
        reason=reason,
        ticket=ticket,
        override_activity_guard=override_activity_guard,
    )
    if as_json:
        emit_json(report)
    elif report.outcome != "refused":
        render.print_report(report)
    code = OUTCOME_EXIT[report.outcome]
    failure = report.failure
    if report.outcome == "refused" and failure:
        raise fail(failure.message, code)
    if failure and failure.step == "guard":
        # The guard is not a failure of the run: its own message and exit code.
        done = "deactivated until a rerun" if report.deactivation else "not changed (dry run)"
        typer.echo(
            f"offboard: held by the activity guard, user {done}: {failure.message}", err=True
        )
        raise typer.Exit(3)
    if report.outcome == "deactivated_pending_deletion" and failure:
        typer.echo(
            f"offboard: step {failure.step} failed ({failure.error_code} on {failure.action}); "
            "the user is deactivated pending deletion: rerun to finish",
            err=True,
        )
    if report.outcome == "failed" and failure and failure.error_code == "AuditTrailUnwritable":
        # Neither deleted nor deactivated: one line saying so and what is left (write-ahead).
        typer.echo(f"offboard: error: {failure.message}", err=True)
    raise typer.Exit(code)


@app.command()
@cli_errors
def review(
    user: Annotated[str, typer.Argument(help="IAM user name")], as_json: JsonOption = False
) -> None:
    """Review USER's recent access: last activity per service, per access key, password."""
    from tasks.inventory import take_inventory
    from tasks.review import review_access

    validate_user_name(user)
    summary = resolve_user(user)
    found = review_access.fn(summary, take_inventory.fn(user))
    if as_json:
        emit_json(found)
    else:
        render.print_review(found)


@app.command()
@cli_errors
def restore(
    snapshot: Annotated[str, typer.Argument(help="Snapshot path or s3:// URL.")],
    new_name: Annotated[
        str | None, typer.Option("--new-name", help="Recreate under another name.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recreate a user from SNAPSHOT; lists the credentials that must be issued anew."""
    if new_name is not None:
        validate_user_name(new_name)
    from flows.restore_user import restore_user
    from tasks.snapshot import load_snapshot

    load_snapshot(snapshot)  # a bad path or file is a usage error, before any IAM call
    report = restore_user(snapshot_location=snapshot, new_name=new_name)
    if as_json:
        emit_json(report)
    else:
        render.print_restore(report)


@app.command()
@cli_errors
def users(
    group: Annotated[str | None, typer.Option(help="Only members of this group.")] = None,
    path_prefix: Annotated[str | None, typer.Option(help="Only users under this path.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the IAM users in the account, or in one group."""
    from tasks.listing import list_users

    found = list_users(group=group, path_prefix=path_prefix)
    if as_json:
        emit_json(found)
    else:
        render.console.print(render.users_table(found))


@app.command()
@cli_errors
def groups(
    user: Annotated[str, typer.Argument(help="IAM user name")], as_json: JsonOption = False
) -> None:
    """List the groups USER is a member of."""
    from tasks.listing import list_groups_for_user

    validate_user_name(user)
    found = list_groups_for_user(user)
    if as_json:
        emit_json(found)
    else:
        render.console.print(render.groups_table(found))


@app.command()
def policy() -> None:
    """Print the engine's least-privilege IAM policy (the actions its tasks call)."""
    from tasks.permissions import engine_policy

    typer.echo(json.dumps(engine_policy(), indent=2))


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 5000,
    seed_demo: Annotated[bool, typer.Option("--seed-demo", help="Create demo users.")] = False,
) -> None:
    """Serve the embedded IAM sandbox on 127.0.0.1 until interrupted."""
    from sandbox.server import run_forever

    run_forever(port, seed_demo)


@app.command()
def demo() -> None:
    """Offboard a demo user end to end on a fresh embedded sandbox."""
    from cli.demo import run_demo

    raise typer.Exit(run_demo())


app.add_typer(audit_app, name="audit")
deactivation_cli.register(app)
batch_cli.register(app)
runs_cli.register(app)
webhook_cli.register(app)
rename_cli.register(app)


def main() -> None:
    app()
