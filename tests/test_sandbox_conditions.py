"""Time conditions in IAM policies while the sandbox enforces IAM authorization.

Real boto3 clients talk HTTP to the sandbox. A user with its own key and an inline Allow on
``iam:ListUsers`` calls ListUsers while deny documents (the engine's, from the AWS docs) are put,
attached and removed around it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import settings

from sandbox.auth import enforce_iam_authorization, iam_authorization_enforced
from sandbox.extension import sandbox_now, set_sandbox_clock
from sandbox.policy_conditions import date_conditions_hold
from sandbox.server import Sandbox

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

# One HTTP request per client call: a denied call must not be retried.
NO_RETRIES = Config(retries={"total_max_attempts": 1})

UNTIMED_DENY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
}
ENGINE_WINDOW = ("2024-12-24T23:59:59Z", "2025-02-28T23:59:59Z")
ALLOW_LIST_USERS: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
}
ALLOW_ALL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def window_condition(start: str, end: str) -> dict[str, Any]:
    return {
        "DateGreaterThan": {"aws:CurrentTime": start},
        "DateLessThan": {"aws:CurrentTime": end},
    }


def timed_deny(start: str, end: str) -> dict[str, Any]:
    """The engine's timed deny document with the window [start, end]."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": window_condition(start, end),
            }
        ],
    }


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_client(
    box: Sandbox, service: str, key_id: str = "testing", secret: str = "testing"
) -> Any:
    factory: Callable[..., Any] = boto3.client  # the service name is only known at run time
    return factory(
        service,
        endpoint_url=box.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=NO_RETRIES,
    )


@dataclass(frozen=True)
class KeyedUser:
    name: str
    iam: Any
    sts: Any


def keyed_user(box: Sandbox, iam: IAMClient, policy: dict[str, Any]) -> KeyedUser:
    """A user with ``policy`` inline and its own access key (made while enforcement is off)."""
    name = unique("caller")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="base", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    return KeyedUser(
        name=name,
        iam=make_client(box, "iam", key_id, secret),
        sts=make_client(box, "sts", key_id, secret),
    )


def outcome(call: Callable[[], object]) -> str:
    """ "allowed", or the error code the sandbox answered."""
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "allowed"


def list_users_as(user: KeyedUser) -> str:
    return outcome(lambda: user.iam.list_users(MaxItems=1))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as box:
        yield box


@pytest.fixture(scope="module")
def iam(sandbox: Sandbox) -> IAMClient:
    client: IAMClient = make_client(sandbox, "iam")
    return client


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    set_sandbox_clock(None)
    yield
    set_sandbox_clock(None)


@pytest.fixture
def caller(sandbox: Sandbox, iam: IAMClient) -> KeyedUser:
    return keyed_user(sandbox, iam, ALLOW_LIST_USERS)


# --- enforcement switch ---------------------------------------------------------------------


def test_enforcement_applies_inside_the_block_only(
    sandbox: Sandbox, iam: IAMClient, caller: KeyedUser
) -> None:
    """The server threads honour the switch; the previous (open) mode comes back after."""
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    assert not iam_authorization_enforced()
    assert outcome(lambda: iam.list_groups()) == "allowed"

    with enforce_iam_authorization():
        assert iam_authorization_enforced()
        # The dummy key is no IAM key, so it is refused outright.
        assert outcome(lambda: iam.list_groups()) == "InvalidClientTokenId"
        assert list_users_as(caller) == "allowed"
        assert outcome(lambda: caller.iam.list_groups()) == "AccessDenied"
        # The sandbox's own IAM actions are authorized like moto's.
        assert outcome(lambda: caller.iam.list_service_specific_credentials()) == "AccessDenied"
        with enforce_iam_authorization():
            pass
        assert iam_authorization_enforced()  # a nested block restores enforcement, not "off"

    assert not iam_authorization_enforced()
    assert previous == settings.INITIAL_NO_AUTH_ACTION_COUNT
    assert outcome(lambda: iam.list_groups()) == "allowed"


def test_enforcement_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), enforce_iam_authorization():
        raise RuntimeError("test failed inside the block")
    assert not iam_authorization_enforced()


# --- untimed deny ---------------------------------------------------------------------------


@pytest.mark.parametrize("attachment", ["inline", "managed"])
def test_untimed_deny_denies_until_removed(
    sandbox: Sandbox, iam: IAMClient, caller: KeyedUser, attachment: str
) -> None:
    """An admin user made before enforcement manages the deny while enforcement is on."""
    admin = keyed_user(sandbox, iam, ALLOW_ALL)
    document = json.dumps(UNTIMED_DENY)
    with enforce_iam_authorization():
        assert list_users_as(caller) == "allowed"
        if attachment == "inline":
            admin.iam.put_user_policy(
                UserName=caller.name, PolicyName="deny-all", PolicyDocument=document
            )
        else:
            arn = admin.iam.create_policy(PolicyName=unique("deny-all"), PolicyDocument=document)[
                "Policy"
            ]["Arn"]
            admin.iam.attach_user_policy(UserName=caller.name, PolicyArn=arn)

        assert list_users_as(caller) == "AccessDenied"
        # GetCallerIdentity is always allowed, as in AWS.
        assert caller.sts.get_caller_identity()["Arn"].endswith(f":user/{caller.name}")

        if attachment == "inline":
            admin.iam.delete_user_policy(UserName=caller.name, PolicyName="deny-all")
        else:
            admin.iam.detach_user_policy(UserName=caller.name, PolicyArn=arn)
        assert list_users_as(caller) == "allowed"


