"""The engine context: one place holds settings, clients, the IAM call rate and the audit trail;
one call resets them, and a setting changed between runs applies to the next run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from audit.trail import default_trail, read_records
from config.engine import choose_clients, engine, reset_engine
from flows.offboard_user import run_offboarding
from tasks.aws import ClientFactory, get_client_factory, iam_client
from tasks.rate_limit import iam_rate_limiter
from tests.helpers import audit_records, engine_settings, inject_client_error


@pytest.fixture
def clean_engine() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("OFFBOARD_IAM_CALLS_PER_SECOND", "OFFBOARD_AUDIT_LOG")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_engine()


def test_one_call_resets_settings_clients_call_rate_and_trail(sandbox, tmp_path, clean_engine):
    before = engine()
    chosen = ClientFactory()
    choose_clients(chosen)
    assert get_client_factory() is chosen

    os.environ["OFFBOARD_IAM_CALLS_PER_SECOND"] = "7"
    os.environ["OFFBOARD_AUDIT_LOG"] = str(tmp_path / "elsewhere.jsonl")
    # Without a reset the process keeps what it built.
    assert engine() is before and get_client_factory() is chosen

    reset_engine()
    after = engine()
    assert after is not before
    assert after.settings.iam_calls_per_second == 7
    limiter = iam_rate_limiter()
    assert limiter is not None and limiter.rate == 7
    assert default_trail().path == tmp_path / "elsewhere.jsonl"
    # The clients chosen at the edge are forgotten too: the standard chain again.
    assert get_client_factory() is not chosen and get_client_factory() is after.clients


def test_reloaded_settings_keep_the_clients_chosen_at_the_edge(sandbox, clean_engine):
    chosen = ClientFactory()
    choose_clients(chosen)
    with engine_settings(iam_calls_per_second="0"):
        assert iam_rate_limiter() is None
        assert get_client_factory() is chosen
    assert iam_rate_limiter() is not None and get_client_factory() is chosen


def light_user(iam: Any, name: str) -> None:
    iam.create_user(UserName=name)
    iam.create_access_key(UserName=name)


def test_step_retries_set_between_two_runs_apply_to_the_next_run(
    sandbox, prefect_harness, iam, user_name
):
    # Task retries were sized when the task modules were imported; the run resizes them.
    iam_client()  # the tasks exist before the setting changes
    first, second = f"{user_name}-a", f"{user_name}-b"
    light_user(iam, first)
    light_user(iam, second)
    fault = {"operation": "DeleteAccessKey", "code": "ServiceFailure", "times": 1, "status": 500}
    with (
        engine_settings(step_retries="0", max_delete_rounds="1"),
        inject_client_error(**fault) as no,  # type: ignore[arg-type]
    ):
        held = run_offboarding(user_name=first)
    with (
        engine_settings(step_retries="2", max_delete_rounds="1"),
        inject_client_error(**fault) as yes,  # type: ignore[arg-type]
    ):
        deleted = run_offboarding(user_name=second)
    assert (no.calls, yes.calls) == (1, 2)

    # No retry: the step failed at once and the user was deactivated instead of deleted.
    assert held.outcome == "deactivated_pending_deletion"
    assert held.failure is not None and held.failure.step == "access_keys"
    assert iam.get_user(UserName=first)["User"]["UserName"] == first
    # Two retries allowed: the one fault was retried and the user is gone.
    assert deleted.outcome == "deleted"
    assert not [u for u in iam.list_users()["Users"] if u["UserName"] == second]
    steps = [r.step for r in audit_records(deleted.run_id) if r.outcome == "done"]
    assert "access_keys" in steps and "user" in steps
    assert any(r.run_id == held.run_id for r in read_records(default_trail().path))
