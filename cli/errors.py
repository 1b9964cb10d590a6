"""Errors converted at the edge: one line on stderr and the documented exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from audit.reading import AuditTrailError
from config.settings import SettingsError
from tasks.errors import OffboardError, describe_failure

F = TypeVar("F", bound=Callable[..., Any])
# A torn or foreign audit log: nothing was changed; 'offboard audit verify' says more.
AUDIT_TRAIL_EXIT = 4

# Exit codes every command shares (README "Command line" lists them): 0 success, 1 a step
# failed, 2 bad input or refused, 3 held by a guard, 4 the audit trail is torn or foreign.
EXIT_DECLINED = 5
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"offboard: error: {message}", err=True)
    return typer.Exit(code)


def terminal_input() -> bool:
    """Whether someone can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def confirmed(question: str) -> bool:
    """Ask; anything but yes (including end of input) is no."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        return False


def declined() -> typer.Exit:
    typer.echo("offboard: not confirmed; nothing was changed", err=True)
    return typer.Exit(EXIT_DECLINED)


def confirm_or_exit(question: str) -> None:
    """Ask; anything but yes leaves with EXIT_DECLINED, unchanged."""
    if not confirmed(question):
        raise declined()


def held_message(user: str, guard: str | None, reason: str, deactivated: bool) -> str:
    """What a guard-held run did and the exact command that finishes it."""
    from flows.guards import GUARDS
    from flows.guards.activity import GUARD as ACTIVITY

    state = (
        "deactivated (a deny-all policy attached, access keys disabled), not deleted"
        if deactivated
        else "not changed"
    )
    described = next((g.describe for g in GUARDS if g.name == guard), f"the guard {guard}")
    override = (
        "--override-activity-guard" if guard in (None, ACTIVITY.name) else f"--override {guard}"
    )
    return (
        f"offboard: held by {described}: {reason}\n"
        f"offboard: {user} is {state}. To delete it anyway, once someone has confirmed:\n"
        f'  offboard run {user} {override} --reason "..."'
    )


def cli_errors(command: F) -> F:
    """Turn the engine's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (OffboardError, SettingsError) as exc:
            raise fail(str(exc), 2) from None
        except AuditTrailError as exc:
            raise fail(str(exc), AUDIT_TRAIL_EXIT) from None
        except ClientError as exc:
            code, action, message = describe_failure(exc)
            raise fail(f"{code} on {action}: {message}", 1) from None
        except BotoCoreError as exc:
            raise fail(str(exc), 1) from None

    return wrapper  # type: ignore[return-value]


def writes_audit_trail(command: F) -> F:
    """For commands that write the audit trail: refuse a torn or foreign log (exit 4, one
    line) before the command's first AWS call, prompt or Prefect run. Dry runs write nothing
    and are let through. Goes under ``cli_errors``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("dry_run"):
            from audit.trail import default_trail

            default_trail().check_appendable()
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit_json(value: BaseModel | list[Any] | tuple[Any, ...]) -> None:
    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2))
    else:
        typer.echo(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
