"""`offboard plan --employee-id E` and `offboard run --employee-id E`: one person everywhere,
their Identity Center users and their IAM users in every target account."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from cli import render
from cli.console import table
from cli.errors import confirm_or_exit, emit_json, fail, terminal_input

if TYPE_CHECKING:
    from flows.identity_center_rails import IdcReport
    from flows.person import PersonTargets
    from tasks.identity_center.models import IdcInventory, IdcUser


def _targets(employee_id: str) -> PersonTargets:
    from flows.person import person_targets
    from flows.targets import NoTargetError

    if not employee_id.strip():
        raise fail("--employee-id must not be empty", 2)
    try:
        return person_targets(employee_id)
    except NoTargetError as exc:
        raise fail(str(exc), 2) from None


def identity_center_table(user: IdcUser, inventory: IdcInventory) -> Any:
    made = table(
        f"Identity Center plan for {user.user_name} ({user.user_id})", ("step",), ("count",)
    )
    made.add_column("items", overflow="fold")
    assignments = [
        f"{a.account_id} {a.permission_set_name or a.permission_set_arn}"
        for a in inventory.account_assignments
    ]
    groups = [m.group_name or m.group_id for m in inventory.group_memberships]
    denies = list(inventory.permission_sets())
    made.add_row("1. account assignments", str(len(assignments)), "\n".join(assignments) or "-")
    made.add_row("2. group memberships", str(len(groups)), "\n".join(groups) or "-")
    made.add_row("3. Identity Center user", "1", user.user_name)
    made.add_row("session deny (permission sets)", str(len(denies)), "\n".join(denies) or "-")
    return made


def plan_person(employee_id: str, as_json: bool) -> None:
    """Everything the person's run would remove; refused (exit 2) as the run would be."""
    from cli.dry_run import dry_run, show_plan
    from flows.identity_center_rails import idc_protection_rule
    from tasks.identity import caller_identity
    from tasks.identity_center.instance import find_instance
    from tasks.identity_center.inventory import take_idc_inventory
    from tasks.identity_center.lookup import describe_user
    from tasks.identity_center.models import IdcTarget

    targets = _targets(employee_id)
    caller = caller_identity.fn()
    centre: list[tuple[IdcUser, IdcInventory]] = []
    if targets.identity_center_user_ids:
        from config.settings import get_settings

        instance = find_instance()
        for user_id in targets.identity_center_user_ids:
            user = describe_user(instance, user_id)
            if user is None:
                continue
            target = IdcTarget(instance=instance, user_id=user_id, user_name=user.user_name)
            inventory = take_idc_inventory.fn(target)
            rule = idc_protection_rule(user, inventory, caller, get_settings())
            if rule is not None:
                raise fail(f"Identity Center user {user.user_name} is protected: {rule}", 2)
            centre.append((user, inventory))
    iam = []
    for name, account in targets.iam_users:
        iam.append((account, dry_run(name, account_id=account)))
    if as_json:
        document = {
            "employee_id": employee_id,
            "identity_center": [
                {"user": u.model_dump(mode="json"), "inventory": i.model_dump(mode="json")}
                for u, i in centre
            ],
            "iam": [
                {
                    "account_id": account,
                    "user": _dump(taken.user),
                    "inventory": _dump(taken.inventory),
                }
                for account, taken in iam
            ],
            "account_failures": [f.model_dump(mode="json") for f in targets.account_failures],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        for user, inventory in centre:
            render.console.print(identity_center_table(user, inventory))
        for _, taken in iam:
            show_plan(taken)
    for failure in targets.account_failures:
        typer.echo(
            f"offboard: account {failure.account_id} not searched: {failure.error_code}", err=True
        )
    if targets.account_failures:
        raise typer.Exit(1)


def _print_idc(report: IdcReport) -> None:
    if report.user and report.inventory:
        render.console.print(identity_center_table(report.user, report.inventory))
    if report.snapshot:
        render.console.print(f"snapshot: {report.snapshot.location}")
    line = f"{report.user_name}: {report.outcome}"
    if report.failure:
        line += f" ({report.failure.step}: {report.failure.message})"
    render.console.print(line)


def run_person(
    employee_id: str, reason: str | None, ticket: str | None, yes: bool, as_json: bool
) -> None:
    if not yes:
        if not terminal_input():
            raise fail("refusing to delete without --yes when not run from a terminal", 2)
        plan_person(employee_id, as_json=False)
        confirm_or_exit(f"Delete every identity of employee {employee_id} shown above?")
    else:
        _targets(employee_id)  # nobody: exit 2 before any run starts

    from cli.local_server import prefect_api
    from flows.person import run_person_offboarding

    with prefect_api():
        report = run_person_offboarding(employee_id, reason=reason, ticket=ticket)
    if as_json:
        emit_json(report)
    else:
        for centre in report.identity_center:
            _print_idc(centre)
        for iam in report.iam:
            render.print_report(iam)
    summaries = [(r.user_name, r.failure, r.summary()) for r in report.identity_center]
    summaries += [(r.user_name, r.failure, r.summary()) for r in report.iam]
    for name, failure, summary in summaries:
        if failure is not None:
            typer.echo(f"offboard: {name}: {summary}", err=True)
    raise typer.Exit(report.exit_code)


def restore_identity_center_user(snapshot: str, reason: str | None, as_json: bool) -> None:
    from cli.local_server import prefect_api
    from flows.identity_center_restore import restore_identity_center

    with prefect_api():
        report = restore_identity_center(snapshot, reason=reason)
    if as_json:
        emit_json(report)
    elif report.restored is not None:
        restored = report.restored
        render.console.print(
            f"restored Identity Center user {report.user_name} as {restored.user_id}: "
            f"{len(restored.group_ids)} group memberships, {len(restored.assignments)} assignments"
        )
        for missing in restored.missing:
            render.console.print(f"not restored, gone since: {missing}")
    if report.failure is not None:
        raise fail(report.failure.message, report.exit_code)
    raise typer.Exit(0)


def _dump(model: BaseModel | None) -> Any:
    return model.model_dump(mode="json") if model is not None else None


def plan_identity_center(value: str, as_json: bool) -> None:
    """What offboarding the Identity Center user VALUE names would remove: the run's own dry
    run (no mutating call); unknown or protected: refused (exit 2) as the run refuses."""
    from flows.identity_center import IdcOffboardRequest, offboard_identity_center_one
    from flows.report import Category

    report = offboard_identity_center_one(
        IdcOffboardRequest(value=value, selector="any", dry_run=True)
    )
    if report.category is Category.refused:
        raise fail(report.failure.message if report.failure else str(report.outcome), 2)
    assert report.user is not None and report.inventory is not None
    if as_json:
        document = {
            "user": report.user.model_dump(mode="json"),
            "inventory": report.inventory.model_dump(mode="json"),
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        render.console.print(identity_center_table(report.user, report.inventory))


def run_identity_center(
    value: str, reason: str | None, ticket: str | None, yes: bool, as_json: bool
) -> None:
    if not yes:
        if not terminal_input():
            raise fail("refusing to delete without --yes when not run from a terminal", 2)
        plan_identity_center(value, as_json=False)
        confirm_or_exit(f"Delete Identity Center user {value} and its assignments?")
    from cli.local_server import prefect_api
    from flows.identity_center import run_identity_center_offboarding

    with prefect_api():
        report = run_identity_center_offboarding(
            value, selector="any", reason=reason, ticket=ticket
        )
    if as_json:
        emit_json(report)
    elif report.outcome != "refused":
        _print_idc(report)
    if report.failure is not None:
        typer.echo(f"offboard: {report.summary()}", err=True)
    raise typer.Exit(report.exit_code)
