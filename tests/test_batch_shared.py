"""A batch's users share what does not change between them: the engine's IAM client (each run
with a retry quota of its own, tests/test_retry_quota.py) and the engine's identity, asked once
per account by the plan rather than once per user."""

from __future__ import annotations

import pytest

from flows.batch_models import BatchSelection, BatchTarget
from flows.offboard_batch import run_batch
from sandbox.fixtures import create_loaded_user
from tests.helpers import audit_records, engine_settings

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


def test_a_batch_asks_who_it_is_once_and_every_user_run_acts_as_that_identity(
    sandbox, iam, user_name
):
    names = [f"{user_name}-{i}" for i in range(3)]
    for name in names:
        create_loaded_user(iam, name, groups=1, inline=1, managed=1, access_keys=1)
    selection = BatchSelection(users=tuple(BatchTarget(user_name=name) for name in names))
    with engine_settings(iam_calls_per_second="0"):
        mark = sandbox.requests.mark()
        report = run_batch(selection)
        calls = sandbox.requests.since(mark)

    assert [u.report.outcome for u in report.users] == ["deleted"] * 3
    # The plan's only: the account's reference scan takes the account from it, and no user's
    # run asks (it was one for each).
    assert [c.action for c in calls].count("GetCallerIdentity") == 1
    actors = {r.actor for r in audit_records(report.run_id)}
    assert len(actors) == 1 and actors.pop() == sandbox.client("sts").get_caller_identity()["Arn"]
    assert [c.action for c in calls].count("GetUser") == 2 * 3  # the plan's and the run's look
