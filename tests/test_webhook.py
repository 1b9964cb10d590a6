"""The HR webhook receiver: signatures, schema, idempotency and the runs it starts."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from deploy.hr_events import (
    IDENTITY_CENTER_DEPLOYMENT,
    LEAVE_DEPLOYMENT,
    RETURN_DEPLOYMENT,
    TERMINATION_DEPLOYMENT,
    RunRequest,
)
from deploy.webhook import (
    MAX_BODY_BYTES,
    DispatchError,
    PrefectDispatcher,
    WebhookConfigError,
    WebhookSettings,
    create_app,
    sign,
)
from tests.helpers import inject_client_error

SECRET = "test-webhook-secret-0123456789"


@dataclass
class RecordingDispatcher:
    """Records each run; like Prefect, one idempotency key always gives the same run id."""

    runs: list[RunRequest] = field(default_factory=list)
    fail: bool = False

    def dispatch(self, run: RunRequest) -> str:
        if self.fail:
            raise DispatchError(f"could not start {run.deployment}: test outage")
        self.runs.append(run)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, run.idempotency_key))


@dataclass
class Receiver:
    client: TestClient
    dispatcher: RecordingDispatcher
    db: Path

    def post(
        self,
        payload: dict[str, Any] | bytes,
        headers: dict[str, Any] | None = None,
        secret: str = SECRET,
        timestamp: int | None = None,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = sign(secret, body, timestamp) if headers is None else headers
        return self.client.post(
            "/hr/events", content=body, headers={"Content-Type": "application/json", **sent}
        )


def settings_for(db: Path, **values: Any) -> WebhookSettings:
    return WebhookSettings(webhook_secret=SecretStr(SECRET), webhook_db=db, **values)


@pytest.fixture
def make_receiver(sandbox: object, tmp_path: Path) -> Callable[..., Receiver]:
    """A receiver on the test's database; call again for a restart on the same database."""

    def make(
        db: Path = tmp_path / "webhook.sqlite3", dispatcher: RecordingDispatcher | None = None
    ) -> Receiver:
        dispatcher = dispatcher or RecordingDispatcher()
        app = create_app(settings_for(db), dispatcher)
        return Receiver(TestClient(app), dispatcher, db)

    return make


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


@pytest.fixture
def employee(iam: Any, user_name: str) -> tuple[str, str]:
    """(employee id, IAM user name): a user tagged with a fresh employee id."""
    employee_id = f"E{uuid.uuid4().hex[:10]}"
    iam.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee_id}])
    return employee_id, user_name


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"hr-{uuid.uuid4().hex[:12]}",
        "type": "termination",
        "effective_at": "2030-01-02T09:00:00Z",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def test_termination_by_employee_id(receiver: Receiver, employee: tuple[str, str]) -> None:
    employee_id, user = employee
    payload = event(employee_id=employee_id, effective_at="2030-01-02T10:00:00+01:00")

    response = receiver.post(payload)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event_id"] == payload["event_id"]
    assert body["duplicate"] is False
    assert len(body["flow_run_ids"]) == 1
    assert receiver.dispatcher.runs == [
        RunRequest(
            deployment=TERMINATION_DEPLOYMENT,
            parameters={
                "user_name": user,
                "reason": f"HR termination {payload['event_id']}",
                "ticket": payload["event_id"],
            },
            idempotency_key=f"{payload['event_id']}:{user}",
            scheduled_time=datetime(2030, 1, 2, 9, 0, tzinfo=UTC),
        )
    ]


