"""Runs the CLI executes send no flow-run heartbeats: their watchdog marks them Crashed if the
process dies, and Prefect joins a sync flow's heartbeat thread (one-second sleeps) at the end of
every run. A flow called outside the CLI keeps Prefect's heartbeats: the control."""

from __future__ import annotations

import json
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter
from typer.testing import CliRunner

from cli.main import app
from flows.offboard_user import run_offboarding

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

HEARTBEAT = "prefect.flow-run.heartbeat"


def heartbeats(flow_run_id: str) -> int:
    with get_client(sync_client=True) as client:
        page = client.read_events(
            EventFilter(
                event=EventNameFilter(name=[HEARTBEAT]),
                any_resource=EventAnyResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
            ),
            limit=50,  # the server's most; the client's default (100) is refused
        )
    return len(page.events)


def test_a_cli_run_sends_no_heartbeat_while_a_plain_flow_call_does(iam, user_name):
    cli_user, plain_user = f"{user_name}-cli", f"{user_name}-plain"
    for name in (cli_user, plain_user):
        iam.create_user(UserName=name)

    result = CliRunner().invoke(app, ["run", cli_user, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    cli_run = json.loads(result.stdout)["run_id"]
    plain_run = run_offboarding(user_name=plain_user).run_id
    assert cli_run and plain_run

    # Events reach the server's store asynchronously: wait for the control's, which was sent
    # after every event of the CLI's run.
    deadline = time.monotonic() + 60
    while heartbeats(plain_run) == 0:
        assert time.monotonic() < deadline, "the plain flow call's heartbeat never arrived"
        time.sleep(0.5)
    assert heartbeats(cli_run) == 0
