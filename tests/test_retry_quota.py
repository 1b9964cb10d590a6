"""One client serves every user of a batch, and each user's run retries on a botocore retry quota
of its own: a run that spent its quota gets no more retries, while the next run on the same
client (and calls outside any run) still get theirs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.faults import clear_faults, inject_fault
from tasks.aws import ClientFactory
from tasks.retry_quota import own_retry_quota

pytestmark = pytest.mark.usefixtures("sandbox")


def get_user_faulted(client: Any, name: str, faults: int = 1) -> dict[str, Any]:
    """GetUser whose first ``faults`` attempts IAM answers with a 500: the retry metadata."""
    inject_fault("GetUser", "ServiceFailure", count=faults, status=500)
    try:
        meta: dict[str, Any] = client.get_user(UserName=name)["ResponseMetadata"]
    except ClientError as exc:
        meta = exc.response["ResponseMetadata"]
    finally:
        clear_faults()
    return meta


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_a_run_that_spent_its_retry_quota_leaves_other_runs_on_the_same_client_theirs(
    iam, user_name, mode
):
    iam.create_user(UserName=user_name)
    factory = ClientFactory(config=Config(retries={"mode": mode, "total_max_attempts": 2}))
    client = factory.client("iam")

    with own_retry_quota() as spent:
        assert spent.acquire(spent.available_capacity)
        # In a thread that copies the run's context, as the batch's workers do.
        with ThreadPoolExecutor(1) as pool:
            meta = pool.submit(copy_context().run, get_user_faulted, client, user_name)
            starved = meta.result()
    assert starved["RetryAttempts"] == 0 and starved["RetryQuotaReached"] is True
    assert starved["HTTPStatusCode"] == 500

    with own_retry_quota() as fresh:
        retried = get_user_faulted(client, user_name)
        failed = get_user_faulted(client, user_name, faults=2)
        # The failed call's retry came out of this run's quota (a success gives its retry back).
        assert fresh.available_capacity == fresh.INITIAL_CAPACITY - 14
    assert retried["RetryAttempts"] == 1 and retried["HTTPStatusCode"] == 200
    assert failed["RetryAttempts"] == 1 and failed["HTTPStatusCode"] == 500

    # Outside any run, the client's own quota, which neither run touched.
    assert get_user_faulted(client, user_name)["RetryAttempts"] == 1
    assert factory.client("iam") is client
