"""Steps 1-9 remove what hangs off the user side by side; DeleteUser waits for all of them.

At a realistic IAM latency (the sandbox delays every call) the steps' mutating calls are in
flight together: an ordering of sends and answers, not a timing of the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from sandbox.server import Sandbox
from tasks.aws import iam_client
from tasks.procedure import ATTACHMENT_STEPS
from tests.helpers import audit_records

pytestmark = pytest.mark.usefixtures("prefect_harness")

READS = ("List", "Get", "Generate")


@pytest.fixture
def slow_sandbox(sandbox: Sandbox, sandbox_latency: Callable[[float], None]) -> Sandbox:
    sandbox_latency(150)
    return sandbox


def test_the_attachment_steps_run_side_by_side_and_delete_user_comes_after_all(
    slow_sandbox, iam, user_name
):
    create_loaded_user(iam, user_name)
    lock = threading.Lock()
    in_flight: set[int] = set()
    most = 0
    events: list[tuple[str, str]] = []  # ("sent" | "answered", operation)

    def sent(model: Any, context: dict[str, Any], **_: Any) -> None:
        nonlocal most
        if model.name.startswith(READS):
            return
        with lock:
            in_flight.add(id(context))
            most = max(most, len(in_flight))
            events.append(("sent", model.name))

    def answered(model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name.startswith(READS):
            return
        with lock:
            in_flight.discard(id(context))
            events.append(("answered", model.name))

    hooks = iam_client().meta.events
    hooks.register("before-call.iam", sent, unique_id="test-sent")
    hooks.register("after-call.iam", answered, unique_id="test-answered")
    try:
        report = run_offboarding(user_name=user_name)
    finally:
        hooks.unregister("before-call.iam", unique_id="test-sent")
        hooks.unregister("after-call.iam", unique_id="test-answered")

    assert report.outcome == "deleted"
    # Nine steps, one thread each: several deletes wait on IAM at once (one at a time before).
    assert most >= 3, events
    delete_user = events.index(("sent", "DeleteUser"))
    assert sum(kind == "sent" for kind, _ in events[:delete_user]) == sum(
        kind == "answered" for kind, _ in events[:delete_user]
    ), "DeleteUser was sent while another step's call was still in flight"
    # Each step's records: its intent, then its outcome; the user's intent after all of them.
    records = [(r.step, r.outcome) for r in audit_records(report.run_id)]
    for step in ATTACHMENT_STEPS:
        assert [pair for pair in records if pair[0] == step.name] == [
            (step.name, "intent"),
            (step.name, "done"),
        ]
    names = {step.name for step in ATTACHMENT_STEPS}
    last_attachment = max(i for i, (step, _) in enumerate(records) if step in names)
    assert records.index(("user", "intent")) > last_attachment
