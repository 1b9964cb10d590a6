"""Runs whose process died are marked Crashed by the server.

A running flow sends a ``prefect.flow-run.heartbeat`` event every
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (30 at least). This automation, Prefect's
"detect zombie flows" recipe, marks a run Crashed when, after a heartbeat, neither another
heartbeat nor a final state arrives within ``within_seconds``. A killed worker or a lost machine
then leaves a Crashed run that ``offboard runs --state crashed`` lists and ``offboard rerun``
finishes. (Runs the CLI executes have their own watchdog: flows/run_watchdog.py.)

    PREFECT_API_URL=http://HOST:4200/api python -m deploy.crash_detection [--within 90]
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Prefect is imported where used: the constants serve the CLI's start-up too.
    from prefect.events.schemas.automations import AutomationCore

AUTOMATION_NAME = "offboard: mark runs without heartbeats Crashed"
HEARTBEAT_SECONDS = 30
# Three missed heartbeats.
DEFAULT_WITHIN_SECONDS = 90


def crash_automation(within_seconds: int = DEFAULT_WITHIN_SECONDS) -> AutomationCore:
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    if within_seconds <= HEARTBEAT_SECONDS:
        raise ValueError(
            f"within must exceed the heartbeat interval ({HEARTBEAT_SECONDS} s), "
            f"or healthy runs are marked Crashed"
        )
    return AutomationCore(
        name=AUTOMATION_NAME,
        description="A flow run that stopped sending heartbeats has lost its process.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                force=False,
                message=(
                    f"no heartbeat for {within_seconds} s: the run's process died; "
                    "finish it with `offboard rerun FLOW_RUN_ID`"
                ),
            )
        ],
    )


def ensure_crash_automation(within_seconds: int = DEFAULT_WITHIN_SECONDS) -> str:
    """Create the automation on the server PREFECT_API_URL names, replacing an older one;
    returns its id."""
    from prefect.client.orchestration import get_client

    wanted = crash_automation(within_seconds)
    with get_client(sync_client=True) as client:
        for existing in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(existing.id)
        return str(client.create_automation(wanted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.crash_detection", description=__doc__)
    parser.add_argument("--within", type=int, default=DEFAULT_WITHIN_SECONDS)
    args = parser.parse_args(argv)
    created = ensure_crash_automation(args.within)
    print(f"automation {AUTOMATION_NAME!r} ({created}): Crashed after {args.within} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