def test_termination_by_user_name_in_the_past_is_scheduled_now(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    _, user = employee
    payload = event(iam_user_name=user, effective_at="2020-01-01T00:00:00Z")
    before = datetime.now(UTC)

    response = receiver.post(payload)

    assert response.status_code == 202, response.text
    [run] = receiver.dispatcher.runs
    assert run.deployment == TERMINATION_DEPLOYMENT
    assert run.parameters["user_name"] == user
    assert before <= run.scheduled_time <= datetime.now(UTC)
    assert response.json()["flow_run_ids"] == [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{payload['event_id']}:{user}"))
    ]


def test_employee_with_two_iam_users_gets_one_run_each(
    receiver: Receiver, iam: Any, employee: tuple[str, str]
) -> None:
    employee_id, user = employee
    second = f"{user[:50]}-2"
    iam.create_user(UserName=second, Tags=[{"Key": "employee_id", "Value": employee_id}])

    response = receiver.post(event(employee_id=employee_id))

    assert response.status_code == 202, response.text
    assert len(response.json()["flow_run_ids"]) == 2
    assert sorted(r.parameters["user_name"] for r in receiver.dispatcher.runs) == sorted(
        [user, second]
    )


def test_employee_id_and_user_name_must_agree(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    employee_id, user = employee

    agreeing = receiver.post(event(employee_id=employee_id, iam_user_name=user))
    other = receiver.post(event(employee_id="E-someone-else", iam_user_name=user))

    assert agreeing.status_code == 202, agreeing.text
    assert other.status_code == 404
    assert "E-someone-else" in other.json()["detail"]
    assert user in other.json()["detail"]
    assert len(receiver.dispatcher.runs) == 1


def test_leave_starts_deactivation_for_the_window(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    employee_id, user = employee
    payload = event(
        type="leave",
        employee_id=employee_id,
        effective_at="2030-06-01T00:00:00Z",
        start="2030-06-01T02:00:00+02:00",
        end="2030-09-01T00:00:00Z",
    )

    response = receiver.post(payload)

    assert response.status_code == 202, response.text
    [run] = receiver.dispatcher.runs
    assert run.deployment == LEAVE_DEPLOYMENT
    assert run.parameters == {
        "user_name": user,
        "window": {"start": "2030-06-01T00:00:00+00:00", "end": "2030-09-01T00:00:00+00:00"},
        "disable_keys": True,
        "reason": f"HR leave {payload['event_id']}",
        "ticket": payload["event_id"],
    }
    assert run.scheduled_time == datetime(2030, 6, 1, tzinfo=UTC)


def test_return_starts_reactivation(receiver: Receiver, employee: tuple[str, str]) -> None:
    _, user = employee
    payload = event(type="return", iam_user_name=user)

    response = receiver.post(payload)

    assert response.status_code == 202, response.text
    [run] = receiver.dispatcher.runs
    assert run.deployment == RETURN_DEPLOYMENT
    assert run.parameters == {
        "user_name": user,
        "reason": f"HR return {payload['event_id']}",
        "ticket": payload["event_id"],
    }


def test_duplicate_event_answers_the_same_runs_also_after_a_restart(
    make_receiver: Callable[..., Receiver], employee: tuple[str, str], iam: Any
) -> None:
    employee_id, user = employee
    first = make_receiver()
    payload = event(employee_id=employee_id)
    original = first.post(payload)
    assert original.status_code == 202, original.text

    again = first.post(payload)
    # Same event, other key order and spacing: still the same event.
    reordered = json.dumps(dict(reversed(payload.items())), indent=2).encode()
    again_reordered = first.post(reordered)
    # The user is gone once the termination ran; the redelivery still gets its runs.
    iam.delete_user(UserName=user)
    restarted = make_receiver(dispatcher=RecordingDispatcher())
    after_restart = restarted.post(payload)

    for response in (again, again_reordered, after_restart):
        assert response.status_code == 202, response.text
        assert response.json() == {
            "event_id": payload["event_id"],
            "flow_run_ids": original.json()["flow_run_ids"],
            "duplicate": True,
        }
    assert len(first.dispatcher.runs) == 1
    assert restarted.dispatcher.runs == []


def test_same_event_id_with_another_body_is_a_conflict(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    employee_id, _ = employee
    payload = event(employee_id=employee_id)
    assert receiver.post(payload).status_code == 202

    response = receiver.post({**payload, "effective_at": "2031-01-01T00:00:00Z"})

    assert response.status_code == 409
    assert payload["event_id"] in response.json()["detail"]
    assert len(receiver.dispatcher.runs) == 1


def test_failed_dispatch_is_started_again_on_redelivery(
    make_receiver: Callable[..., Receiver], employee: tuple[str, str]
) -> None:
    employee_id, user = employee
    payload = event(employee_id=employee_id)
    down = make_receiver(dispatcher=RecordingDispatcher(fail=True))

    failed = down.post(payload)
    restarted = make_receiver()
    retried = restarted.post(payload)

    assert failed.status_code == 503
    assert "deliver the event again" in failed.json()["detail"]
    assert retried.status_code == 202, retried.text
    assert retried.json()["duplicate"] is False
    [run] = restarted.dispatcher.runs
    assert run.idempotency_key == f"{payload['event_id']}:{user}"


def test_iam_failure_during_lookup_is_503_and_records_nothing(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    _, user = employee
    payload = event(iam_user_name=user)

    with inject_client_error("GetUser", "AccessDenied", times=1, status=403):
        failed = receiver.post(payload)
    retried = receiver.post(payload)

    assert failed.status_code == 503
    assert "AccessDenied" in failed.json()["detail"]
    assert retried.status_code == 202
    assert retried.json()["duplicate"] is False


def _stale() -> int:
    return int(time.time()) - 310


def _future() -> int:
    return int(time.time()) + 310


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: {}, id="no-headers"),
        pytest.param(lambda body: {"X-Offboard-Timestamp": str(int(time.time()))}, id="no-sig"),
        pytest.param(
            lambda body: {"X-Offboard-Signature": sign(SECRET, body)["X-Offboard-Signature"]},
            id="no-timestamp",
        ),
        pytest.param(lambda body: sign("another-secret-0123456789", body), id="wrong-secret"),
        pytest.param(lambda body: sign(SECRET, body + b" "), id="other-body"),
        pytest.param(lambda body: sign(SECRET, body, _stale()), id="stale"),
        pytest.param(lambda body: sign(SECRET, body, _future()), id="future"),
        pytest.param(
            lambda body: {**sign(SECRET, body), "X-Offboard-Timestamp": "1e9"}, id="not-seconds"
        ),
        pytest.param(
            lambda body: {
                **sign(SECRET, body),
                "X-Offboard-Signature": "sha256=\xe9".encode("latin-1"),
            },
            id="non-ascii-signature",
        ),
        pytest.param(
            lambda body: {
                **sign(SECRET, body),
                "X-Offboard-Signature": sign(SECRET, body)["X-Offboard-Signature"].upper(),
            },
            id="mangled-signature",
        ),
    ],
)
def test_unauthenticated_requests_are_refused(
    receiver: Receiver, employee: tuple[str, str], headers: Callable[[bytes], dict[str, Any]]
) -> None:
    body = json.dumps(event(employee_id=employee[0])).encode()

    response = receiver.post(body, headers=headers(body))

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
    assert receiver.dispatcher.runs == []


def test_timestamp_within_five_minutes_is_accepted(
    receiver: Receiver, employee: tuple[str, str]
) -> None:
    response = receiver.post(event(employee_id=employee[0]), timestamp=int(time.time()) - 290)

    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b'{"event_id": "a",}', b"\xff\xfe\xfa", b"[" * 60_000, b"1" * 5000],
    ids=["empty", "garbage", "trailing-comma", "not-utf8", "deep", "huge-number"],
)
def test_malformed_json_is_400(receiver: Receiver, body: bytes) -> None:
    response = receiver.post(body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not JSON")
    assert receiver.dispatcher.runs == []


def test_oversized_body_is_413(receiver: Receiver) -> None:
    response = receiver.post(b" " * (MAX_BODY_BYTES + 1))

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        (event(employee_id="E1", effective_at="2030-01-01T09:00:00"), ["body", "effective_at"]),
        (event(employee_id="E1", effective_at=1_900_000_000), ["body", "effective_at"]),
        (
            event(employee_id="E1", effective_at="9999-12-31T23:00:00-10:00"),
            ["body", "effective_at"],
        ),
        (event(type="leave", employee_id="E1", start="2030-06-01T00:00:00Z"), ["body", "end"]),
        (
            event(
                type="leave",
                employee_id="E1",
                start="2030-06-01T00:00:00Z",
                end="2030-06-01T00:00:00Z",
            ),
            ["body", "end"],
        ),
        (
            event(
                type="leave",
                employee_id="E1",
                start="2030-06-01T00:00:00Z",
                end="2030-06-01T00:00:00.500000Z",
            ),
            ["body", "end"],
        ),
        (
            event(
                type="leave",
                employee_id="E1",
                start="2019-06-01T00:00:00Z",
                end="2020-01-01T00:00:00Z",
            ),
            ["body", "end"],
        ),
        (event(employee_id="E1", start="2030-06-01T00:00:00Z"), ["body", "start"]),
        (event(type="fired", employee_id="E1"), ["body", "type"]),
        (event(iam_user_name="bad name!"), ["body", "iam_user_name"]),
        (event(iam_user_name="x" * 65), ["body", "iam_user_name"]),
        (event(), ["body", "iam_user_name"]),
        (event(employee_id="E1", event_id=""), ["body", "event_id"]),
        (event(employee_id="E1", event_id="x" * 129), ["body", "event_id"]),
        (event(employee_id="E1", event_id="a\nb"), ["body", "event_id"]),
        (event(employee_id=7), ["body", "employee_id"]),
        (event(employee_id="E1", extra="x"), ["body", "extra"]),
        ([event(employee_id="E1")], ["body"]),
    ],
    ids=[
        "naive",
        "epoch-number",
        "out-of-range",
        "leave-without-end",
        "end-not-after-start",
        "sub-second-window",
        "leave-already-ended",
        "window-on-termination",
        "bad-type",
        "bad-user-name",
        "long-user-name",
        "nobody",
        "empty-event-id",
        "long-event-id",
        "control-char-event-id",
        "number-employee-id",
        "unknown-field",
        "not-an-object",
    ],
)
def test_schema_errors_are_422_with_field_locations(
    receiver: Receiver, payload: Any, loc: list[str]
) -> None:
    response = receiver.post(json.dumps(payload).encode())

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert loc in [error["loc"] for error in detail], detail
    assert all(error["msg"] for error in detail)
    assert receiver.dispatcher.runs == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"event_id": "a\\ud800", "type": "return", "employee_id": "E1"', ["body", "event_id"]),
        (b'{"event_id": "a", "type": "return", "employee_id": "E1", "\\udc00": 1', ["body"]),
    ],
    ids=["in-a-value", "in-a-key"],
)
def test_lone_surrogates_are_422_not_a_server_error(
    receiver: Receiver, body: bytes, loc: list[str]
) -> None:
    response = receiver.post(body + b', "effective_at": "2030-01-01T00:00:00Z"}')

    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_unknown_employee_or_user_is_404_and_records_nothing(
    receiver: Receiver, iam: Any, user_name: str
) -> None:
    employee_id = f"E{uuid.uuid4().hex[:10]}"
    by_employee = event(employee_id=employee_id)
    by_name = event(iam_user_name=user_name)

    missing_employee = receiver.post(by_employee)
    missing_user = receiver.post(by_name)

    assert missing_employee.status_code == 404
    assert employee_id in missing_employee.json()["detail"]
    assert missing_user.status_code == 404
    assert user_name in missing_user.json()["detail"]
    assert receiver.dispatcher.runs == []
    # Nothing was recorded: once the user exists, the same events are accepted.
    iam.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee_id}])
    assert receiver.post(by_employee).json()["duplicate"] is False
    assert receiver.post(by_name).json()["duplicate"] is False


