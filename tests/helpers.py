"""Test helpers: client-side fault injection and read-only call checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from tasks.aws import iam_client

READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Generate", "Simulate")


def mutating(actions: list[str]) -> list[str]:
    return [action for action in actions if not action.startswith(READ_ONLY_PREFIXES)]


@dataclass
class Injection:
    """How often the hooked operation was called, and how many of those calls were faulted."""

    calls: int = 0
    faulted: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)


def _error(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return AWSResponse("http://injected", status, {}, None), parsed


@contextmanager
def inject_client_error(
    operation: str, code: str, times: int, status: int = 400
) -> Iterator[Injection]:
    """Answer the first `times` calls of `operation` on the engine's IAM client with `code`.

    Short-circuits before botocore's own retry layer, so only the task's retries can recover.
    """
    state = Injection()

    def hook(params: dict[str, Any], **_: Any) -> Any:
        state.calls += 1
        state.seen.append(params)
        if state.faulted < times:
            state.faulted += 1
            return _error(code, status)
        return None

    with before_call(operation, hook):
        yield state


@contextmanager
def before_call(operation: str, hook: Callable[..., Any]) -> Iterator[None]:
    events = iam_client().meta.events
    name = f"before-call.iam.{operation}"
    events.register(name, hook, unique_id=f"test-{operation}")
    try:
        yield
    finally:
        events.unregister(name, unique_id=f"test-{operation}")


def iam_mutations(calls: list[Any]) -> list[str]:
    """Mutating IAM actions among recorded sandbox calls (other services ignored)."""
    return mutating([c.action for c in calls if c.service == "iam" and c.action])


@contextmanager
def engine_settings(**values: str) -> Iterator[None]:
    """Override OFFBOARD_* settings for the duration (settings are cached per process; the
    engine is built again from them on its next use, keeping the clients chosen)."""
    import os

    from config.settings import get_settings

    saved = {key: os.environ.get(f"OFFBOARD_{key.upper()}") for key in values}
    os.environ.update({f"OFFBOARD_{key.upper()}": value for key, value in values.items()})
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            name = f"OFFBOARD_{key.upper()}"
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def audit_records(run_id: str | None) -> list[Any]:
    from audit.trail import default_trail, read_records

    return [r for r in read_records(default_trail().path) if r.run_id == run_id]


def as_procedure(steps: list[str]) -> list[str]:
    """Steps 1-9 run side by side, so the trail holds them in the order they ended: this puts
    those nine in the procedure's order, each where one of them stood, and leaves every other
    entry (the review, the snapshot, DeleteUser's step) in place, so ``user`` must still follow
    all nine."""
    from tasks.procedure import ATTACHMENT_STEPS

    rank = {step.name: index for index, step in enumerate(ATTACHMENT_STEPS)}
    places = [index for index, step in enumerate(steps) if step in rank]
    ordered = iter(sorted((steps[index] for index in places), key=rank.__getitem__))
    placed = list(steps)
    for index in places:
        placed[index] = next(ordered)
    return placed
