"""``offboard runs`` / ``offboard rerun``: operators find failed offboarding runs and retry them
in place, on the Prefect server named by PREFECT_API_URL."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from cli import render
from cli.errors import JsonOption, cli_errors, fail

FLOW_NAMES = ("offboard-user", "offboard-batch")
STATES = ("failed", "completed", "running", "scheduled", "crashed", "cancelled")


def _client() -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise fail("no Prefect server configured: set PREFECT_API_URL", 2)
    return get_client(sync_client=True)


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    def runs(
        state: Annotated[
            str | None, typer.Option(help=f"Only runs in this state ({', '.join(STATES)}).")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs.")] = 20,
        as_json: JsonOption = False,
    ) -> None:
        """Recent offboarding runs: user, state, outcome and the failing step."""
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        if state is not None and state.lower() not in STATES:
            raise fail(f"unknown state {state!r}: use one of {', '.join(STATES)}", 2)
        run_filter = None
        if state:
            state_type = StateType(state.upper())
            run_filter = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state_type]))
            )
        with _client() as client:
            found = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(FLOW_NAMES))),
                flow_run_filter=run_filter,
                sort=FlowRunSort.START_TIME_DESC,
                limit=limit,
            )
        rows = [
            {
                "flow_run_id": str(run.id),
                "name": run.name,
                "user": run.parameters.get("user_name"),
                "state": run.state.type.value if run.state else None,
                # The run's state message names the outcome and the failing step.
                "outcome": run.state.message if run.state else None,
                "attempts": run.run_count,
                "start_time": run.start_time.isoformat() if run.start_time else None,
            }
            for run in found
        ]
        if as_json:
            import json

            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="Offboarding runs", title_justify="left")
        for column in ("flow run", "user", "state", "outcome / failing step", "attempts"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["flow_run_id"],
                str(row["user"]),
                str(row["state"]),
                str(row["outcome"] or "-"),
                str(row["attempts"]),
            )
        render.console.print(table)

    @app.command()
    @cli_errors
    def rerun(
        flow_run_id: Annotated[str, typer.Argument(help="The failed run's id (offboard runs).")],
    ) -> None:
        """Re-execute a failed run in place (same flow run, like the UI's Retry button).

        A worker picks it up; steps already done find nothing left to remove."""
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.exceptions import ObjectNotFound
        from prefect.states import Scheduled

        try:
            run_id = uuid.UUID(flow_run_id)
        except ValueError:
            raise fail(f"{flow_run_id!r} is not a flow run id", 2) from None
        with _client() as client:
            try:
                run = client.read_flow_run(run_id)
            except ObjectNotFound:
                raise fail(f"no flow run {flow_run_id}", 2) from None
            if run.state is None or run.state.type not in (StateType.FAILED, StateType.CRASHED):
                current = run.state.type.value if run.state else "unknown"
                raise fail(f"flow run {flow_run_id} is {current}, not failed: nothing to rerun", 2)
            if run.deployment_id is None:
                raise fail(f"flow run {flow_run_id} has no deployment; run it again instead", 2)
            result = client.set_flow_run_state(
                run_id, Scheduled(message="Rerun by operator (offboard rerun)"), force=True
            )
            if result.status == SetStateStatus.ABORT:
                raise fail(f"the server refused the rerun: {result.details.reason}", 1)
        typer.echo(f"flow run {flow_run_id} scheduled again; a worker will pick it up")
