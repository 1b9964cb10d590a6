"""``offboard``: plan, run and inspect IAM offboarding from the command line.

Exit codes: 0 success, 1 the run failed, 2 usage or validation error (including unknown user),
3 held by a guard, 4 the audit log is torn or not an audit log (refused before any AWS call;
see 'audit verify'), 5 not confirmed at a prompt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from cli import (
    batch_cli,
    config_cli,
    deactivation_cli,
    references_cli,
    rename_cli,
    render,
    restore_cli,
    runs_cli,
    webhook_cli,
)
from cli.audit_cli import audit_app
from cli.errors import (
    JsonOption,
    cli_errors,
    emit_json,
    fail,
    held_message,
    terminal_input,
    writes_audit_trail,
)
from cli.help import add_help
from cli.options import OutputOption, OverrideOption, ProfileOption, RegionOption, wants_json
from cli.server_cli import server_app
from config.logging import configure_logging
from tasks.models import validate_user_name

app = typer.Typer(
    name="offboard",
    help="Offboard AWS IAM users: review, plan and run the AWS CLI deletion procedure.",
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"offboard {version('offboard')}")
        raise typer.Exit()


@app.callback()
@cli_errors
def _setup(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    _profile: ProfileOption = None,
    _region: RegionOption = None,
) -> None:
    """Offboard AWS IAM users: review, plan and run the AWS CLI deletion procedure.

    `--profile` and `--region` given here apply to any command, as given after the command.
    """
    configure_logging(level=os.environ.get("OFFBOARD_LOG_LEVEL", "WARNING"))


EmployeeIdOption = Annotated[
    str | None,
    typer.Option(
        "--employee-id",
        metavar="ID",
        show_default=False,
        help="Everyone HR's employee id names: the Identity Center users and the IAM users in "
        "every target account.",
    ),
]


IdentityCenterUserOption = Annotated[
    str | None,
    typer.Option(
        "--identity-center-user",
        metavar="NAME",
        show_default=False,
        help="An IAM Identity Center user: user name, email, or external id ISSUER#ID.",
    ),
]


@app.command()
@cli_errors
def plan(
    user: Annotated[str | None, typer.Argument(help="IAM user name")] = None,
    employee_id: EmployeeIdOption = None,
    identity_center_user: IdentityCenterUserOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the plan for `run --plan FILE`.")
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show what offboarding USER (or everyone --employee-id names) would remove. Makes no
    mutating call.

    The plan is the run's own dry run: the protection check and the guards answer as in the
    run, and the resource policies naming the user (left dangling by its deletion) are listed.

    Exit codes: 0 the run would delete, 2 refused (bad input, unknown or protected user, as
    `run` refuses), 3 a guard would hold the run (the message names it and its override).
    """
    from cli.dry_run import dry_run, show_hold, show_plan
    from flows.saved_plan import save_plan

    as_json = wants_json(output, as_json)
    if identity_center_user is not None:
        if user is not None or out is not None or employee_id is not None:
            raise fail("--identity-center-user takes no IAM user, --employee-id or --out", 2)
        from cli.person_cli import plan_identity_center

        plan_identity_center(identity_center_user, as_json)
        return
    if employee_id is not None or user is None:
        if user is not None or out is not None or employee_id is None:
            raise fail("name an IAM user, or --employee-id (without --out)", 2)
        from cli.person_cli import plan_person

        plan_person(employee_id, as_json)
        return
    report = dry_run(user)
    summary, inventory = report.user, report.inventory
    assert summary is not None and inventory is not None and report.actor is not None
    if out is not None:
        saved = save_plan(out, summary, inventory, report.actor)
        typer.echo(f"offboard: plan saved to {out} (sha256 {saved.digest})", err=True)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "user": summary.model_dump(mode="json"),
                    "inventory": inventory.model_dump(mode="json"),
                    "outcome": str(report.outcome),
                    "hold": report.failure.model_dump(mode="json") if report.failure else None,
                    "references": _json_or_none(report.references),
                },
                indent=2,
            )
        )
    else:
        show_plan(report)
        show_hold(report)
    raise typer.Exit(report.exit_code)


def _json_or_none(model: BaseModel | None) -> Any:
    return model.model_dump(mode="json") if model is not None else None