# --- timed deny -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_days", "end_days", "expected"),
    [
        pytest.param(1, 2, "allowed", id="future-window"),
        pytest.param(-1, 1, "AccessDenied", id="current-window"),
        pytest.param(-2, -1, "allowed", id="ended-window"),
    ],
)
def test_timed_deny_applies_only_inside_its_window(
    iam: IAMClient, caller: KeyedUser, start_days: int, end_days: int, expected: str
) -> None:
    """Against the real clock: the window is relative to now."""
    now = datetime.now(UTC)
    document = timed_deny(
        iso(now + timedelta(days=start_days)), iso(now + timedelta(days=end_days))
    )
    iam.put_user_policy(
        UserName=caller.name, PolicyName="deny-window", PolicyDocument=json.dumps(document)
    )
    with enforce_iam_authorization():
        assert list_users_as(caller) == expected


def test_engine_timed_deny_follows_the_pinned_clock(iam: IAMClient, caller: KeyedUser) -> None:
    """The engine's exact document: strictly after the start and strictly before the end."""
    iam.put_user_policy(
        UserName=caller.name,
        PolicyName="deny-window",
        PolicyDocument=json.dumps(timed_deny(*ENGINE_WINDOW)),
    )
    expectations = [
        ("2024-12-01T00:00:00Z", "allowed"),
        ("2024-12-24T23:59:59Z", "allowed"),
        ("2024-12-25T00:00:00Z", "AccessDenied"),
        ("2025-02-28T23:59:58Z", "AccessDenied"),
        ("2025-02-28T23:59:59Z", "allowed"),
        ("2025-03-01T00:00:00Z", "allowed"),
    ]
    with enforce_iam_authorization():
        for pinned, expected in expectations:
            set_sandbox_clock(at(pinned))
            assert list_users_as(caller) == expected, pinned
        set_sandbox_clock(None)
        # Today is long after the window ended.
        assert list_users_as(caller) == "allowed"


def test_timed_allow_grants_only_inside_its_window(sandbox: Sandbox, iam: IAMClient) -> None:
    """A statement outside its window does not apply, whatever its effect."""
    statement = dict(ALLOW_LIST_USERS["Statement"][0], Condition=window_condition(*ENGINE_WINDOW))
    user = keyed_user(sandbox, iam, {"Version": "2012-10-17", "Statement": [statement]})
    with enforce_iam_authorization():
        set_sandbox_clock(at("2025-01-15T12:00:00Z"))
        assert list_users_as(user) == "allowed"
        set_sandbox_clock(at("2025-03-15T12:00:00Z"))
        assert list_users_as(user) == "AccessDenied"


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, id="unknown-operator"),
        pytest.param(
            {"DateGreaterThan": {"aws:TokenIssueTime": "2099-01-01T00:00:00Z"}},
            id="unknown-key",
        ),
        # IAM's syntax check lets the 31st of any month through; no such date exists.
        pytest.param({"DateLessThan": {"aws:CurrentTime": "2020-02-31"}}, id="impossible-date"),
    ],
)
def test_conditions_the_sandbox_does_not_evaluate_are_left_to_moto(
    iam: IAMClient, caller: KeyedUser, condition: dict[str, Any]
) -> None:
    """moto ignores these, so the Deny applies regardless."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}],
    }
    iam.put_user_policy(
        UserName=caller.name, PolicyName="deny-other", PolicyDocument=json.dumps(document)
    )
    with enforce_iam_authorization():
        assert list_users_as(caller) == "AccessDenied"


# --- condition evaluation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "now", "holds"),
    [
        (
            {"DateGreaterThanEquals": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}},
            "2025-01-01",
            True,
        ),
        ({"DateGreaterThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}}, "2025-01-01", False),
        ({"DateLessThanEquals": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}}, "2025-01-01", True),
        ({"DateLessThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}}, "2025-01-01", False),
        ({"DateLessThanIfExists": {"aws:CurrentTime": "2025-01-02"}}, "2025-01-01", True),
        ({"DateLessThan": {"AWS:currenttime": "2025-01-02T00:00:00Z"}}, "2025-01-03", False),
        # Several values for one key: any one suffices.
        ({"DateLessThan": {"aws:CurrentTime": ["2024-01-01", "2026-01-01"]}}, "2025-06-01", True),
        # Epoch seconds, and an explicit offset.
        ({"DateGreaterThan": {"aws:CurrentTime": "1735689600"}}, "2025-01-01T00:00:01Z", True),
        ({"DateLessThan": {"aws:CurrentTime": "2025-01-01T01:00:00+02:00"}}, "2025-01-01", False),
        # Lower-case separators; a year-month is its first instant, digits alone epoch time.
        ({"DateLessThan": {"aws:CurrentTime": "2025-01-01t00:00:00z"}}, "2024-12-31", True),
        ({"DateGreaterThan": {"aws:CurrentTime": "2025-02"}}, "2025-02-01", False),
        ({"DateLessThan": {"aws:CurrentTime": "2025"}}, "1970-01-01T00:33:44Z", True),
        ({"DateLessThan": {"aws:CurrentTime": "2025"}}, "1970-01-01T00:33:45Z", False),
        (None, "2025-01-01", True),
        ({"StringEquals": {"aws:username": "someone"}}, "2025-01-01", True),
    ],
)
def test_date_conditions_hold(condition: Any, now: str, holds: bool) -> None:
    assert date_conditions_hold(condition, at(now)) is holds


def test_pinned_clock_takes_naive_times_as_utc() -> None:
    set_sandbox_clock(datetime(2025, 1, 1, 12, 0))
    assert sandbox_now() == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    set_sandbox_clock(None)
    assert abs(sandbox_now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_reset_unpins_the_clock(sandbox: Sandbox) -> None:
    set_sandbox_clock(at("2025-01-15T00:00:00Z"))
    sandbox.reset()
    assert abs(sandbox_now() - datetime.now(UTC)) < timedelta(minutes=1)
