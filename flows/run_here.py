"""Runs the CLI starts belong to their deployment, yet execute at once in the CLI's process.

With a server that has the flow's deployment (deploy/prefect.yaml), the flow run is created from
that deployment and executed here, as ``prefect flow-run execute`` does: the UI's Retry button
and ``offboard rerun --worker`` can then hand it to a worker later. The run is created Pending,
not Scheduled, so no worker picks it up meanwhile. Without such a deployment the run is created
without one and executed here the same way.

Either way a watchdog process marks the run Crashed if this process dies (flows.run_watchdog),
so the run sends no heartbeats: Prefect joins a sync flow's heartbeat thread at the run's end,
which sleeps in one-second steps, and that cost every CLI run up to a second.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.exceptions import ObjectNotFound
from prefect.flow_engine import run_flow
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_UI_URL,
    temporary_settings,
)
from prefect.states import Pending
from pydantic_core import to_jsonable_python

from flows.batch_models import BatchReport, BatchSelection
from flows.report import OffboardingReport, report_of
from flows.run_watchdog import watching

# Runs of these states are what `offboard rerun` finishes.
RERUNNABLE = frozenset({StateType.FAILED, StateType.CRASHED})


def deployment_name(flow: Flow[Any, Any]) -> str:
    # deploy/prefect.yaml names each deployment after its flow.
    return f"{flow.name}/{flow.name}"


def ui_url(flow_run_id: str | uuid.UUID) -> str | None:
    """The run's page in the Prefect UI, when a server is configured."""
    base = PREFECT_UI_URL.value()
    if not base:
        api = PREFECT_API_URL.value()
        base = api.removesuffix("/").removesuffix("/api") if api else None
    return f"{base}/runs/flow-run/{flow_run_id}" if base else None


def _new_run(flow: Flow[Any, Any], parameters: dict[str, Any]) -> FlowRun | None:
    """The run to execute here: of the flow's deployment when the server has it, else of the
    flow alone; None without a server."""
    if not PREFECT_API_URL.value():
        return None
    pending: State[Any] = Pending(message="started by the offboard CLI, executing in its process")
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(deployment_name(flow))
        except ObjectNotFound:
            # What flow.serialize_parameters gives, without importing FastAPI for it (~0.2 s).
            return client.create_flow_run(
                flow, parameters=to_jsonable_python(parameters), state=pending
            )
        return client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters, state=pending
        )


def _execute(
    flow: Flow[Any, Any], flow_run: FlowRun, parameters: dict[str, Any] | None
) -> State[Any]:
    """Execute an existing flow run here; a watchdog marks it Crashed if this process dies."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

    auth = {
        name: value
        for name, value in (
            ("PREFECT_API_AUTH_STRING", PREFECT_API_AUTH_STRING.value()),
            ("PREFECT_API_KEY", PREFECT_API_KEY.value()),
        )
        if value
    }
    with (
        watching(str(PREFECT_API_URL.value()), str(flow_run.id), auth),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        ended = run_flow(flow, flow_run=flow_run, parameters=parameters, return_type="state")
    assert isinstance(ended, State)
    return ended


def run_here(flow: Flow[Any, Any], **parameters: Any) -> State[Any]:
    """Run ``flow`` in this process (from its deployment when there is one); its final state."""
    flow_run = _new_run(flow, parameters)
    if flow_run is None:
        called: Any = flow(**parameters, return_state=True)
        assert isinstance(called, State)
        return called
    return _execute(flow, flow_run, parameters)


def read_rerunnable(flow_run_id: uuid.UUID) -> tuple[FlowRun, str]:
    """The failed or crashed run and its flow's name; ValueError says why it is not."""
    with get_client(sync_client=True) as client:
        try:
            found = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            raise ValueError(f"no flow run {flow_run_id}") from None
        if found.state is None or found.state.type not in RERUNNABLE:
            current = found.state.type.value.lower() if found.state else "unknown"
            raise ValueError(
                f"flow run {flow_run_id} is {current}, not failed or crashed: nothing to rerun"
            )
        return found, client.read_flow(found.flow_id).name


def rerun_here(
    flow: Flow[Any, Any], flow_run: FlowRun, parameter_updates: dict[str, Any]
) -> State[Any]:
    """Execute the same flow run again in this process (its next attempt)."""
    with get_client(sync_client=True) as client:
        if parameter_updates:
            client.update_flow_run(
                flow_run.id, parameters={**flow_run.parameters, **parameter_updates}
            )
        client.set_flow_run_state(
            flow_run.id, Pending(message="rerun by an operator (offboard rerun)"), force=True
        )
        current = client.read_flow_run(flow_run.id)
    return _execute(flow, current, None)


def rerun_by_worker(flow_run: FlowRun, parameter_updates: dict[str, Any]) -> None:
    """Schedule the same flow run again for a worker of its deployment."""
    from prefect.states import AwaitingRetry

    if flow_run.deployment_id is None:
        raise ValueError(
            f"flow run {flow_run.id} has no deployment, so no worker can run it: "
            "rerun it without --worker"
        )
    with get_client(sync_client=True) as client:
        if parameter_updates:
            client.update_flow_run(
                flow_run.id, parameters={**flow_run.parameters, **parameter_updates}
            )
        client.set_flow_run_state(
            flow_run.id, AwaitingRetry(message="rerun by an operator (offboard rerun)"), force=True
        )


def offboard_here(user_name: str, **parameters: Any) -> OffboardingReport:
    """`offboard run`: one user's run, from the offboard-user deployment when there is one."""
    from flows.offboard_user import offboard_user

    report: OffboardingReport = report_of(
        run_here(offboard_user, user_name=user_name, **parameters), OffboardingReport
    )
    return report


def batch_here(selection: BatchSelection, **parameters: Any) -> BatchReport:
    """`offboard batch`: the batch's run, from the offboard-batch deployment when there is one."""
    from flows.offboard_batch import offboard_batch

    report: BatchReport = report_of(
        run_here(offboard_batch, selection=selection, **parameters), BatchReport
    )
    return report
