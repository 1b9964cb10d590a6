"""Input validation follows IAM's own rule; the debug log never carries secrets."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from config.logging import configure_logging
from tasks.errors import InvalidInputError
from tasks.models import validate_user_name

IAM_RULE = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")


@given(st.from_regex(IAM_RULE, fullmatch=True))
def test_every_name_iam_accepts_is_accepted(name: str) -> None:
    assert validate_user_name(name) == name


@given(st.text(max_size=80).filter(lambda s: not IAM_RULE.fullmatch(s)))
def test_every_name_iam_rejects_is_refused_with_one_line(name: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_user_name(name)
    assert "\n" not in str(raised.value).replace(repr(name), "")


@given(
    secret=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+", min_size=12, max_size=40),
    key=st.sampled_from(["SecretAccessKey", "Password", "ServicePassword", "password"]),
)
def test_secrets_never_reach_the_log_even_nested(secret: str, key: str) -> None:
    buffer = io.StringIO()
    saved = sys.stderr
    sys.stderr = buffer
    try:
        configure_logging(json=True, level="INFO")
        structlog.get_logger("offboard.test").info(
            "credential.seen",
            **{key: secret},
            response={"AccessKey": {"AccessKeyId": "AKIAEXAMPLE", key: secret}},
            items=[{key: secret}],
        )
    finally:
        sys.stderr = saved
    line = buffer.getvalue().strip()
    assert secret not in line
    record = json.loads(line)
    assert record[key] == "***"
    assert record["response"]["AccessKey"]["AccessKeyId"] == "AKIAEXAMPLE"
    assert logging.getLogger("offboard").propagate is False