def test_healthz_and_openapi(receiver: Receiver) -> None:
    assert receiver.client.get("/healthz").json() == {"status": "ok"}

    spec = receiver.client.get("/openapi.json").json()
    operation = spec["paths"]["/hr/events"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["title"] == "HrEvent"
    assert schema["examples"]
    assert {p["name"] for p in operation["parameters"]} == {
        "X-Offboard-Timestamp",
        "X-Offboard-Signature",
    }
    assert {"202", "400", "401", "404", "409", "422"} <= set(operation["responses"])


def test_sign_is_hmac_sha256_over_timestamp_and_body() -> None:
    headers = sign("k" * 16, b'{"a":1}', timestamp=1_700_000_000)

    expected = hmac.new(b"k" * 16, b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert headers == {
        "X-Offboard-Timestamp": "1700000000",
        "X-Offboard-Signature": f"sha256={expected}",
    }


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFBOARD_WEBHOOK_SECRET", raising=False)


def test_create_app_refuses_to_start_without_the_secret(no_secret: None) -> None:
    with pytest.raises(WebhookConfigError, match="OFFBOARD_WEBHOOK_SECRET is not set"):
        create_app(dispatcher=RecordingDispatcher())


def _cli() -> typer.Typer:
    from cli import webhook_cli

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `webhook` a subcommand."""

    webhook_cli.register(app)
    return app


def test_cli_refuses_to_start_without_the_secret(no_secret: None) -> None:
    result = CliRunner().invoke(_cli(), ["webhook"])

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "offboard: error: OFFBOARD_WEBHOOK_SECRET is not set: the receiver needs the secret "
        "shared with the HR system to verify events"
    ]


def test_cli_serves_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    served: list[tuple[FastAPI, str, int]] = []
    monkeypatch.setenv("OFFBOARD_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("OFFBOARD_WEBHOOK_DB", str(tmp_path / "cli.sqlite3"))
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: served.append((app, host, port)))

    result = CliRunner().invoke(_cli(), ["webhook", "--port", "9911"])

    assert result.exit_code == 0, result.output
    [(app, host, port)] = served
    assert isinstance(app, FastAPI)
    assert (host, port) == ("127.0.0.1", 9911)
    assert (tmp_path / "cli.sqlite3").exists()


@pytest.fixture
def fake_run_deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    import prefect.deployments
    from prefect.client.schemas.objects import FlowRun

    calls: list[dict[str, Any]] = []

    def run_deployment(name: str, **kwargs: Any) -> FlowRun:
        calls.append({"name": name, **kwargs})
        if name == "missing/missing":
            raise RuntimeError("Failed to reach API at http://prefect")
        return FlowRun(flow_id=uuid.uuid4(), name="run", parameters=kwargs["parameters"])

    monkeypatch.setattr(prefect.deployments, "run_deployment", run_deployment)
    yield calls


def test_prefect_dispatcher_creates_an_idempotent_deployment_run(
    fake_run_deployment: list[dict[str, Any]],
) -> None:
    when = datetime.now(UTC) + timedelta(days=1)
    run = RunRequest(TERMINATION_DEPLOYMENT, {"user_name": "u"}, "hr-1:u", when)

    flow_run_id = PrefectDispatcher().dispatch(run)

    uuid.UUID(flow_run_id)
    assert fake_run_deployment == [
        {
            "name": TERMINATION_DEPLOYMENT,
            "parameters": {"user_name": "u"},
            "scheduled_time": when,
            "timeout": 0,
            "idempotency_key": "hr-1:u",
            "as_subflow": False,
        }
    ]
    with pytest.raises(DispatchError, match="could not start missing/missing"):
        PrefectDispatcher().dispatch(
            RunRequest("missing/missing", {"user_name": "u"}, "hr-1:u", when)
        )


@pytest.fixture
def deployments(prefect_harness: None) -> None:
    from prefect.deployments.runner import RunnerDeployment

    from flows.deactivation import deactivate_user, reactivate_user
    from flows.offboard_user import offboard_user

    for flow in (offboard_user, deactivate_user, reactivate_user):
        deployment = flow.to_deployment(name=flow.name)
        assert isinstance(deployment, RunnerDeployment)  # sync outside an event loop
        deployment.apply()


def test_prefect_runs_survive_a_lost_record(
    deployments: None,
    employee: tuple[str, str],
    tmp_path: Path,
) -> None:
    from prefect import get_client

    employee_id, user = employee
    payload = event(employee_id=employee_id, effective_at="2030-01-02T09:00:00Z")

    def receiver_on(db: Path) -> Receiver:
        app = create_app(settings_for(db), PrefectDispatcher())
        return Receiver(TestClient(app), RecordingDispatcher(), db)

    first = receiver_on(tmp_path / "first.sqlite3").post(payload)
    # A receiver that lost its database starts nothing new: Prefect knows the idempotency key.
    second = receiver_on(tmp_path / "second.sqlite3").post(payload)

    assert first.status_code == 202, first.text
    assert second.json()["flow_run_ids"] == first.json()["flow_run_ids"]
    [flow_run_id] = first.json()["flow_run_ids"]
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(flow_run_id))
    assert flow_run.state is not None and flow_run.state.is_scheduled()
    assert flow_run.state.state_details.scheduled_time == datetime(2030, 1, 2, 9, tzinfo=UTC)
    assert flow_run.parameters == {
        "user_name": user,
        "reason": f"HR termination {payload['event_id']}",
        "ticket": payload["event_id"],
    }


# --- Content type, body deadline, repeated keys and concurrent duplicates -------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ],
    ids=["none", "text", "form", "jsonp", "latin-1", "multipart"],
)
def test_a_body_not_declared_as_json_is_415_and_starts_nothing(
    receiver: Receiver, employee: tuple[str, str], content_type: str | None
) -> None:
    payload = event(employee_id=employee[0])
    body = json.dumps(payload).encode()
    headers = sign(SECRET, body) | ({} if content_type is None else {"Content-Type": content_type})

    refused = receiver.client.post("/hr/events", content=body, headers=headers)

    assert refused.status_code == 415, refused.text
    assert "application/json" in refused.json()["detail"]
    assert refused.headers["connection"] == "close"
    assert receiver.dispatcher.runs == []
    # Nothing was recorded: the same event declared as JSON is the first delivery.
    assert receiver.post(payload).json()["duplicate"] is False


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json ;"]
)
def test_json_content_type_with_utf8_charset_or_other_case_is_accepted(
    receiver: Receiver, employee: tuple[str, str], content_type: str
) -> None:
    body = json.dumps(event(employee_id=employee[0])).encode()

    response = receiver.client.post(
        "/hr/events", content=body, headers={"Content-Type": content_type, **sign(SECRET, body)}
    )

    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id": "hr-dup-1", "type": "return", "type": "termination", '
        b'"iam_user_name": "USER", "effective_at": "2030-01-01T00:00:00Z"}',
        b'{"event_id": "hr-dup-2", "type": "return", "iam_user_name": "someone-else", '
        b'"iam_user_name": "USER", "effective_at": "2030-01-01T00:00:00Z"}',
    ],
    ids=["type-twice", "user-twice"],
)
def test_repeated_json_keys_are_400_and_start_nothing(
    receiver: Receiver, employee: tuple[str, str], body: bytes
) -> None:
    """A sender may read the first value, json.loads reads the last: no reading is chosen."""
    signed = body.replace(b"USER", employee[1].encode())

    response = receiver.post(signed)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "repeats a JSON key" in detail
    assert ("'type'" in detail) or ("'iam_user_name'" in detail)
    assert receiver.dispatcher.runs == []


def test_repeated_keys_in_a_nested_object_are_400_too(receiver: Receiver) -> None:
    response = receiver.post(b'{"event_id": "x", "extra": {"a": 1, "a": 2}}')

    assert response.status_code == 400
    assert "'a'" in response.json()["detail"]


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """The app under uvicorn on 127.0.0.1 (a free port), as `offboard webhook` serves it."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(1000):  # bounded: at most ~20 s
        if server.started or not thread.is_alive():
            break
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def _read_until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded reads)."""
    received = b""
    for _ in range(1000):
        chunk = conn.recv(4096)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"connection still open after {received[:200]!r}")


def test_stalled_senders_are_answered_408_and_disconnected(
    sandbox: object, tmp_path: Path, employee: tuple[str, str]
) -> None:
    """50 connections send their headers (and maybe part of the body), then nothing: each one
    is answered 408 and closed by the server once the body deadline passes; the receiver still
    serves a real event afterwards."""
    dispatcher = RecordingDispatcher()
    app = create_app(
        settings_for(tmp_path / "webhook.sqlite3", webhook_body_timeout_seconds=0.5), dispatcher
    )
    body = json.dumps(event(employee_id=employee[0])).encode()
    head = (
        b"POST /hr/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in sign(SECRET, body).items())
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )

    with serving(app) as port:
        stalled = []
        for index in range(50):
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            # Half stop after the headers, half in the middle of the body.
            conn.sendall(head if index % 2 else head + body[: len(body) // 2])
            stalled.append(conn)
        answers = []
        for conn in stalled:
            with conn:
                answers.append(_read_until_closed(conn))
        healthy = httpx.post(
            f"http://127.0.0.1:{port}/hr/events",
            content=body,
            headers={"Content-Type": "application/json", **sign(SECRET, body)},
            timeout=30,
        )

    assert len(answers) == 50
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"did not arrive within 0.5 seconds" in answer
        assert b"connection: close" in answer.lower()
    assert healthy.status_code == 202, healthy.text
    assert len(dispatcher.runs) == 1


@dataclass
class GatedDispatcher(RecordingDispatcher):
    """Holds the first start until every delivery has claimed the event (bounded wait)."""

    gate: threading.Event = field(default_factory=threading.Event)

    def dispatch(self, run: RunRequest) -> str:
        self.gate.wait(timeout=60)
        return super().dispatch(run)


def test_twenty_concurrent_deliveries_start_one_run_and_one_says_not_duplicate(
    sandbox: object, tmp_path: Path, employee: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.idempotency import EventStore

    deliveries = 20
    dispatcher = GatedDispatcher()
    claims: list[str] = []
    lock = threading.Lock()
    claim = EventStore.claim

    def counting_claim(self: EventStore, *args: Any) -> Any:
        with lock:
            claims.append(args[0])
            if len(claims) == deliveries:
                dispatcher.gate.set()
        return claim(self, *args)

    monkeypatch.setattr(EventStore, "claim", counting_claim)
    app = create_app(settings_for(tmp_path / "webhook.sqlite3"), dispatcher)
    body = json.dumps(event(employee_id=employee[0])).encode()
    start = threading.Barrier(deliveries)

    def deliver() -> Any:
        start.wait(timeout=30)
        return httpx.post(
            f"http://127.0.0.1:{port}/hr/events",
            content=body,
            headers={"Content-Type": "application/json", **sign(SECRET, body)},
            timeout=60,
        )

    with serving(app) as port, ThreadPoolExecutor(deliveries) as pool:
        responses = list(pool.map(lambda _: deliver(), range(deliveries)))

    assert [r.status_code for r in responses] == [202] * deliveries, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * (deliveries - 1)
    assert len({tuple(a["flow_run_ids"]) for a in answers}) == 1
    assert len(dispatcher.runs) == 1
    assert len(claims) == deliveries  # every delivery raced for the claim


def test_a_claim_left_by_a_stopped_receiver_is_started_by_the_next_delivery(
    make_receiver: Callable[..., Receiver], employee: tuple[str, str], tmp_path: Path
) -> None:
    """The receiver stopped between claiming and starting: once the claim's lease has run
    out, a redelivery starts the runs (for the users of the claim) and says so."""
    from deploy.hr_events import HrEvent
    from deploy.idempotency import EventStore

    employee_id, user = employee
    payload = event(employee_id=employee_id)
    db = tmp_path / "webhook.sqlite3"
    stopped = EventStore(db, lease_seconds=0).claim(
        payload["event_id"], HrEvent.model_validate(payload).digest(), (user,)
    )
    assert stopped.owned

    response = make_receiver(db).post(payload)

    assert response.status_code == 202, response.text
    assert response.json()["duplicate"] is False
    assert EventStore(db).get(payload["event_id"]).flow_run_ids == tuple(  # type: ignore[union-attr]
        response.json()["flow_run_ids"]
    )


# --- Settings: body deadline and the secret from a file --------------------------------------


def test_secret_from_a_file(
    no_secret: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.webhook_settings import load_settings

    secret_file = tmp_path / "webhook_secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("OFFBOARD_WEBHOOK_SECRET_FILE", str(secret_file))

    settings = load_settings()

    assert settings.webhook_secret.get_secret_value() == SECRET
    assert settings.webhook_body_timeout_seconds == 10


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"OFFBOARD_WEBHOOK_SECRET_FILE": "{missing}"},
            "OFFBOARD_WEBHOOK_SECRET_FILE: cannot read",
        ),
        (
            {"OFFBOARD_WEBHOOK_SECRET_FILE": "{file}", "OFFBOARD_WEBHOOK_SECRET": SECRET},
            "set OFFBOARD_WEBHOOK_SECRET or OFFBOARD_WEBHOOK_SECRET_FILE, not both",
        ),
        (
            {"OFFBOARD_WEBHOOK_SECRET_FILE": "{short}"},
            "OFFBOARD_WEBHOOK_SECRET is shorter than 16 characters",
        ),
        (
            {"OFFBOARD_WEBHOOK_SECRET": SECRET, "OFFBOARD_WEBHOOK_BODY_TIMEOUT_SECONDS": "0"},
            "OFFBOARD_WEBHOOK_BODY_TIMEOUT_SECONDS: Input should be greater than 0",
        ),
    ],
    ids=["missing-file", "both", "short-file", "zero-deadline"],
)
def test_cli_settings_errors_are_one_line_exit_2(
    no_secret: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    message: str,
) -> None:
    files = {"missing": tmp_path / "absent", "file": tmp_path / "s", "short": tmp_path / "short"}
    files["file"].write_text(SECRET)
    files["short"].write_text("tooshort\n")
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(**files))

    result = CliRunner().invoke(_cli(), ["webhook"])

    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"offboard: error: {message}"), line
    assert SECRET not in result.output


# --- README's examples on the demo data ------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_webhook_blocks() -> dict[str, str]:
    """The fenced blocks of README's HR webhook section, by language ("" for shell)."""
    text = README.read_text()
    section = text[text.index("### HR webhook") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    return {language: body for language, body in blocks}


def test_readme_hr_event_examples_are_accepted_on_the_demo_users(
    sandbox: object, iam: Any, sso: Any, store: Any, tmp_path: Path
) -> None:
    """`offboard sandbox --seed-demo` users carry the employee ids README's examples use: the
    JSON event, the Python signing example and the curl example each get 202, not 404, and a
    termination starts the runs of the person's IAM and Identity Center users."""
    import subprocess

    from sandbox.fixtures import DEMO_EMPLOYEE_IDS, seed_demo_users
    from sandbox.identity_center_fixtures import seed_demo_identity_center

    seed_demo_users(iam)
    seed_demo_identity_center(sso, store)
    store_id = sso.list_instances()["Instances"][0]["IdentityStoreId"]
    alice_in_centre = store.get_user_id(
        IdentityStoreId=store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "alice.departed"}
        },
    )["UserId"]
    tags = {
        name: {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
        for name in DEMO_EMPLOYEE_IDS
    }
    assert {name: t.get("employee_id") for name, t in tags.items()} == DEMO_EMPLOYEE_IDS
    blocks = _readme_webhook_blocks()
    dispatcher = RecordingDispatcher()
    app = create_app(settings_for(tmp_path / "webhook.sqlite3"), dispatcher)

    with serving(app) as port:
        url = f"http://127.0.0.1:{port}/hr/events"
        body = json.dumps(json.loads(blocks["json"])).encode()
        from_json = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **sign(SECRET, body)},
            timeout=30,
        )
        printed: list[Any] = []
        python_example = blocks["python"].replace("http://127.0.0.1:8787/hr/events", url)
        exec(python_example, {"SECRET": SECRET, "print": printed.append})
        curl = subprocess.run(
            ["bash", "-c", blocks[""].replace("http://127.0.0.1:8787/hr/events", url)],
            env={"PATH": os.environ["PATH"], "OFFBOARD_WEBHOOK_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert from_json.status_code == 202, from_json.text
    [from_python] = printed
    assert json.loads(from_python)["duplicate"] is False
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["duplicate"] is False
    # A termination by employee id (README's JSON event) offboards the person's Identity Center
    # user too; one naming the IAM user (the Python example) offboards that user alone.
    iam_runs = [r for r in dispatcher.runs if r.deployment != IDENTITY_CENTER_DEPLOYMENT]
    assert sorted((r.deployment, r.parameters["user_name"]) for r in iam_runs) == sorted(
        [
            (TERMINATION_DEPLOYMENT, "alice.departed"),
            (TERMINATION_DEPLOYMENT, "alice.departed"),
            (RETURN_DEPLOYMENT, "bob.onleave"),
        ]
    )
    centre = [r.parameters for r in dispatcher.runs if r.deployment == IDENTITY_CENTER_DEPLOYMENT]
    assert [(p["value"], p["selector"]) for p in centre] == [(alice_in_centre, "user_id")]
