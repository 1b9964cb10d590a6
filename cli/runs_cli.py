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

    return get_client(sync_client=True)


def _require_server(url: str | None) -> None:
    if not url:
        raise fail(
            "no Prefect server: set PREFECT_API_URL, or start one with `offboard server start`", 2
        )


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
        from cli.local_server import existing_server

        with existing_server() as url:
            _require_server(url)
            with _client() as client:
                found = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=list(FLOW_NAMES))),
                    flow_run_filter=run_filter,
                    sort=FlowRunSort.START_TIME_DESC,
                    limit=limit,
                )
            rows = [_row(run) for run in found]
        if as_json:
            import json

            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="Offboarding runs", title_justify="left")
        # Ids are pasted into `offboard rerun`: never cut them.
        table.add_column("flow run", no_wrap=True, min_width=36)
        table.add_column("user", overflow="fold")
        table.add_column("state: outcome", overflow="fold")
        table.add_column("failing step", overflow="fold")
        table.add_column("tries", justify="right")
        for row in rows:
            step = row["failing_step"]
            if step and row["error_code"]:
                step += f": {row['error_code']}"
                if row["action"]:
                    step += f" on {row['action']}"
            state_name = str(row["state"] or "-").lower()
            outcome = row["outcome"]
            table.add_row(
                row["flow_run_id"],
                str(row["user"] or "-"),
                f"{state_name}: {outcome}" if outcome and outcome != state_name else state_name,
                step or "-",
                str(row["attempts"]),
            )
        # The shared console lays piped or captured output out wide, uncut.
        render.console.print(table)
        if rows and rows[0]["ui_url"]:
            base = str(rows[0]["ui_url"]).rsplit("/", 1)[0]
            typer.echo(f"UI: {base}/ID")

    @app.command()
    @cli_errors
    def rerun(
        flow_run_id: Annotated[str, typer.Argument(help="The failed run's id (offboard runs).")],
        override_activity_guard: Annotated[
            bool,
            typer.Option(
                "--override-activity-guard",
                help="Delete even if the user was recently active (needs --reason; audited).",
            ),
        ] = False,
        reason: Annotated[str | None, typer.Option(help="Why (kept with the run).")] = None,
        worker: Annotated[
            bool,
            typer.Option("--worker", help="Leave the run to a worker of its deployment."),
        ] = False,
    ) -> None:
        """Finish a failed or crashed run in place: the same flow run, its next attempt.

        Executes here and ends with the run's exit code (as `offboard run`), or with --worker
        schedules it for a worker (like the UI's Retry button). Steps already done find nothing
        left to remove. Example: offboard rerun 4f2a4e50-81d0-4c55-9d0e-0b6f3e1c2d7a
        """
        if override_activity_guard and not (reason and reason.strip()):
            raise fail("--override-activity-guard needs --reason", 2)
        try:
            run_id = uuid.UUID(flow_run_id)
        except ValueError:
            raise fail(f"{flow_run_id!r} is not a flow run id", 2) from None
        from cli.local_server import existing_server

        with existing_server() as server_url:
            _require_server(server_url)
            _rerun(run_id, override_activity_guard, reason, worker)


def _rerun(
    run_id: uuid.UUID, override_activity_guard: bool, reason: str | None, worker: bool
) -> None:
    from flows.run_here import read_rerunnable, rerun_by_worker, ui_url

    flow_run_id = str(run_id)
    try:
        run, flow_name = read_rerunnable(run_id)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    flow = _flows().get(flow_name)
    if flow is None:
        raise fail(f"flow run {flow_run_id} is a {flow_name} run, not an offboarding", 2)
    updates: dict[str, Any] = {}
    if override_activity_guard:
        updates = {"override_activity_guard": True, "reason": reason}
    elif reason:
        updates = {"reason": reason}
    url = ui_url(run_id)
    if worker:
        try:
            rerun_by_worker(run, updates)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        typer.echo(f"flow run {flow_run_id} scheduled again; a worker will pick it up")
        if url:
            typer.echo(url)
        return
    _rerun_here(flow, run, updates, url)


def _flows() -> dict[str, Any]:
    from flows.offboard_batch import offboard_batch
    from flows.offboard_user import offboard_user

    return {flow.name: flow for flow in (offboard_user, offboard_batch)}


def _row(run: Any) -> dict[str, Any]:
    from flows.report import parse_summary
    from flows.run_here import ui_url

    message = run.state.message if run.state else None
    parts = parse_summary(message)
    return {
        "flow_run_id": str(run.id),
        "name": run.name,
        "user": run.parameters.get("user_name") or _batch_of(run),
        "state": run.state.type.value if run.state else None,
        # The run's state message names the outcome and the failing step; a run whose process
        # died says so instead.
        "outcome": parts["outcome"] or _state_outcome(run),
        "failing_step": parts["step"],
        "error_code": parts["error_code"],
        "action": parts["action"],
        "message": parts["message"] if parts["outcome"] else message,
        "attempts": run.run_count,
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "ui_url": ui_url(run.id),
    }


def _state_outcome(run: Any) -> str | None:
    """Without an outcome in its message (a batch, a run whose process died): its state."""
    return run.state.type.value.lower() if run.state else None


def _batch_of(run: Any) -> str | None:
    from pydantic import ValidationError

    from flows.batch_models import BatchSelection

    selection = run.parameters.get("selection")
    if not isinstance(selection, dict):
        return None
    try:
        return f"batch: {BatchSelection.model_validate(selection).describe()}"
    except ValidationError:
        return "batch"


def _rerun_here(flow: Any, run: Any, updates: dict[str, Any], url: str | None) -> None:
    from flows.batch_models import BatchReport
    from flows.report import OffboardingReport
    from flows.run_here import rerun_here

    if url:
        typer.echo(f"rerunning {run.id} here: {url}", err=True)
    state = rerun_here(flow, run, updates)
    result = state.result(raise_on_failure=False)
    if isinstance(result, OffboardingReport):
        render.print_report(result)
        raise typer.Exit(result.exit_code)
    if isinstance(result, BatchReport):
        from cli.batch_cli import exit_code, summary_table

        render.console.print(summary_table(result))
        raise typer.Exit(exit_code(result))
    raise fail(f"the rerun ended {state.type.value.lower()}: {state.message}", 1)
