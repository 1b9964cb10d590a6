"""HR webhook receiver: signed HR events start offboarding, leave and return flow runs.

``POST /hr/events`` checks, in this order, and creates nothing when a check fails: body size (413),
signature and timestamp (401), JSON (400), schema (422), earlier delivery of the same event id
(202 with the recorded runs, or 409 when the body differs), IAM users (404), then starts one flow
run per IAM user (202). Sign a request with :func:`sign`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from config.settings import get_settings
from deploy.hr_events import HrEvent, RunRequest, plan_runs
from deploy.idempotency import EventStore
from tasks.errors import OffboardError, describe_failure

log = structlog.get_logger("offboard.webhook")

TIMESTAMP_HEADER = "X-Offboard-Timestamp"
SIGNATURE_HEADER = "X-Offboard-Signature"
# Older or newer timestamps are refused, so a captured request cannot be replayed later.
TOLERANCE_SECONDS = 300
# HR events are a few hundred bytes; anything this large is not one.
MAX_BODY_BYTES = 64 * 1024
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
SECRET_MIN_LENGTH = 16


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFBOARD_", frozen=True, extra="ignore")

    # Shared with the HR system; every request is signed with it.
    webhook_secret: SecretStr = Field(min_length=SECRET_MIN_LENGTH)
    # Received events and their flow runs; default HOME/webhook.sqlite3.
    webhook_db: Path | None = None

    def event_db(self) -> Path:
        return self.webhook_db or get_settings().home / "webhook.sqlite3"


class WebhookConfigError(OffboardError):
    """The receiver cannot start with these settings."""


def load_settings() -> WebhookSettings:
    """WebhookSettings from the environment; a missing or short secret raises one line."""
    try:
        return WebhookSettings()  # type: ignore[call-arg]  # the secret comes from the environment
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = "OFFBOARD_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        if error["type"] == "missing" and name == "OFFBOARD_WEBHOOK_SECRET":
            message = (
                "OFFBOARD_WEBHOOK_SECRET is not set: the receiver needs the secret shared with "
                "the HR system to verify events"
            )
        elif (
            error["type"] in ("too_short", "string_too_short") and name == "OFFBOARD_WEBHOOK_SECRET"
        ):
            message = f"OFFBOARD_WEBHOOK_SECRET is shorter than {SECRET_MIN_LENGTH} characters"
        else:
            message = f"{name}: {error['msg']}"
        raise WebhookConfigError(message) from None


def _signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers that authenticate ``body`` (timestamp defaults to now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: _signature(secret.encode(), stamp, body),
    }


class DispatchError(Exception):
    """The flow runs could not be started; the sender should deliver the event again."""


class Dispatcher(Protocol):
    def dispatch(self, run: RunRequest) -> str:
        """Start (or find, by ``run.idempotency_key``) the flow run; returns its id."""
        ...


class PrefectDispatcher:
    """Creates deployment runs on the Prefect API named by PREFECT_API_URL."""

    def dispatch(self, run: RunRequest) -> str:
        import httpx
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment
        from prefect.exceptions import PrefectException

        try:
            flow_run = run_deployment(
                run.deployment,
                parameters=dict(run.parameters),
                scheduled_time=run.scheduled_time,
                timeout=0,
                idempotency_key=run.idempotency_key,
                as_subflow=False,
            )
        # RuntimeError is how Prefect reports an unreachable or incompatible API.
        except (httpx.HTTPError, PrefectException, RuntimeError) as exc:
            raise DispatchError(f"could not start {run.deployment}: {exc}") from exc
        if not isinstance(flow_run, FlowRun):
            raise TypeError("PrefectDispatcher.dispatch must run in a thread, not in an event loop")
        return str(flow_run.id)


class EventAccepted(BaseModel):
    event_id: str
    flow_run_ids: list[str]
    duplicate: bool = Field(description="True when the event was received before.")


class ErrorDetail(BaseModel):
    detail: str


def _printable(text: str) -> str:
    # Field names from the request may hold lone surrogates, which JSON responses cannot carry.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    # Without the input: it may be large, and it is the caller's own body.
    return [
        {
            "type": error["type"],
            "loc": ["body", *(_printable(p) if isinstance(p, str) else p for p in error["loc"])],
            "msg": _printable(error["msg"]),
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message)


def verify(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raise 401 unless the headers sign ``body`` and the timestamp is within tolerance."""
    if not timestamp or not signature:
        raise _unauthorized(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise _unauthorized(f"{TIMESTAMP_HEADER} is not unix seconds")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise _unauthorized(f"{TIMESTAMP_HEADER} is more than 5 minutes from the receiver's clock")
    expected = _signature(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise _unauthorized(f"{SIGNATURE_HEADER} does not match the body")


def parse_event(body: bytes) -> HrEvent:
    """400 for a body that is not JSON, 422 (field by field) for one that is not an event."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise HTTPException(status_code=400, detail=f"body is not JSON: {reason}") from None
    try:
        return HrEvent.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(_field_errors(exc)) from None


async def _read_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(status_code=413, detail=f"body is over {MAX_BODY_BYTES} bytes")
    return bytes(body)


def resolve_users(event: HrEvent, employee_tag_key: str) -> tuple[str, ...]:
    """The IAM users the event is about; 404 naming the employee or user when there is none."""
    from tasks.leave import users_by_employee_id
    from tasks.user import find_user

    if event.iam_user_name is not None:
        user = find_user.fn(event.iam_user_name)
        if user is None:
            raise HTTPException(status_code=404, detail=f"no IAM user named {event.iam_user_name}")
        if event.employee_id is not None and not any(
            tag.key == employee_tag_key and tag.value == event.employee_id for tag in user.tags
        ):
            raise HTTPException(
                status_code=404,
                detail=f"no IAM user named {event.iam_user_name} with tag "
                f"{employee_tag_key}={event.employee_id}",
            )
        return (user.user_name,)
    assert event.employee_id is not None  # the model requires one of the two
    found = users_by_employee_id.fn((event.employee_id,)).get(event.employee_id, ())
    if not found:
        raise HTTPException(
            status_code=404,
            detail=f"no IAM user carries the tag {employee_tag_key}={event.employee_id}",
        )
    return tuple(sorted(found))


class Receiver:
    """What happens to a verified, valid event; runs in a worker thread (IAM, SQLite, Prefect)."""

    def __init__(self, store: EventStore, dispatcher: Dispatcher, employee_tag_key: str) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.employee_tag_key = employee_tag_key

    def accept(self, event: HrEvent) -> EventAccepted:
        digest = event.digest()
        stored = self.store.get(event.event_id)
        if stored is None:
            try:
                user_names = resolve_users(event, self.employee_tag_key)
            except (ClientError, BotoCoreError) as exc:
                raise HTTPException(status_code=503, detail=_iam_failure(exc)) from None
            stored = self.store.claim(event.event_id, digest, user_names)
        if stored.body_sha256 != digest:
            raise HTTPException(
                status_code=409,
                detail=f"event {event.event_id} was received before with a different body",
            )
        if stored.flow_run_ids is not None:
            log.info("webhook.duplicate", event_id=event.event_id, runs=stored.flow_run_ids)
            return EventAccepted(
                event_id=event.event_id, flow_run_ids=list(stored.flow_run_ids), duplicate=True
            )
        # The users stored with the claim, so a redelivery after a stop starts the same runs.
        runs = plan_runs(event, stored.user_names, datetime.now(UTC))
        try:
            started = tuple(self.dispatcher.dispatch(run) for run in runs)
        except DispatchError as exc:
            log.warning("webhook.dispatch_failed", event_id=event.event_id, error=str(exc))
            raise HTTPException(status_code=503, detail=f"{exc}; deliver the event again") from None
        recorded = self.store.complete(event.event_id, started)
        log.info(
            "webhook.accepted",
            event_id=event.event_id,
            type=event.type,
            users=stored.user_names,
            runs=recorded,
        )
        return EventAccepted(event_id=event.event_id, flow_run_ids=list(recorded), duplicate=False)


def _iam_failure(exc: ClientError | BotoCoreError) -> str:
    code, action, message = describe_failure(exc)
    where = f" on {action}" if action else ""
    return f"IAM lookup failed: {code}{where}: {message}"


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


def _request_body_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": HrEvent.model_json_schema()}},
        }
    }


def create_app(
    settings: WebhookSettings | None = None, dispatcher: Dispatcher | None = None
) -> FastAPI:
    """The receiver; settings default to the environment, runs to Prefect deployments.

    Raises WebhookConfigError (one line) when the secret is missing."""
    settings = settings or load_settings()
    secret = settings.webhook_secret.get_secret_value().encode()
    receiver = Receiver(
        EventStore(settings.event_db()),
        dispatcher or PrefectDispatcher(),
        get_settings().employee_tag_key,
    )
    app = FastAPI(
        title="offboard HR webhook",
        version="1",
        description=(
            "Signed HR events start IAM offboarding (termination), deactivation for a leave "
            "window (leave) and reactivation (return). Sign each request: "
            f"`{SIGNATURE_HEADER}: sha256=HMAC-SHA256(secret, timestamp + '.' + body)` "
            f"with `{TIMESTAMP_HEADER}` in unix seconds, within 5 minutes of the receiver's clock."
        ),
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/hr/events",
        status_code=202,
        response_model=EventAccepted,
        responses={
            400: _error("The body is not JSON."),
            401: _error("Missing or wrong signature, or a timestamp outside 5 minutes."),
            404: _error("No IAM user for the employee id or user name."),
            409: _error("The event id was received before with a different body."),
            413: _error("The body is too large."),
            503: _error("IAM or Prefect could not be reached; deliver the event again."),
        },
        openapi_extra=_request_body_schema(),
    )
    async def receive_event(
        request: Request,
        timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
        signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
    ) -> EventAccepted:
        """Start the flow runs for one HR event; a repeated event id returns the same runs."""
        body = await _read_body(request)
        try:
            verify(secret, timestamp, signature, body, time.time())
        except HTTPException as exc:
            log.warning("webhook.unauthorized", reason=exc.detail)
            raise
        event = parse_event(body)
        return await run_in_threadpool(receiver.accept, event)

    return app