@app.command()
@cli_errors
@writes_audit_trail
def run(
    user: Annotated[str | None, typer.Argument(help="IAM user name (or from --plan)")] = None,
    employee_id: EmployeeIdOption = None,
    identity_center_user: IdentityCenterUserOption = None,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Remove exactly what this saved plan lists (plan --out)."),
    ] = None,
    replan: Annotated[
        bool,
        typer.Option("--replan", help="With --plan: proceed even if IAM changed (audited)."),
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the user is offboarded.")] = None,
    ticket: Annotated[str | None, typer.Option(help="Change or HR ticket id.")] = None,
    override_activity_guard: Annotated[
        bool,
        typer.Option(
            "--override-activity-guard",
            help="Delete even if the user was recently active (needs --reason; audited).",
        ),
    ] = False,
    override: OverrideOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Delete USER with every attachment, in the order of the AWS CLI procedure.

    Exit codes: 0 deleted, 1 a step failed, 2 refused (bad input, unknown or protected user),
    3 held by the activity guard (recently active, or the access review did not complete),
    4 the audit log is torn or not an audit log (nothing changed; see 'offboard audit verify'),
    5 not confirmed at the prompt (nothing changed).
    """
    as_json = wants_json(output, as_json)
    if identity_center_user is not None:
        others = (user, employee_id, plan_file, override or None, override_activity_guard or None)
        if any(other is not None for other in others):
            raise fail(
                "--identity-center-user takes no IAM user, --employee-id, --plan or override", 2
            )
        from cli.person_cli import run_identity_center

        run_identity_center(identity_center_user, reason, ticket, yes, as_json)
    if employee_id is not None:
        if user is not None or plan_file is not None or override_activity_guard or override:
            raise fail("--employee-id takes no user, --plan or override", 2)
        from cli.person_cli import run_person

        run_person(employee_id, reason, ticket, yes, as_json)
    from flows.saved_plan import plan_for_run

    user, saved_plan = plan_for_run(user, plan_file, replan)
    if override_activity_guard and not (reason and reason.strip()):
        raise fail("--override-activity-guard needs --reason", 2)
    from flows.guards import check_overrides

    overrides = sorted(check_overrides(override or (), reason))
    if not yes:
        if not terminal_input():
            raise fail("refusing to delete without --yes when not run from a terminal", 2)
        from cli.dry_run import confirm_run

        activity = ("activity",) if override_activity_guard else ()
        confirm_run(user, (*overrides, *activity), reason)

    from cli.local_server import prefect_api
    from flows.run_here import offboard_here

    with prefect_api():
        report = offboard_here(
            user_name=user,
            reason=reason,
            ticket=ticket,
            override_activity_guard=override_activity_guard,
            plan=saved_plan,
            replan=replan,
            # Only when given: a deployment made before guards had names takes the others.
            **({"override_guards": tuple(overrides)} if overrides else {}),
        )
    if as_json:
        emit_json(report)
    elif report.outcome != "refused":
        render.print_report(report)
    from flows.report import FailureKind

    code = report.exit_code
    failure = report.failure
    if report.outcome == "refused" and failure:
        raise fail(failure.message, code)
    if failure and failure.kind is FailureKind.held:
        # A guard's hold is not a failure of the run: its own message and exit code.
        typer.echo(
            held_message(user, failure.guard, failure.message, bool(report.deactivation)), err=True
        )
        raise typer.Exit(code)
    if report.outcome == "deactivated_pending_deletion" and failure:
        typer.echo(
            f"offboard: step {failure.step} failed ({failure.error_code} on {failure.action}); "
            "the user is deactivated pending deletion: rerun to finish",
            err=True,
        )
    if report.outcome == "failed" and failure and failure.kind is FailureKind.audit_unwritable:
        # Neither deleted nor deactivated: one line saying so and what is left (write-ahead).
        typer.echo(f"offboard: error: {failure.message}", err=True)
    raise typer.Exit(code)


@app.command()
@cli_errors
def review(
    user: Annotated[str, typer.Argument(help="IAM user name")],
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Review USER's recent access: last activity per service, per access key, password; and
    the resource policies that name the user.

    The run's own dry run reviews it: exit codes as `plan` (2 refused, 3 a guard would hold).
    """
    from cli.dry_run import dry_run, show_hold, show_references

    as_json = wants_json(output, as_json)
    report = dry_run(user)
    assert report.review is not None
    if as_json:
        data = {
            **report.review.model_dump(mode="json"),
            "references": _json_or_none(report.references),
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        render.print_review(report.review)
        show_references(report)
        show_hold(report)
    raise typer.Exit(report.exit_code)


@app.command()
@cli_errors
def users(
    group: Annotated[str | None, typer.Option(help="Only members of this group.")] = None,
    path_prefix: Annotated[str | None, typer.Option(help="Only users under this path.")] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List the IAM users in the account, or in one group."""
    from tasks.listing import list_users

    as_json = wants_json(output, as_json)
    found = list_users(group=group, path_prefix=path_prefix)
    if as_json:
        emit_json(found)
    else:
        render.console.print(render.users_table(found))


@app.command()
@cli_errors
def groups(
    user: Annotated[str, typer.Argument(help="IAM user name")],
    as_json: JsonOption = False,
    output: OutputOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List the groups USER is a member of."""
    from tasks.listing import list_groups_for_user

    as_json = wants_json(output, as_json)
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
    latency_ms: Annotated[
        float,
        typer.Option(
            "--latency-ms", min=0, help="Delay every AWS request, as real IAM's round trip does."
        ),
    ] = 0,
) -> None:
    """Serve the embedded IAM sandbox on 127.0.0.1 until interrupted."""
    from sandbox.server import run_forever

    run_forever(port, seed_demo, latency_ms=latency_ms)


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
references_cli.register(app)
restore_cli.register(app)
app.add_typer(config_cli.config_app, name="config")
app.add_typer(server_app, name="server")
add_help(app)


def main() -> None:
    app()
