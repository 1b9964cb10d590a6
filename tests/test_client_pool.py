"""A batch's users share the engine's clients; more calls at once than the pool keeps open
must not print urllib3's "Connection pool is full" warning to the operator."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config

from tasks.aws import ClientFactory


def test_more_calls_at_once_than_the_pool_keeps_print_no_warning(
    sandbox, iam, caplog: pytest.LogCaptureFixture
) -> None:
    client = ClientFactory(config=Config(max_pool_connections=1)).client("iam")
    iam.create_user(UserName="pool-user")
    caplog.set_level(logging.DEBUG, logger="urllib3")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.get_user(UserName="pool-user"), range(32)))

    assert all(answer["User"]["UserName"] == "pool-user" for answer in answers)
    pooled = [r for r in caplog.records if r.name.startswith("urllib3.connectionpool")]
    assert pooled, "the calls went through urllib3's pool"
    assert not [r for r in pooled if r.levelno >= logging.WARNING], [r.message for r in pooled]
