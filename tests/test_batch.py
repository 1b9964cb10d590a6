"""Batch offboarding: selection, protected principals, the blast-radius cap, one IAM call rate,
failures that stay with their user, several accounts, and the ``offboard batch`` command."""

from __future__ import annotations

import pytest

from flows.offboard_batch import BatchSelection, BatchTarget, run_batch
from sandbox.fixtures import create_loaded_user
from tests.helpers import engine_settings

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


def test_smoke(iam, user_name):
    names = [f"{user_name}-{i}" for i in range(4)]
    for name in names:
        create_loaded_user(iam, name, groups=1, inline=1, managed=1, access_keys=1, service_credentials=1)
    with engine_settings(iam_calls_per_second="0"):
        report = run_batch(BatchSelection(users=tuple(BatchTarget(user_name=n) for n in names)))
    print(report.totals, report.counts)
    assert report.totals["done"] == 4, [u.report.failure for u in report.users]
